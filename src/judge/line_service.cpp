#include "line_service.hpp"

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
#include <cstdio>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "clrp/util/error.hpp"

namespace clrp::judge::detail {

namespace {

using Clock = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

// The child's side, between fork() and execv(): async-signal-safe calls only
// (clrp is multi-threaded), every argument prepared by the parent.
[[noreturn]] void exec_child(char* const* argv, int sock, int err, int report,
                             std::uint64_t memory_bytes) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (dup2(sock, STDIN_FILENO) < 0 || dup2(sock, STDOUT_FILENO) < 0 ||
      dup2(err, STDERR_FILENO) < 0 || dup3(report, 3, O_CLOEXEC) < 0)
    _exit(126);
  close_range(4, ~0U, 0);  // nothing else of clrp's (MPI, HDF5 files) reaches the child
  if (memory_bytes > 0) {
    const rlimit limit{memory_bytes, memory_bytes};
    setrlimit(RLIMIT_AS, &limit);
  }
  execv(argv[0], argv);
  const int e = errno;
  [[maybe_unused]] const ssize_t n = write(3, &e, sizeof e);
  _exit(127);
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

  const pid_t pid = fork();
  if (pid == 0) exec_child(argv.data(), sv[1], err, report[1], options_.memory_bytes);
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
    waitpid(pid, nullptr, 0);
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
  greeting_ = read_line("greeting");
  return greeting_;
}

std::string LineService::request(const std::string& line) {
  if (line.find('\n') != std::string::npos)
    throw Error(options_.name + ": a request must be one line");
  start();
  const std::string out = line + "\n";
  std::size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(socket_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::string("stopped reading its input (") + std::strerror(errno) + ")");
    sent += static_cast<std::size_t>(n);
  }
  return read_line("reply");
}

std::string LineService::read_line(const char* waiting_for) {
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(options_.timeout_seconds));
  for (;;) {
    const std::size_t eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", options_.timeout_seconds);
      fail("sent no " + std::string(waiting_for) + " within " + seconds + " s");
    }
    pollfd p{socket_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char chunk[65536];
    const ssize_t n = ::recv(socket_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int status = 0;
      const pid_t done = waitpid(pid_, &status, 0);
      if (done == pid_) pid_ = -1;
      fail("ended before its " + std::string(waiting_for) + ": it " +
           (done > 0 ? describe_status(status) : std::string("closed its output")));
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
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace clrp::judge::detail
