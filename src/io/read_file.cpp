#include "clrp/io/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "clrp/util/byte_size.hpp"
#include "clrp/util/error.hpp"

namespace clrp::io {

namespace {

constexpr std::size_t kChunk = std::size_t{1} << 16;

std::string kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a file";
}

std::string cap_text(std::uint64_t bytes) {
  return format_byte_size(static_cast<std::int64_t>(bytes));
}

// Opens `path` for reading ("-": standard input, not owned). A directory is
// refused by name (read() would say EISDIR).
int open_input(const std::string& path, bool& owned) {
  owned = path != "-";
  if (!owned) return STDIN_FILENO;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Where{path}, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(Where{path}, "is a directory, not a file");
  }
  return fd;
}

// read() that retries on EINTR; throws naming the file on an error.
std::size_t read_some(int fd, char* into, std::size_t n, const std::string& path) {
  for (;;) {
    const ssize_t got = ::read(fd, into, n);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno != EINTR)
      throw Error(Where{path}, std::string("read error: ") + std::strerror(errno));
  }
}

}  // namespace

std::string read_file(const std::string& path, std::uint64_t max_bytes) {
  bool owned = false;
  const int fd = open_input(path, owned);
  struct Closer {
    int fd;
    bool owned;
    ~Closer() {
      if (owned) ::close(fd);
    }
  } closer{fd, owned};
  const auto too_big = [&] {
    return Error(Where{path}, "larger than the cap of " + cap_text(max_bytes) +
                                  " on a whole-file read (reading stopped there)");
  };
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) > max_bytes)
    throw too_big();
  // A regular file's size is only a hint (it may grow, /proc files say 0):
  // every kind is read to its end, chunk by chunk, within the cap.
  std::string out;
  for (;;) {
    const std::size_t at = out.size();
    out.resize(at + kChunk);
    const std::size_t got = read_some(fd, out.data() + at, kChunk, path);
    out.resize(at + got);
    if (got == 0) break;
    if (out.size() > max_bytes) throw too_big();
  }
  return out;
}

std::string read_text_file(const std::string& path) {
  return read_file(path, kMaxTextFileBytes);
}

std::string file_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return kind_of(st.st_mode);
  if (::lstat(path.c_str(), &st) == 0) return "a symbolic link to nothing";
  return "missing";
}

bool regular_file_or_none(const std::string& path) {
  const std::string kind = file_kind(path);
  if (kind == "a regular file") return true;
  if (kind == "missing") return false;
  throw Error(Where{path}, "is " + kind + ", not a regular file");
}

LineReader::LineReader(std::string path, std::size_t max_line_bytes, std::uint64_t max_skip_bytes,
                       std::uint64_t max_input_bytes)
    : path_(std::move(path)),
      max_line_(max_line_bytes),
      max_skip_(std::max<std::uint64_t>(max_skip_bytes, max_line_bytes)),
      max_input_(max_input_bytes),
      buf_(kChunk, '\0') {
  fd_ = open_input(path_, owns_fd_);
}

LineReader::~LineReader() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  head_ = 0;
  tail_ = read_some(fd_, buf_.data(), buf_.size(), path_);
  return tail_ > 0;
}

bool LineReader::next(std::string& line, LineInfo& info) {
  line.clear();
  info = LineInfo{};
  if (ended_) return false;
  if (max_input_ > 0 && offset_ > max_input_)
    throw Error(Where{path_, "", offset_, number_ + 1},
                "more than the cap of " + cap_text(max_input_) + " of input; reading stopped here");
  info.offset = offset_;
  std::uint64_t length = 0;
  bool any = false;
  for (;;) {
    if (head_ == tail_ && !fill()) {
      ended_ = true;
      break;
    }
    any = true;
    const char* begin = buf_.data() + head_;
    const std::size_t avail = tail_ - head_;
    const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
    std::size_t take = nl ? static_cast<std::size_t>(nl - begin) : avail;
    // Past the skip cap nothing more of this line is read: it ends the read.
    if (length + take > max_skip_) {
      take = static_cast<std::size_t>(max_skip_ - length);
      nl = nullptr;
      info.cut = true;
    }
    if (!info.too_long && length + take > max_line_) {
      info.too_long = true;
      std::string().swap(line);  // give the memory back
    }
    if (!info.too_long) line.append(begin, take);
    length += take;
    head_ += take;
    offset_ += take;
    if (info.cut) {
      info.too_long = true;
      ended_ = true;
      break;
    }
    if (nl) {
      ++head_;
      ++offset_;
      info.terminated = true;
      break;
    }
  }
  if (!any) return false;
  info.number = ++number_;
  return true;
}

std::string LineReader::too_long_message(const LineInfo& info) const {
  std::string m = "line longer than the cap of " + cap_text(max_line_);
  if (info.cut && max_skip_ > max_line_)
    m += "; no end of line within " + cap_text(max_skip_) + ", so reading stopped there";
  return m;
}

void LineReader::refuse_too_long(const LineInfo& info) const {
  throw Error(Where{path_, "", info.offset, info.number}, too_long_message(info));
}

}  // namespace clrp::io
