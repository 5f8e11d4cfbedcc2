// The parent side of the sandbox: prepare, clone, watch, clean up.
#include "clrp/judge/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "clrp/util/error.hpp"
#include "sandbox_child.hpp"
#include "sandbox_seccomp.hpp"

namespace clrp::judge {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Per-run uids, as root, come from this range: 2^28 ids no distribution
// hands out, so RLIMIT_NPROC (which counts per uid) sees only this run.
constexpr std::uint32_t kUidBase = 0x30000000;
// After the init process is gone, how long leftovers may keep a pipe open.
constexpr auto kDrainGrace = std::chrono::milliseconds(300);

std::string errno_text(int e) {
  return std::strerror(e);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

void make_pipe(Pipe& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error("sandbox: pipe2: " + errno_text(errno));
  p.read.reset(fds[0]);
  p.write.reset(fds[1]);
  // The parent never blocks on a read: poll says when, reads take what is there.
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
}

// Removes the sandbox directory however run_sandboxed() leaves.
struct DirGuard {
  fs::path dir;
  ~DirGuard() {
    std::error_code ignored;
    if (!dir.empty()) fs::remove_all(dir, ignored);
  }
};

void validate(const SandboxRequest& r) {
  if (r.argv.empty()) throw Error("sandbox: empty argv");
  if (r.argv[0].empty() || r.argv[0][0] != '/') {
    throw Error("sandbox: argv[0] must be an absolute path, got '" + r.argv[0] + "'");
  }
  for (const std::string& a : r.argv) {
    if (a.find('\0') != std::string::npos) throw Error("sandbox: NUL byte in an argument");
  }
  for (const SandboxFile& f : r.files) {
    if (f.name.empty() || f.name == "." || f.name == ".." ||
        f.name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
      throw Error("sandbox: bad file name '" + f.name + "' (a plain name is required)");
    }
  }
  for (const auto& [k, v] : r.env) {
    if (k.empty() || k.find('=') != std::string::npos || (k + v).find('\0') != std::string::npos) {
      throw Error("sandbox: bad environment variable name '" + k + "'");
    }
  }
  const SandboxLimits& l = r.limits;
  if (!(l.wall_seconds > 0) || !(l.cpu_seconds > 0)) {
    throw Error("sandbox: wall_seconds and cpu_seconds must be positive");
  }
  if (l.max_processes < 0 || l.max_open_files < 0) {
    throw Error("sandbox: max_processes and max_open_files must not be negative");
  }
}

fs::path make_dir(const std::string& base) {
  const fs::path parent = base.empty() ? fs::temp_directory_path() : fs::path(base);
  std::string tmpl = (parent / "clrp-sandbox-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw Error(Where{parent.string(), "", {}, {}},
                "sandbox: cannot create a directory: " + errno_text(errno));
  }
  // Mount points and paths in the child are absolute and canonical.
  return fs::canonical(tmpl);
}

std::uint32_t next_uid() {
  static std::atomic<std::uint32_t> counter{0};
  const std::uint32_t pid_part = static_cast<std::uint32_t>(getpid()) & 0x3fff;
  return kUidBase + (pid_part << 14) + (counter.fetch_add(1) & 0x3fff);
}

void write_host_file(const fs::path& path, const SandboxFile& f) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, f.executable ? 0755 : 0644);
  if (fd < 0) throw Error(Where{path.string(), "", {}, {}}, "sandbox: " + errno_text(errno));
  Fd guard(fd);
  std::size_t done = 0;
  while (done < f.content.size()) {
    const ssize_t n = write(fd, f.content.data() + done, f.content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Where{path.string(), "", {}, {}}, "sandbox: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
}

// A captured stream: keeps the first `cap` bytes, reads and drops the rest
// so the writer never blocks on a full pipe.
struct Stream {
  int fd = -1;
  std::string text;
  std::size_t cap = 0;  // 0: unlimited
  bool truncated = false;
  bool open = true;

  void read_available() {
    char buf[65536];
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        const std::size_t room =
            cap == 0 ? static_cast<std::size_t>(n) : std::min<std::size_t>(n, cap - text.size());
        text.append(buf, room);
        if (room < static_cast<std::size_t>(n)) truncated = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      open = false;  // EOF (every writer is gone) or a real error
      return;
    }
  }
};

// As root without a pid namespace, processes that left the process group
// (setsid) are found by uid: a helper takes the run's uid and kills every
// process it may signal, which is exactly the run's processes.
void kill_uid(std::uint32_t uid) {
  for (int round = 0; round < 3; ++round) {
    const long pid = detail::raw_clone(0);
    if (pid < 0) return;
    if (pid == 0) {
      if (syscall(SYS_setresuid, uid, uid, uid) == 0) kill(-1, SIGKILL);
      _exit(0);
    }
    int status = 0;
    while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
  }
}

rlimit limit_of(std::uint64_t value) {
  const rlim_t v = value == 0 ? RLIM_INFINITY : static_cast<rlim_t>(value);
  return rlimit{v, v};
}

bool contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

}  // namespace

SandboxResult run_sandboxed(const SandboxRequest& request) {
  validate(request);
  const SandboxLimits& limits = request.limits;
  const Isolation& available = available_namespaces();
  const bool root = geteuid() == 0;

  SandboxResult result;
  Isolation& iso = result.isolation;
  iso.user_namespace = available.user_namespace;
  iso.network_namespace = available.network_namespace;
  iso.mount_namespace = available.mount_namespace;
  iso.pid_namespace = available.pid_namespace;
  iso.ipc_namespace = available.ipc_namespace;
  iso.uts_namespace = available.uts_namespace;
  iso.notes = available.notes;

  DirGuard guard{make_dir(request.base_dir)};
  const std::string dir = guard.dir.string();

  // Identity: a fresh uid as root, our own ids otherwise.
  const uid_t uid = root ? next_uid() : getuid();
  const gid_t gid = root ? static_cast<gid_t>(uid) : getgid();
  if (root) {
    result.sandbox_uid = uid;
    if (chown(dir.c_str(), uid, gid) != 0) {
      throw Error(Where{dir, "", {}, {}}, "sandbox: chown: " + errno_text(errno));
    }
  } else {
    iso.notes.push_back(
        "not root: no per-run uid, so RLIMIT_NPROC counts all of this user's processes");
  }
  chmod(dir.c_str(), 0700);

  // The files go to the host directory too: used as is when no tmpfs can
  // be mounted over it.
  std::vector<std::string> file_paths;
  std::vector<detail::ChildPlan::File> plan_files;
  file_paths.reserve(request.files.size());
  for (const SandboxFile& f : request.files) {
    file_paths.push_back(dir + "/" + f.name);
    write_host_file(file_paths.back(), f);
    if (root && chown(file_paths.back().c_str(), uid, gid) != 0) {
      throw Error(Where{file_paths.back(), "", {}, {}}, "sandbox: chown: " + errno_text(errno));
    }
  }
  for (std::size_t i = 0; i < request.files.size(); ++i) {
    const SandboxFile& f = request.files[i];
    plan_files.push_back({file_paths[i].c_str(), f.content.data(), f.content.size(),
                          static_cast<mode_t>(f.executable ? 0755 : 0644)});
  }

  // argv and the scrubbed environment as the C arrays execve wants.
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir,
                                          "TMPDIR=" + dir, "LANG=C.UTF-8"};
  for (const auto& [k, v] : request.env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> argv;
  std::vector<char*> envp;
  for (const std::string& a : request.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : env_strings)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const rlim_t cpu = static_cast<rlim_t>(std::ceil(limits.cpu_seconds));
  std::vector<detail::ChildPlan::Limit> rlimits = {
      // SIGXCPU at the soft limit, SIGKILL a second later for programs that catch it.
      {RLIMIT_CPU, rlimit{cpu, cpu + 1}},
      {RLIMIT_AS, limit_of(limits.memory_bytes)},
      {RLIMIT_FSIZE, limit_of(limits.file_size_bytes)},
      {RLIMIT_NOFILE, limit_of(static_cast<std::uint64_t>(limits.max_open_files))},
      {RLIMIT_CORE, rlimit{0, 0}},
  };
  // As root without a uid change RLIMIT_NPROC is ignored by the kernel; as
  // a user it would count the user's other processes, so it is only set
  // with a per-run uid or inside a user namespace (counted per namespace).
  if (limits.max_processes > 0 && (root || available.user_namespace)) {
    rlimits.push_back({RLIMIT_NPROC, limit_of(static_cast<std::uint64_t>(limits.max_processes))});
  }

  std::vector<sock_filter> filter;
  sock_fprog prog{};
  if (limits.block_sockets) {
    filter = detail::sandbox_filter();
    if (filter.empty()) iso.notes.push_back("seccomp: no filter for this architecture");
    prog.len = static_cast<unsigned short>(filter.size());
    prog.filter = filter.data();
  }

  const std::string tmpfs_options =
      "size=" +
      std::to_string(limits.disk_bytes == 0 ? std::uint64_t{1} << 30 : limits.disk_bytes) +
      ",mode=0700,uid=" + std::to_string(uid) + ",gid=" + std::to_string(gid);
  const std::string uid_map = std::to_string(getuid()) + " " + std::to_string(getuid()) + " 1\n";
  const std::string gid_map = std::to_string(getgid()) + " " + std::to_string(getgid()) + " 1\n";

  Pipe out, err, rep;
  make_pipe(out);
  make_pipe(err);
  make_pipe(rep);

  unsigned long flags = 0;
  if (iso.user_namespace) flags |= CLONE_NEWUSER;
  if (iso.network_namespace) flags |= CLONE_NEWNET;
  if (iso.mount_namespace) flags |= CLONE_NEWNS;
  if (iso.pid_namespace) flags |= CLONE_NEWPID;
  if (iso.ipc_namespace) flags |= CLONE_NEWIPC;
  if (iso.uts_namespace) flags |= CLONE_NEWUTS;

  detail::ChildPlan plan;
  plan.out_fd = out.write.get();
  plan.err_fd = err.write.get();
  plan.report_fd = rep.write.get();
  plan.dir = dir.c_str();
  plan.tmpfs_options = tmpfs_options.c_str();
  plan.uid_map = uid_map.c_str();
  plan.gid_map = gid_map.c_str();
  plan.files = plan_files.data();
  plan.file_count = plan_files.size();
  plan.drop_privileges = root;
  plan.uid = uid;
  plan.gid = gid;
  plan.limits = rlimits.data();
  plan.limit_count = rlimits.size();
  plan.seccomp = filter.empty() ? nullptr : &prog;
  plan.argv = argv.data();
  plan.envp = envp.data();

  const auto start = Clock::now();
  long init = -1;
  for (;;) {
    plan.user_namespace = (flags & CLONE_NEWUSER) != 0;
    plan.mount_namespace = (flags & CLONE_NEWNS) != 0;
    plan.pid_namespace = (flags & CLONE_NEWPID) != 0;
    init = detail::raw_clone(flags);
    if (init == 0) detail::sandbox_init_main(plan);
    // Each namespace alone was allowed; together they may still hit a
    // limit (max_*_namespaces). Then run with none rather than not at all.
    if (init < 0 && flags != 0 && (errno == EPERM || errno == ENOSPC || errno == EINVAL)) {
      iso.notes.push_back("namespaces refused together (" + errno_text(errno) +
                          "); ran without any");
      iso.user_namespace = iso.network_namespace = iso.mount_namespace = false;
      iso.pid_namespace = iso.ipc_namespace = iso.uts_namespace = false;
      flags = 0;
      continue;
    }
    break;
  }
  if (init < 0) throw Error("sandbox: clone: " + errno_text(errno));
  const pid_t init_pid = static_cast<pid_t>(init);
  out.write.reset();
  err.write.reset();
  rep.write.reset();

  // When the init process is gone: kill whatever of the run is left.
  auto kill_rest = [&] {
    kill(-init_pid, SIGKILL);  // the process group (leftovers without a pid namespace)
    if (root && !iso.pid_namespace) kill_uid(uid);
  };

  Stream streams[3];
  streams[0].fd = out.read.get();
  streams[0].cap = limits.max_output_bytes;
  streams[1].fd = err.read.get();
  streams[1].cap = limits.max_output_bytes;
  streams[2].fd = rep.read.get();
  streams[2].cap = 1 << 16;

#ifdef SYS_pidfd_open
  Fd pidfd(static_cast<int>(syscall(SYS_pidfd_open, init_pid, 0)));
#else
  Fd pidfd;
#endif
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(limits.wall_seconds));
  bool init_done = false;
  int init_status = 0;
  rusage usage{};
  Clock::time_point drain_until{};

  auto reap = [&] {
    while (wait4(init_pid, &init_status, 0, &usage) < 0 && errno == EINTR) {
    }
    init_done = true;
    result.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    drain_until = Clock::now() + kDrainGrace;
  };

  for (;;) {
    const auto now = Clock::now();
    if (!init_done && now >= deadline) {
      result.timed_out = true;
      kill(init_pid, SIGKILL);  // with a pid namespace: every process in it
      kill_rest();
      reap();
      continue;
    }
    if (init_done && (now >= drain_until || std::none_of(std::begin(streams), std::end(streams),
                                                         [](const Stream& s) { return s.open; }))) {
      break;
    }
    std::vector<pollfd> fds;
    std::vector<Stream*> owners;
    for (Stream& s : streams) {
      if (!s.open) continue;
      fds.push_back({s.fd, POLLIN, 0});
      owners.push_back(&s);
    }
    if (!init_done && pidfd.get() >= 0) fds.push_back({pidfd.get(), POLLIN, 0});
    auto wait_until = init_done ? drain_until : deadline;
    if (!init_done && pidfd.get() < 0)
      wait_until = std::min(wait_until, now + std::chrono::milliseconds(10));
    const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wait_until - now).count();
    const int rc = poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait_ms)));
    if (rc < 0 && errno != EINTR) throw Error("sandbox: poll: " + errno_text(errno));
    for (std::size_t i = 0; i < owners.size(); ++i) {
      if (fds[i].revents != 0) owners[i]->read_available();
    }
    if (!init_done) {
      // Exited yet? Look without reaping, so the group can still be killed
      // while its leader's pid is reserved.
      siginfo_t info{};
      if (waitid(P_PID, init_pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid != 0) {
        kill_rest();
        reap();
      }
    }
  }
  for (Stream& s : streams) {
    if (s.open) s.read_available();
  }

  // What the children reported.
  int program_status = -1;
  std::string fatal;
  const std::string& raw = streams[2].text;
  for (std::size_t off = 0; off + sizeof(detail::Report) <= raw.size();
       off += sizeof(detail::Report)) {
    detail::Report r;
    std::memcpy(&r, raw.data() + off, sizeof r);
    if (r.kind == detail::kStatus) {
      program_status = r.a;
    } else if (r.kind == detail::kFatal) {
      fatal = std::string(detail::step_name(r.a)) + ": " + errno_text(r.b);
    } else if (r.kind == detail::kFeature) {
      const bool on = r.b == 0;
      switch (r.a) {
        case detail::kPrivateProc:
          iso.private_proc = on;
          break;
        case detail::kReadOnlyRoot:
          iso.read_only_root = on;
          break;
        case detail::kPrivateTmpfs:
          iso.private_tmpfs = on;
          break;
        case detail::kDroppedPrivileges:
          iso.dropped_privileges = on;
          break;
        case detail::kSeccomp:
          iso.seccomp_no_sockets = on;
          break;
        case detail::kPrivateSys:
          iso.private_sys = on;
          break;
        default:
          break;
      }
      if (!on) iso.notes.push_back(std::string(detail::feature_name(r.a)) + ": " + errno_text(r.b));
    }
  }
  if (!fatal.empty()) {
    throw Error("sandbox: cannot run '" + request.argv[0] + "': " + fatal);
  }

  if (program_status >= 0) {
    if (WIFEXITED(program_status)) {
      result.exited = true;
      result.exit_code = WEXITSTATUS(program_status);
    } else if (WIFSIGNALED(program_status)) {
      result.term_signal = WTERMSIG(program_status);
    }
  } else {
    // Killed before it could report: at the deadline, or from outside.
    result.term_signal = WIFSIGNALED(init_status) ? WTERMSIG(init_status) : SIGKILL;
  }
  result.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  result.stdout_text = std::move(streams[0].text);
  result.stdout_truncated = streams[0].truncated;
  result.stderr_text = std::move(streams[1].text);
  result.stderr_truncated = streams[1].truncated;

  // Why it ended. Signals are exact; the memory verdict reads the error
  // text, because RLIMIT_AS makes allocation fail rather than kill.
  result.cpu_limited =
      result.term_signal == SIGXCPU || (result.term_signal == SIGKILL && !result.timed_out &&
                                        result.cpu_seconds >= static_cast<double>(cpu));
  result.file_size_limited =
      result.term_signal == SIGXFSZ || contains(result.stderr_text, "File too large");
  if (!result.success() && limits.memory_bytes > 0) {
    const std::string& e = result.stderr_text;
    result.memory_limited = contains(e, "MemoryError") || contains(e, "Cannot allocate memory") ||
                            contains(e, "std::bad_alloc") || contains(e, "out of memory");
  }
  return result;
}

std::string SandboxResult::describe() const {
  std::string out = exited ? "exit " + std::to_string(exit_code)
                           : "signal " + std::to_string(term_signal) + " (" +
                                 std::string(strsignal(term_signal)) + ")";
  if (timed_out) out += ", timed out";
  if (cpu_limited) out += ", CPU limit";
  if (memory_limited) out += ", memory limit";
  if (file_size_limited) out += ", file size limit";
  if (stdout_truncated || stderr_truncated) out += ", output truncated";
  return out;
}

}  // namespace clrp::judge
