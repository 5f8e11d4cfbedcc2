// Sandbox: hostile Python snippets (fork bomb, endless loops, memory and
// output floods, writes outside, sockets, children that ignore SIGTERM) are
// contained and reported; a normal program runs and its output is captured.
// Every test uses a wall limit of at most 2 s.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "clrp/judge/sandbox.hpp"
#include "clrp/util/error.hpp"

namespace {

namespace fs = std::filesystem;
using clrp::judge::run_sandboxed;
using clrp::judge::SandboxRequest;
using clrp::judge::SandboxResult;

const char* python() {
  const char* p = std::getenv("CLRP_SANDBOX_PYTHON");
  return p != nullptr ? p : "/usr/bin/python3";
}

#define REQUIRE_PYTHON() \
  if (access(python(), X_OK) != 0) GTEST_SKIP() << python() << " is not available"

SandboxRequest python_request(const std::string& code, double wall = 2.0) {
  SandboxRequest r;
  r.argv = {python(), "-I", "main.py"};
  r.files = {{"main.py", code, false}};
  r.limits.wall_seconds = wall;
  r.limits.cpu_seconds = 5;
  r.limits.memory_bytes = std::uint64_t{512} << 20;
  return r;
}

// Processes of `uid` anywhere on the host (every pid namespace is visible
// from the host's /proc).
int processes_of(std::uint32_t uid) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) == 0) {
        if (std::stoul(line.substr(4)) == uid) ++n;
        break;
      }
    }
  }
  return n;
}

void expect_no_leftovers(const SandboxResult& r) {
  if (r.sandbox_uid) {
    EXPECT_EQ(processes_of(*r.sandbox_uid), 0) << "processes left behind";
  }
}

TEST(Sandbox, NormalProgramRunsAndIsCaptured) {
  REQUIRE_PYTHON();
  auto req = python_request(
      "import os, sys\n"
      "print(open('data.txt').read().strip())\n"
      "print(os.getcwd() == os.environ['HOME'] == os.environ['TMPDIR'])\n"
      "print(os.getcwd())\n"
      "open('scratch.txt', 'w').write('inside is writable')\n"
      "sys.stderr.write('to stderr')\n"
      "sys.exit(3)\n");
  req.files.push_back({"data.txt", "forty-two\n", false});
  const SandboxResult r = run_sandboxed(req);
  EXPECT_TRUE(r.exited) << r.describe() << r.stderr_text;
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.success());
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.cpu_limited);
  EXPECT_FALSE(r.memory_limited);
  EXPECT_EQ(r.stderr_text, "to stderr");
  const auto first_nl = r.stdout_text.find('\n');
  ASSERT_NE(first_nl, std::string::npos);
  EXPECT_EQ(r.stdout_text.substr(0, first_nl), "forty-two");
  EXPECT_NE(r.stdout_text.find("True\n"), std::string::npos);
  // The sandbox directory (the last line) is gone afterwards.
  const auto lines_end = r.stdout_text.rfind('\n', r.stdout_text.size() - 2);
  const std::string dir = r.stdout_text.substr(lines_end + 1, r.stdout_text.size() - lines_end - 2);
  EXPECT_EQ(dir.rfind("/", 0), 0u) << dir;
  EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_LT(r.wall_seconds, 2.0);
  std::cout << "[ isolation ] " << r.isolation.summary() << "\n";
  for (const auto& note : r.isolation.notes)
    std::cout << "[ refused   ] " << note << "\n";
}

TEST(Sandbox, SuccessIsExitZero) {
  REQUIRE_PYTHON();
  const SandboxResult r = run_sandboxed(python_request("print(6 * 7)\n"));
  EXPECT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "42\n");
  EXPECT_EQ(r.describe(), "exit 0");
  expect_no_leftovers(r);
}

TEST(Sandbox, EnvironmentIsScrubbed) {
  REQUIRE_PYTHON();
  setenv("CLRP_SANDBOX_SECRET", "hunter2", 1);
  auto req = python_request("import os\nprint(sorted(os.environ.items()))\n");
  req.env = {{"EXTRA_VAR", "given"}};
  const SandboxResult r = run_sandboxed(req);
  unsetenv("CLRP_SANDBOX_SECRET");
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_EQ(r.stdout_text.find("hunter2"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("('EXTRA_VAR', 'given')"), std::string::npos);
  EXPECT_NE(r.stdout_text.find("('PATH', '/usr/local/bin:/usr/bin:/bin')"), std::string::npos);
}

TEST(Sandbox, InfiniteLoopIsKilledAtTheWallDeadline) {
  REQUIRE_PYTHON();
  const SandboxResult r = run_sandboxed(python_request("while True:\n    pass\n", 1.0));
  EXPECT_TRUE(r.timed_out) << r.describe();
  EXPECT_FALSE(r.exited);
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_GE(r.wall_seconds, 1.0);
  EXPECT_LT(r.wall_seconds, 2.0);
  expect_no_leftovers(r);
}

TEST(Sandbox, BusyCpuHitsTheCpuLimit) {
  REQUIRE_PYTHON();
  auto req = python_request("x = 0\nwhile True:\n    x += 1\n", 2.0);
  req.limits.cpu_seconds = 1;
  const SandboxResult r = run_sandboxed(req);
  // On an overloaded machine the loop may not even get 1 s of CPU in 2 s.
  if (r.timed_out && r.cpu_seconds < 1.0) {
    GTEST_SKIP() << "starved: " << r.cpu_seconds << " s of CPU in " << r.wall_seconds << " s";
  }
  EXPECT_TRUE(r.cpu_limited) << r.describe();
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.term_signal, SIGXCPU);
  EXPECT_GE(r.cpu_seconds, 0.9);
  expect_no_leftovers(r);
}

TEST(Sandbox, MemoryHogIsLimited) {
  REQUIRE_PYTHON();
  auto req = python_request("chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))\n");
  req.limits.memory_bytes = std::uint64_t{256} << 20;
  const SandboxResult r = run_sandboxed(req);
  EXPECT_TRUE(r.memory_limited) << r.describe() << r.stderr_text;
  EXPECT_FALSE(r.success());
  EXPECT_FALSE(r.timed_out);
  // One huge request fails the same way.
  auto big = python_request("x = bytearray(8 << 30)\n");
  big.limits.memory_bytes = std::uint64_t{256} << 20;
  const SandboxResult b = run_sandboxed(big);
  EXPECT_TRUE(b.memory_limited) << b.describe() << b.stderr_text;
}

TEST(Sandbox, ForkBombIsContained) {
  REQUIRE_PYTHON();
  // First measure: how many processes can the program hold at once?
  auto count = python_request(
      "import os, time\n"
      "n = 0\n"
      "for _ in range(500):\n"
      "    try:\n"
      "        pid = os.fork()\n"
      "    except OSError:\n"
      "        break\n"
      "    if pid == 0:\n"
      "        time.sleep(30)\n"
      "        os._exit(0)\n"
      "    n += 1\n"
      "print(n)\n");
  count.limits.max_processes = 20;
  const SandboxResult c = run_sandboxed(count);
  ASSERT_TRUE(c.success()) << c.describe() << c.stderr_text;
  const int children = std::stoi(c.stdout_text);
  if (c.isolation.dropped_privileges) {
    EXPECT_LT(children, 20) << "RLIMIT_NPROC did not hold";
  }
  EXPECT_LT(c.wall_seconds, 2.0) << "the sleeping children delayed the result";
  expect_no_leftovers(c);

  // Then the classic bomb: it churns until the deadline, then all of it dies.
  auto bomb = python_request(
      "import os\n"
      "while True:\n"
      "    try:\n"
      "        os.fork()\n"
      "    except OSError:\n"
      "        pass\n",
      1.5);
  bomb.limits.max_processes = 32;
  const SandboxResult r = run_sandboxed(bomb);
  EXPECT_FALSE(r.success());
  EXPECT_LT(r.wall_seconds, 2.5);
  expect_no_leftovers(r);
}

TEST(Sandbox, WritesOutsideTheSandboxFailOrVanish) {
  REQUIRE_PYTHON();
  const std::string tmp_target =
      "/tmp/clrp_sandbox_escape_" + std::to_string(getpid()) + "_" + std::to_string(rand());
  const std::string here_target = fs::absolute("clrp_sandbox_escape_" + std::to_string(getpid()));
  auto req = python_request(
      "import sys\n"
      "for path in sys.argv[1:]:\n"
      "    try:\n"
      "        open(path, 'w').write('escaped')\n"
      "        print('wrote', path)\n"
      "    except OSError as e:\n"
      "        print('refused', path, e.errno)\n");
  req.argv.push_back(tmp_target);
  req.argv.push_back(here_target);
  req.argv.push_back("../clrp_sandbox_escape_parent");
  req.argv.push_back("inside.txt");
  const SandboxResult r = run_sandboxed(req);
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_FALSE(fs::exists(tmp_target)) << r.stdout_text;
  EXPECT_FALSE(fs::exists(here_target)) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("wrote inside.txt"), std::string::npos) << r.stdout_text;
  if (r.isolation.read_only_root) {
    EXPECT_NE(r.stdout_text.find("refused " + tmp_target), std::string::npos) << r.stdout_text;
  }
  std::error_code ignored;
  fs::remove(tmp_target, ignored);
  fs::remove(here_target, ignored);
}

// A listener on the host's loopback that the sandbox must not reach.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }
  bool was_contacted() const { return accept(fd_, nullptr, nullptr) >= 0; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string connect_snippet() {
  return "import socket, sys\n"
         "for host, port in [('1.1.1.1', 53), ('127.0.0.1', int(sys.argv[1]))]:\n"
         "    try:\n"
         "        s = socket.create_connection((host, port), timeout=0.5)\n"
         "        print('connected', host)\n"
         "    except OSError as e:\n"
         "        print('refused', host, type(e).__name__)\n";
}

TEST(Sandbox, NoNetworkWithSeccompAndNamespace) {
  REQUIRE_PYTHON();
  Listener listener;
  auto req = python_request(connect_snippet());
  req.argv.push_back(std::to_string(listener.port()));
  const SandboxResult r = run_sandboxed(req);
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_EQ(r.stdout_text.find("connected"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("refused 1.1.1.1"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("refused 127.0.0.1"), std::string::npos) << r.stdout_text;
  EXPECT_FALSE(listener.was_contacted());
  if (r.isolation.seccomp_no_sockets) {
    EXPECT_NE(r.stdout_text.find("PermissionError"), std::string::npos) << r.stdout_text;
  }
}

// Host Unix sockets any user may connect to: one bound to a path in a
// world-writable folder (as an X server's in /tmp/.X11-unix), one in the
// abstract namespace. Unlike IP, a path socket is outside the network
// namespace: only the seccomp filter keeps the sandbox from it.
class UnixListener {
 public:
  UnixListener() {
    const std::string tag = std::to_string(getpid());
    dir_ = fs::temp_directory_path() / ("clrp-host-socket-" + tag);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::all);
    path_ = (dir_ / "s").string();
    abstract_ = "clrp-host-socket-" + tag;
    path_fd_ = listen_on(path_, false);
    chmod(path_.c_str(), 0777);
    abstract_fd_ = listen_on(abstract_, true);
  }
  ~UnixListener() {
    close(path_fd_);
    close(abstract_fd_);
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  const std::string& path() const { return path_; }
  const std::string& abstract_name() const { return abstract_; }
  bool path_contacted() const { return accept(path_fd_, nullptr, nullptr) >= 0; }
  bool abstract_contacted() const { return accept(abstract_fd_, nullptr, nullptr) >= 0; }

 private:
  static int listen_on(const std::string& name, bool abstract) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::size_t at = abstract ? 1 : 0;  // abstract: a leading NUL byte
    name.copy(addr.sun_path + at, sizeof addr.sun_path - at - 1);
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + at + name.size());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0) << name;
    EXPECT_EQ(listen(fd, 8), 0);
    return fd;
  }
  fs::path dir_;
  std::string path_, abstract_;
  int path_fd_ = -1, abstract_fd_ = -1;
};

std::string unix_connect_snippet() {
  return "import os, socket, sys\n"
         "print('visible' if os.path.exists(sys.argv[1]) else 'hidden')\n"
         "for name, addr in [('path', sys.argv[1]), ('abstract', '\\0' + sys.argv[2])]:\n"
         "    try:\n"
         "        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
         "        s.connect(addr)\n"
         "        print('connected', name)\n"
         "    except OSError as e:\n"
         "        print('refused', name, type(e).__name__)\n"
         "a, b = socket.socketpair()\n"
         "a.sendall(b'ok')\n"
         "print('pair', b.recv(2).decode())\n";
}

// The snippet run against `listener`, with or without the socket filter.
SandboxResult try_unix_sockets(const UnixListener& listener, bool block_sockets) {
  auto req = python_request(unix_connect_snippet());
  req.limits.block_sockets = block_sockets;
  req.argv.push_back(listener.path());
  req.argv.push_back(listener.abstract_name());
  return run_sandboxed(req);
}

TEST(Sandbox, NoHostUnixSocket) {
  REQUIRE_PYTHON();
  UnixListener listener;
  const SandboxResult r = try_unix_sockets(listener, true);
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  ASSERT_TRUE(r.isolation.seccomp_no_sockets) << r.isolation.summary();
  EXPECT_EQ(r.stdout_text.find("connected"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("refused path PermissionError"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("refused abstract PermissionError"), std::string::npos)
      << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("pair ok"), std::string::npos) << r.stdout_text;  // socketpair()
  EXPECT_FALSE(listener.path_contacted());
  EXPECT_FALSE(listener.abstract_contacted());
}

// The hole the filter closes: without it, the network namespace alone
// leaves a visible path socket reachable (and hides the abstract one).
TEST(Sandbox, PathSocketsAreOutsideTheNetworkNamespace) {
  REQUIRE_PYTHON();
  if (!clrp::judge::available_namespaces().network_namespace) {
    GTEST_SKIP() << "no network namespace here";
  }
  UnixListener listener;
  const SandboxResult r = try_unix_sockets(listener, false);
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("refused abstract"), std::string::npos) << r.stdout_text;
  EXPECT_FALSE(listener.abstract_contacted());
  if (r.stdout_text.find("visible") == std::string::npos) {
    GTEST_SKIP() << "the host's temporary folder is not visible in the sandbox here";
  }
  EXPECT_NE(r.stdout_text.find("connected path"), std::string::npos) << r.stdout_text;
  EXPECT_TRUE(listener.path_contacted());
}

TEST(Sandbox, NoNetworkWithTheNamespaceAlone) {
  REQUIRE_PYTHON();
  if (!clrp::judge::available_namespaces().network_namespace) {
    GTEST_SKIP() << "no network namespace here";
  }
  Listener listener;
  auto req = python_request(connect_snippet());
  req.limits.block_sockets = false;
  req.argv.push_back(std::to_string(listener.port()));
  const SandboxResult r = run_sandboxed(req);
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_FALSE(r.isolation.seccomp_no_sockets);
  EXPECT_EQ(r.stdout_text.find("connected"), std::string::npos) << r.stdout_text;
  EXPECT_NE(r.stdout_text.find("refused 127.0.0.1"), std::string::npos) << r.stdout_text;
  EXPECT_FALSE(listener.was_contacted());
}

TEST(Sandbox, HugeOutputIsTruncatedNotBlocking) {
  REQUIRE_PYTHON();
  auto req = python_request(
      "import sys\n"
      "chunk = 'x' * (1 << 20)\n"
      "for _ in range(64):\n"
      "    sys.stdout.write(chunk)\n"
      "sys.stderr.write('done')\n");
  req.limits.max_output_bytes = 4096;
  const SandboxResult r = run_sandboxed(req);
  EXPECT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_text.size(), 4096u);
  EXPECT_FALSE(r.stderr_truncated);
  EXPECT_EQ(r.stderr_text, "done");
}

TEST(Sandbox, ChildrenIgnoringSigtermDieAtTheDeadline) {
  REQUIRE_PYTHON();
  const SandboxResult r =
      run_sandboxed(python_request("import os, signal, time\n"
                                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                   "for _ in range(3):\n"
                                   "    if os.fork() == 0:\n"
                                   "        os.setsid()\n"
                                   "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                   "        time.sleep(60)\n"
                                   "        os._exit(0)\n"
                                   "print('sleeping', flush=True)\n"
                                   "time.sleep(60)\n",
                                   1.0));
  EXPECT_TRUE(r.timed_out) << r.describe();
  EXPECT_EQ(r.stdout_text, "sleeping\n");
  EXPECT_LT(r.wall_seconds, 2.0);
  expect_no_leftovers(r);
}

TEST(Sandbox, BackgroundLeftoversDoNotOutliveANormalExit) {
  REQUIRE_PYTHON();
  const SandboxResult r =
      run_sandboxed(python_request("import os, time\n"
                                   "if os.fork() == 0:\n"
                                   "    os.setsid()\n"
                                   "    time.sleep(60)\n"
                                   "    os._exit(0)\n"
                                   "print('parent done')\n"));
  EXPECT_TRUE(r.success()) << r.describe() << r.stderr_text;
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(r.wall_seconds, 1.5);
  expect_no_leftovers(r);
}

TEST(Sandbox, FileSizeLimit) {
  REQUIRE_PYTHON();
  auto req = python_request("open('big.bin', 'wb').write(b'x' * (4 << 20))\n");
  req.limits.file_size_bytes = 1 << 20;
  const SandboxResult r = run_sandboxed(req);
  EXPECT_FALSE(r.success());
  EXPECT_TRUE(r.file_size_limited) << r.describe() << r.stderr_text;
}

TEST(Sandbox, PrivateProcShowsOnlyTheSandbox) {
  REQUIRE_PYTHON();
  const SandboxResult r = run_sandboxed(
      python_request("import os\nprint(sum(n.isdigit() for n in os.listdir('/proc')))\n"));
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  if (!r.isolation.private_proc) GTEST_SKIP() << "no private /proc here";
  EXPECT_LE(std::stoi(r.stdout_text), 3) << "init, the program and nothing else";
}

TEST(Sandbox, MalformedRequestsAreErrors) {
  SandboxRequest r;
  EXPECT_THROW(run_sandboxed(r), clrp::Error);
  r.argv = {"python3", "-c", "pass"};
  EXPECT_THROW(run_sandboxed(r), clrp::Error);  // not absolute
  r.argv = {"/nonexistent/interpreter"};
  EXPECT_THROW(run_sandboxed(r), clrp::Error);  // exec fails: reported, not a silent exit 127
  r.argv = {"/bin/true"};
  r.files = {{"../escape.py", "", false}};
  EXPECT_THROW(run_sandboxed(r), clrp::Error);
  r.files = {};
  r.limits.wall_seconds = 0;
  EXPECT_THROW(run_sandboxed(r), clrp::Error);
}

TEST(Sandbox, RunsConcurrently) {
  REQUIRE_PYTHON();
  std::vector<std::thread> threads;
  std::vector<SandboxResult> results(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] =
          run_sandboxed(python_request("print(" + std::to_string(i) + ")\n"));
    });
  }
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < 4; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    EXPECT_TRUE(r.success()) << r.describe() << r.stderr_text;
    EXPECT_EQ(r.stdout_text, std::to_string(i) + "\n");
  }
}

}  // namespace

// What the sandboxed program could learn of the host or gain: the command
// line and environment of its pid namespace's init (a copy of the caller,
// holding the caller's argv and environment), the host's network interfaces
// under /sys, and nested user namespaces (every capability inside one). Threads,
// fork and subprocesses still work (clone3 is refused; glibc falls back to clone).
TEST(Sandbox, NothingOfTheHostAndNoNestedUserNamespace) {
  REQUIRE_PYTHON();
  const SandboxResult r = run_sandboxed(python_request(
      "import ctypes, os, subprocess, sys, threading\n"
      "def read(p):\n"
      "    try:\n"
      "        with open(p, 'rb') as f: return f.read().strip(b'\\0') or b'empty'\n"
      "    except OSError as e: return type(e).__name__.encode()\n"
      "print('init cmdline', read('/proc/1/cmdline'))\n"
      "print('init environ', read('/proc/1/environ'))\n"
      "try: print('net', sorted(os.listdir('/sys/class/net')))\n"
      "except OSError as e: print('net', type(e).__name__)\n"
      "print('sys', sorted(os.listdir('/sys')))\n"
      "libc = ctypes.CDLL(None, use_errno=True)\n"
      "for name, flags in (('user', 0x10000000), ('user+mnt', 0x10020000)):\n"
      "    print('unshare', name, libc.unshare(flags), ctypes.get_errno())\n"
      "print('setns', libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0), "
      "ctypes.get_errno())\n"
      "box = []\n"
      "t = threading.Thread(target=lambda: box.append(1)); t.start(); t.join()\n"
      "pid = os.fork()\n"
      "if pid == 0: os._exit(7)\n"
      "print('thread', box, 'fork', os.waitpid(pid, 0)[1] >> 8,\n"
      "      'subprocess', subprocess.run([sys.executable, '-c', 'print(6 * 7)'],\n"
      "                                   capture_output=True, text=True).stdout.strip())\n"));
  ASSERT_TRUE(r.success()) << r.describe() << r.stderr_text;
  const std::string& out = r.stdout_text;
  if (r.isolation.pid_namespace && r.isolation.private_proc) {
    EXPECT_NE(out.find("init cmdline b'empty'"), std::string::npos) << out;
    EXPECT_EQ(out.find("clrp_unit_tests"), std::string::npos) << out;
  }
  if (r.isolation.private_sys) {
    EXPECT_NE(out.find("net FileNotFoundError"), std::string::npos) << out;
    EXPECT_NE(out.find("sys []"), std::string::npos) << out;
  }
  if (r.isolation.seccomp_no_sockets) {
    EXPECT_NE(out.find("unshare user -1 1\n"), std::string::npos) << out;  // EPERM
    EXPECT_NE(out.find("unshare user+mnt -1 1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("setns -1 1\n"), std::string::npos) << out;
  }
  EXPECT_NE(out.find("thread [1] fork 7 subprocess 42"), std::string::npos) << out;
}
