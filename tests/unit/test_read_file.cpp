// Reading user input (io/read_file.hpp) and quoting it in messages
// (clrp::excerpt): regular files, pipes and character devices read alike with
// the same caps; an endless stream ends at its cap with an error naming the
// file and the cap; a quoted input is bounded and escaped.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>

#include "clrp/cases/case_file.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/error.hpp"

namespace {

namespace fs = std::filesystem;
using clrp::Error;

std::string scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("clrp_read_file_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

// A pipe whose read end is a path (/dev/fd/N) and whose writer thread writes
// `content` then closes: what `clrp ... --cases <(cat file)` sees.
class Pipe {
 public:
  explicit Pipe(std::string content) {
    std::signal(SIGPIPE, SIG_IGN);  // the reader may stop early (a cap)
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
    writer_ = std::thread([this, c = std::move(content)] {
      std::size_t at = 0;
      while (at < c.size()) {
        const ssize_t n = ::write(fds_[1], c.data() + at, c.size() - at);
        if (n <= 0) break;
        at += static_cast<std::size_t>(n);
      }
      ::close(fds_[1]);
    });
  }
  ~Pipe() {
    ::close(fds_[0]);  // a writer blocked on a reader that gave up gets EPIPE
    writer_.join();
  }
  std::string path() const { return "/dev/fd/" + std::to_string(fds_[0]); }

 private:
  int fds_[2] = {-1, -1};
  std::thread writer_;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Excerpt, ShortTextIsKeptAndControlBytesEscaped) {
  EXPECT_EQ(clrp::excerpt("plain"), "plain");
  EXPECT_EQ(clrp::excerpt(std::string("a\0b\n\x7f", 5)), "a\\x00b\\n\\x7f");
  EXPECT_EQ(clrp::excerpt("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 stays as it is
  EXPECT_EQ(clrp::excerpt("bad \xff\xc3"), "bad \\xff\\xc3");
}

TEST(Excerpt, LongTextIsCutAtTheCapWithItsLength) {
  std::string big;
  big.resize(10'000'000, 'x');
  const std::string e = clrp::excerpt(big);
  EXPECT_LT(e.size(), 240u);
  EXPECT_EQ(e.substr(0, 200), std::string(200, 'x'));
  EXPECT_NE(e.find("(10000000 bytes)"), std::string::npos) << e;
  // Never inside a character: 3-byte characters, cap 200 -> 66 whole ones.
  std::string wide;
  for (int i = 0; i < 100; ++i)
    wide += "\xe2\x82\xac";
  const std::string w = clrp::excerpt(wide);
  EXPECT_EQ(w.substr(0, 198), wide.substr(0, 198));
  EXPECT_EQ(w.substr(198, 3), "\xe2\x80\xa6");  // the ellipsis follows directly
}

TEST(Excerpt, ErrorsNeverEndAtANulAndQuoteFieldsBounded) {
  const Error e(clrp::Where{"f.json", std::string(5000, 'k')}, std::string("a\0b", 3));
  EXPECT_NE(std::string(e.what()).find("a\\x00b"), std::string::npos) << e.what();
  EXPECT_LT(std::string(e.what()).size(), 300u);
}

TEST(ReadFile, RegularFilePipeAndDeviceReadAlike) {
  const std::string content = "{\"a\": 1}\n" + std::string(200'000, 'z');
  const std::string file = scratch("whole.txt");
  std::ofstream(file, std::ios::binary) << content;
  EXPECT_EQ(clrp::io::read_file(file, 1 << 20), content);
  Pipe pipe(content);
  EXPECT_EQ(clrp::io::read_file(pipe.path(), 1 << 20), content);
  EXPECT_EQ(clrp::io::read_file("/dev/null", 1 << 20), "");
}

TEST(ReadFile, EveryKindStopsAtTheCapNamingFileAndCap) {
  const std::string file = scratch("big.txt");
  std::ofstream(file, std::ios::binary) << std::string(300'000, 'z');
  const std::string regular = message_of([&] { clrp::io::read_file(file, 100'000); });
  EXPECT_NE(regular.find(file), std::string::npos) << regular;
  EXPECT_NE(regular.find("97.7 KiB"), std::string::npos) << regular;
  Pipe pipe(std::string(300'000, 'z'));
  const std::string piped = message_of([&] { clrp::io::read_file(pipe.path(), 100'000); });
  EXPECT_NE(piped.find("larger than the cap of 97.7 KiB"), std::string::npos) << piped;
  const std::string zero = message_of([] { clrp::io::read_file("/dev/zero", 1 << 20); });
  EXPECT_NE(zero.find("/dev/zero: larger than the cap of 1.0 MiB"), std::string::npos) << zero;
  const std::string dir = message_of([] { clrp::io::read_file("/tmp", 1 << 20); });
  EXPECT_NE(dir.find("is a directory"), std::string::npos) << dir;
}

TEST(ReadFile, FileKindNamesWhatAPathIs) {
  EXPECT_EQ(clrp::io::file_kind("/dev/zero"), "a character device");
  EXPECT_EQ(clrp::io::file_kind("/tmp"), "a directory");
  EXPECT_EQ(clrp::io::file_kind(scratch("none-such")), "missing");
  const std::string fifo = scratch("fifo");
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(clrp::io::file_kind(fifo), "a FIFO");
}

TEST(LineReader, AnEndlessLineEndsTheReadAtTheSkipCap) {
  clrp::io::LineReader lines("/dev/zero", 1000, 100'000);
  std::string line;
  clrp::io::LineInfo info;
  ASSERT_TRUE(lines.next(line, info));
  EXPECT_TRUE(info.too_long);
  EXPECT_TRUE(info.cut);
  EXPECT_TRUE(line.empty());
  const std::string m = lines.too_long_message(info);
  EXPECT_NE(m.find("cap of 1000 B"), std::string::npos) << m;
  EXPECT_NE(m.find("reading stopped"), std::string::npos) << m;
  EXPECT_FALSE(lines.next(line, info));
}

TEST(LineReader, PipeAndFileGiveTheSameLines) {
  const std::string content = "one\n\n" + std::string(3000, 'x') + "\nlast";
  const std::string file = scratch("lines.txt");
  std::ofstream(file, std::ios::binary) << content;
  Pipe pipe(content);
  for (const std::string& path : {file, pipe.path()}) {
    clrp::io::LineReader lines(path, 1000, 10'000);
    std::string line;
    clrp::io::LineInfo info;
    std::vector<std::string> got;
    std::vector<bool> too_long;
    while (lines.next(line, info)) {
      got.push_back(line);
      too_long.push_back(info.too_long);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"one", "", "", "last"})) << path;
    EXPECT_EQ(too_long, (std::vector<bool>{false, false, true, false})) << path;
  }
}

TEST(CaseStreams, DevZeroEndsTheCaseReaderInBothModes) {
  for (const auto mode : {clrp::cases::OnError::stop, clrp::cases::OnError::skip}) {
    clrp::cases::ReadOptions o;
    o.on_error = mode;
    o.max_line_bytes = 1 << 16;
    o.max_skip_bytes = 1 << 20;
    clrp::cases::CaseReader reader("/dev/zero", o);
    try {
      reader.next();
      FAIL() << "no error";
    } catch (const clrp::cases::CaseError& e) {
      EXPECT_EQ(e.problem(), clrp::cases::Problem::line_too_long);
      EXPECT_NE(std::string(e.what()).find("/dev/zero: line 1"), std::string::npos) << e.what();
    }
  }
}

// An endless stream of blank lines (`yes ""`) reaches no line cap; the case
// reader's cap on its whole input ends it, from a pipe as from a file.
TEST(CaseStreams, BlankLinesEndAtTheInputCapInBothModes) {
  const std::string blank(1 << 20, '\n');
  const std::string file = scratch("blank.jsonl");
  std::ofstream(file, std::ios::binary) << blank;
  for (const auto mode : {clrp::cases::OnError::stop, clrp::cases::OnError::skip}) {
    Pipe pipe(blank);
    for (const std::string& path : {file, pipe.path()}) {
      clrp::cases::ReadOptions o;
      o.on_error = mode;
      o.max_input_bytes = 1 << 16;
      clrp::cases::CaseReader reader(path, o);
      try {
        while (reader.next()) {
        }
        FAIL() << "no error from " << path;
      } catch (const clrp::Error& e) {
        const std::string m = e.what();
        EXPECT_EQ(m.rfind(path + ": line 65538: byte offset 65537: ", 0), 0u) << m;
        EXPECT_NE(m.find("more than the cap of 64.0 KiB of input"), std::string::npos) << m;
      }
    }
  }
}

TEST(CaseStreams, CasesFromAPipeEqualCasesFromTheFile) {
  std::ifstream in(std::string(CLRP_TEST_DATA_DIR) + "/cases/valid.jsonl", std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Pipe pipe(content);
  const auto from_pipe = clrp::cases::read_cases(pipe.path());
  const auto from_file =
      clrp::cases::read_cases(std::string(CLRP_TEST_DATA_DIR) + "/cases/valid.jsonl");
  ASSERT_EQ(from_pipe.size(), from_file.size());
  for (std::size_t i = 0; i < from_file.size(); ++i)
    EXPECT_EQ(clrp::cases::case_to_json_line(from_pipe[i]),
              clrp::cases::case_to_json_line(from_file[i]));
}

TEST(ByteSize, WholeMibNeverReadsZero) {
  EXPECT_EQ(clrp::format_whole_mib(1), "1 B");
  EXPECT_EQ(clrp::format_whole_mib(300 * 1024), "300 KiB");
  EXPECT_EQ(clrp::format_whole_mib(64LL << 20), "64 MiB");
}

}  // namespace
