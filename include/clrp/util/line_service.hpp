// A long-lived child process spoken to in lines: one request line in, one
// reply line out. Used for the project's own Python services that are slow to
// start and quick to answer (IFEval's checkers: one second of imports, then
// milliseconds per verdict; the Jinja engine that renders chat templates), so
// what runs hundreds of times per case starts once.
//
// The child gets one Unix socket as both stdin and stdout (a socket, not two
// pipes, so that writing to a child that died raises no SIGPIPE in clrp:
// send() takes MSG_NOSIGNAL), its stderr goes to an anonymous file that is
// quoted when it fails, an address-space limit, its own process group, and
// SIGKILL when clrp exits. A request that is not taken, or a reply that does
// not come, within the timeout kills the child; the next request starts a new
// one, as it does after a child that died between requests.
//
// What runs here is not sandboxed (run_sandboxed() is for untrusted code):
// the program is the project's own script over pinned packages, and what it
// is given (a model's response) is data that it only reads. A chat template
// is a program from the model's files; the Jinja service runs it in Jinja's
// ImmutableSandboxedEnvironment, as transformers does, and this timeout and
// memory limit bound what the sandbox does not (loops, huge outputs).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::util {

struct LineServiceOptions {
  std::vector<std::string> argv;                        ///< argv[0]: an absolute path
  double timeout_seconds = 60.0;                        ///< per reply, start-up included
  std::uint64_t memory_bytes = std::uint64_t{4} << 30;  ///< RLIMIT_AS of the child
  std::string name;  ///< what the child is, for messages ("IFEval checker")
};

class LineService {
 public:
  explicit LineService(LineServiceOptions options);
  ~LineService();
  LineService(const LineService&) = delete;
  LineService& operator=(const LineService&) = delete;

  /// Starts the child if it is not running and returns its first line (its
  /// greeting). clrp::Error when it cannot be started, or exits or stays
  /// silent before the greeting; the message quotes its stderr.
  std::string start();

  /// Sends `line` (no '\n' inside) and returns the reply line, starting the
  /// child first when needed. clrp::Error when the child dies or times out;
  /// it is then stopped, and the next call starts a fresh one.
  std::string request(const std::string& line);

  bool running() const { return pid_ > 0; }
  /// How many times a child was started (1 unless one died or timed out).
  int starts() const { return starts_; }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline_from_now() const;
  /// Waits until the socket is ready for `events` (POLLIN/POLLOUT); false at the deadline.
  bool wait_for(short events, Clock::time_point deadline);
  std::string read_line(const char* waiting_for, Clock::time_point deadline);
  void reap_if_exited();
  void trim_stderr();
  [[noreturn]] void fail(const std::string& what);
  void stop();
  std::string stderr_tail() const;

  LineServiceOptions options_;
  pid_t pid_ = -1;
  int socket_ = -1;
  int stderr_ = -1;
  std::string buffer_;  ///< bytes read past the last full line
  std::string greeting_;
  int starts_ = 0;
};

/// A reply line of `service` ("the IFEval checker") parsed as JSON; clrp::Error
/// naming the service and quoting the line's start when it is not JSON.
nlohmann::json parse_json_reply(const std::string& line, std::string_view service);

}  // namespace clrp::util
