#include "clrp/util/line_service.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "clrp/util/error.hpp"

namespace clrp::util {

namespace {

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           (sigdescr_np(WTERMSIG(status)) ? sigdescr_np(WTERMSIG(status)) : "?") + ")";
  return "stopped";
}

// The child's side, between fork() and execv(): async-signal-safe calls only
// (clrp is multi-threaded), every argument prepared by the parent.
[[noreturn]] void exec_child(char* const* argv, int sock, int err, int report,
                             std::uint64_t memory_bytes, pid_t parent, int max_fd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(125);  // clrp died before the death signal was armed
  if (dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0 ||
      dup2(err, STDERR_FILENO) < 0 || dup3(report, 3, O_CLOEXEC) < 0)
    _exit(126);
  // Nothing else of clrp's (MPI sockets, HDF5 files) reaches the child;
  // close_range needs Linux 5.9, older kernels get the loop.
  if (close_range(4, ~0U, 0) != 0)
    for (int fd = 4; fd < max_fd; ++fd)
      ::close(fd);
  if (memory_bytes > 0) {
    const rlimit limit{memory_bytes, memory_bytes};
    setrlimit(RLIMIT_AS, &limit);
  }
  execv(argv[0], argv);
  const int e = errno;
  [[maybe_unused]] const ssize_t n = write(3, &e, sizeof e);
  _exit(127);
}

// The text with every byte that is not part of a well-formed UTF-8 sequence
// replaced by '?': a stderr tail cut at an arbitrary byte (or holding a
// model's broken output) goes into messages that end up in JSON.
std::string valid_utf8(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const auto b = static_cast<unsigned char>(in[i]);
    const std::size_t len = b < 0x80           ? 1
                            : (b >> 5) == 0x6  ? 2
                            : (b >> 4) == 0xE  ? 3
                            : (b >> 3) == 0x1E ? 4
                                               : 0;
    bool ok = len > 0 && i + len <= in.size() && !(len == 2 && b < 0xC2) && !(len == 4 && b > 0xF4);
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {  // no overlong forms, no surrogates
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(b == 0xE0 && c1 < 0xA0) && !(b == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {  // no overlong forms, nothing past U+10FFFF
      const auto c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(b == 0xF0 && c1 < 0x90) && !(b == 0xF4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(in, i, len);
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

}  // namespace

LineService::LineService(LineServiceOptions options) : options_(std::move(options)) {
  if (options_.argv.empty() || options_.argv[0].empty() || options_.argv[0][0] != '/')
    throw Error(options_.name + ": the program must be an absolute path");
  if (!(options_.timeout_seconds > 0))
    throw Error(options_.name + ": the timeout must be positive");
}

LineService::~LineService() {
  if (pid_ <= 0) return;
  // Closing the socket is the child's end of input: it finishes and exits.
  ::close(socket_);
  socket_ = -1;
  for (int i = 0; i < 100; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
}

std::string LineService::start() {
  if (pid_ > 0) return greeting_;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    throw Error(options_.name + ": socketpair: " + std::strerror(errno));
  const int err = memfd_create("clrp-service-stderr", MFD_CLOEXEC);
  int report[2];
  if (err < 0 || pipe2(report, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(sv[0]);
    ::close(sv[1]);
    if (err >= 0) ::close(err);
    throw Error(options_.name + ": cannot set up the child's files: " + std::strerror(e));
  }
  std::vector<char*> argv;
  for (std::string& a : options_.argv)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  const int max_fd = open_max > 0 && open_max < (1 << 20) ? static_cast<int>(open_max) : 1 << 16;
  const pid_t pid = fork();
  if (pid == 0)
    exec_child(argv.data(), sv[1], err, report[1], options_.memory_bytes, parent, max_fd);
  const int fork_errno = errno;
  ::close(sv[1]);
  ::close(report[1]);
  if (pid < 0) {
    ::close(sv[0]);
    ::close(err);
    ::close(report[0]);
    throw Error(options_.name + ": fork: " + std::strerror(fork_errno));
  }
  // The report pipe closes on a successful execv; an errno arrives otherwise.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(report[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == sizeof exec_errno) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    ::close(sv[0]);
    ::close(err);
    throw Error(Where{options_.argv[0]},
                options_.name + ": cannot run the program: " + std::strerror(exec_errno));
  }
  pid_ = pid;
  socket_ = sv[0];
  stderr_ = err;
  buffer_.clear();
  ++starts_;
  greeting_ = read_line("greeting", deadline_from_now());
  return greeting_;
}

LineService::Clock::time_point LineService::deadline_from_now() const {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(options_.timeout_seconds));
}

void LineService::reap_if_exited() {
  if (pid_ <= 0) return;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;  // died between requests: stop() closes its files, start() makes a new one
    stop();
  }
}

std::string LineService::request(const std::string& line) {
  if (line.find('\n') != std::string::npos)
    throw Error(options_.name + ": a request must be one line");
  reap_if_exited();
  start();
  // Bytes after the last reply mean the child wrote something unasked: the
  // replies would no longer match the requests.
  if (!buffer_.empty()) fail("wrote output that was not a reply: " + buffer_.substr(0, 200));
  const auto deadline = deadline_from_now();
  const std::string out = line + "\n";
  std::size_t sent = 0;
  while (sent < out.size()) {
    if (!wait_for(POLLOUT, deadline)) fail("stopped reading its input (timed out)");
    const ssize_t n =
        ::send(socket_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) fail(std::string("stopped reading its input (") + std::strerror(errno) + ")");
    sent += static_cast<std::size_t>(n);
  }
  std::string reply = read_line("reply", deadline);
  trim_stderr();
  return reply;
}

bool LineService::wait_for(short events, Clock::time_point deadline) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{socket_, events, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

void LineService::trim_stderr() {
  // The checkers log whole responses on some failures (langdetect); a
  // long-lived child must not grow its memfd without end. The file offset is
  // shared with the child, so truncating and rewinding restarts the log.
  struct stat st {};
  if (stderr_ >= 0 && fstat(stderr_, &st) == 0 && st.st_size > (off_t{1} << 20)) {
    [[maybe_unused]] const int t = ::ftruncate(stderr_, 0);
    ::lseek(stderr_, 0, SEEK_SET);
  }
}

std::string LineService::read_line(const char* waiting_for, Clock::time_point deadline) {
  for (;;) {
    const std::size_t eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    if (!wait_for(POLLIN, deadline)) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", options_.timeout_seconds);
      fail("sent no " + std::string(waiting_for) + " within " + seconds + " s");
    }
    char chunk[65536];
    const ssize_t n = ::recv(socket_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      // Closed its output: wait (bounded) for it to exit, to say how it ended.
      std::string how = "closed its output";
      for (int i = 0; i < 50; ++i) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          how = describe_status(status);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      fail("ended before its " + std::string(waiting_for) + ": it " + how);
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

void LineService::fail(const std::string& what) {
  const std::string tail = stderr_tail();
  stop();
  std::string message = options_.name + " (" + options_.argv[0] + ") " + what;
  if (!tail.empty()) message += "; its stderr ends with:\n" + tail;
  throw Error(message);
}

void LineService::stop() {
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  for (int* fd : {&socket_, &stderr_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  buffer_.clear();
}

std::string LineService::stderr_tail() const {
  if (stderr_ < 0) return "";
  struct stat st {};
  if (fstat(stderr_, &st) != 0 || st.st_size <= 0) return "";
  constexpr off_t kTail = 2000;
  const off_t from = st.st_size > kTail ? st.st_size - kTail : 0;
  std::string text(static_cast<std::size_t>(st.st_size - from), '\0');
  const ssize_t n = ::pread(stderr_, text.data(), text.size(), from);
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return valid_utf8(text);
}

nlohmann::json parse_json_reply(const std::string& line, std::string_view service) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw Error(std::string(service) +
                " replied with a line that is not JSON: " + valid_utf8(line.substr(0, 200)));
  }
}

}  // namespace clrp::util
