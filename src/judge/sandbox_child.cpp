// Between clone() and execve(): only async-signal-safe calls (see the header).
#include "sandbox_child.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

namespace clrp::judge::detail {

namespace {

// mount_setattr(2) by number: glibc only wraps it from 2.36 on and the
// headers that declare struct mount_attr clash between glibc and linux/.
struct MountAttr {
  std::uint64_t attr_set;
  std::uint64_t attr_clr;
  std::uint64_t propagation;
  std::uint64_t userns_fd;
};
constexpr std::uint64_t kAttrReadOnly = 0x1;  // MOUNT_ATTR_RDONLY
constexpr std::uint64_t kAttrNoSuid = 0x2;    // MOUNT_ATTR_NOSUID
constexpr unsigned kAtRecursive = 0x8000;     // AT_RECURSIVE

int mount_setattr_raw(const char* path, unsigned flags, std::uint64_t set, std::uint64_t clr) {
#ifdef SYS_mount_setattr
  MountAttr attr{set, clr, 0, 0};
  return static_cast<int>(syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// Descriptor numbers inside the sandbox: 0-2 are the standard streams, the
// report pipe sits at 3 (close-on-exec, so the program never sees it).
constexpr int kReportFd = 3;

void report(int fd, std::int32_t kind, std::int32_t a, std::int32_t b) {
  const Report r{kind, a, b};
  // A 12-byte write to a pipe is atomic; a failure here has nowhere to go.
  ssize_t ignored = write(fd, &r, sizeof r);
  (void)ignored;
}

[[noreturn]] void fatal(int fd, Step step) {
  report(fd, kFatal, step, errno);
  _exit(127);
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_file(const char* path, const char* data) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write_all(fd, data, std::strlen(data));
  close(fd);
  return ok;
}

// Unprivileged: map our own uid/gid into the new user namespace. setgroups
// must be denied first, or the kernel refuses the gid map.
void write_id_maps(const ChildPlan& plan, int fd) {
  if (!write_file("/proc/self/setgroups", "deny") ||
      !write_file("/proc/self/uid_map", plan.uid_map) ||
      !write_file("/proc/self/gid_map", plan.gid_map)) {
    fatal(fd, kStepUserMap);
  }
}

// 0 = /dev/null, 1/2 = the pipes, 3 = the report pipe; everything else the
// parent had open (other threads' descriptors included) is closed.
void arrange_fds(const ChildPlan& plan) {
  // Move the pipes above the target numbers first so no dup2 clobbers one.
  const int out = fcntl(plan.out_fd, F_DUPFD, 10);
  const int err = fcntl(plan.err_fd, F_DUPFD, 10);
  const int rep = fcntl(plan.report_fd, F_DUPFD, 10);
  if (out < 0 || err < 0 || rep < 0) fatal(plan.report_fd, kStepFds);
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
      dup2(rep, kReportFd) < 0) {
    fatal(rep, kStepFds);
  }
#ifdef SYS_close_range
  if (syscall(SYS_close_range, kReportFd + 1, ~0U, 0) == 0) return;
#endif
  // Old kernels: close one by one up to the descriptor limit.
  const long max_fd = sysconf(_SC_OPEN_MAX);
  for (long fd = kReportFd + 1; fd < max_fd; ++fd)
    close(static_cast<int>(fd));
}

void write_files(const ChildPlan& plan) {
  for (std::size_t i = 0; i < plan.file_count; ++i) {
    const ChildPlan::File& f = plan.files[i];
    const int fd = open(f.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, f.mode);
    if (fd < 0) fatal(kReportFd, kStepWriteFile);
    const bool ok = write_all(fd, f.data, f.size);
    close(fd);
    if (!ok) fatal(kReportFd, kStepWriteFile);
  }
}

// The filesystem view: private mount propagation, a fresh /proc for the pid
// namespace, everything read-only except the sandbox directory, which is a
// size-capped tmpfs (or, failing that, a writable bind mount of the host
// directory the parent prepared).
void setup_mounts(const ChildPlan& plan) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    // Without private propagation any mount here could leak to the host.
    report(kReportFd, kFeature, kReadOnlyRoot, errno);
    report(kReportFd, kFeature, kPrivateTmpfs, errno);
    if (plan.pid_namespace) report(kReportFd, kFeature, kPrivateProc, errno);
    return;
  }
  if (plan.pid_namespace) {
    const int rc = mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    report(kReportFd, kFeature, kPrivateProc, rc == 0 ? 0 : errno);
  }
  // The host's sysfs lists its network interfaces (whatever the network
  // namespace) and its devices; an empty read-only tmpfs hides all of it.
  // Nothing a judged program needs lives there (glibc counts CPUs from
  // /proc/stat when /sys/devices/system/cpu is missing).
  {
    const int rc = mount("tmpfs", "/sys", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "size=4k,mode=0555");
    report(kReportFd, kFeature, kPrivateSys, rc == 0 ? 0 : errno);
  }
  // The directory becomes its own mount so it can stay writable below.
  bool read_only = false;
  if (mount(plan.dir, plan.dir, nullptr, MS_BIND, nullptr) != 0 ||
      mount_setattr_raw("/", kAtRecursive, kAttrReadOnly | kAttrNoSuid, 0) != 0) {
    report(kReportFd, kFeature, kReadOnlyRoot, errno);  // the errno of whichever failed
  } else {
    read_only = true;
    report(kReportFd, kFeature, kReadOnlyRoot, 0);
  }
  // Mounted after the read-only pass, so the tmpfs itself is writable.
  if (mount("tmpfs", plan.dir, "tmpfs", MS_NOSUID | MS_NODEV, plan.tmpfs_options) == 0) {
    report(kReportFd, kFeature, kPrivateTmpfs, 0);
    write_files(plan);
    return;
  }
  report(kReportFd, kFeature, kPrivateTmpfs, errno);
  if (read_only && mount_setattr_raw(plan.dir, 0, 0, kAttrReadOnly) != 0) {
    fatal(kReportFd, kStepSandboxDir);
  }
}

void reset_signals() {
  // Dispositions set to "ignore" and the blocked mask survive execve; the
  // program must start with the defaults whatever the parent had.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sigaction(sig, &dfl, nullptr);  // fails harmlessly for the reserved realtime signals
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void program_main(const ChildPlan& plan) {
  reset_signals();
  // Limits first, while still privileged: once the uid is dropped the hard
  // limits can only go down.
  for (std::size_t i = 0; i < plan.limit_count; ++i) {
    const ChildPlan::Limit& l = plan.limits[i];
    if (syscall(SYS_setrlimit, l.resource, &l.value) != 0) {
      fatal(kReportFd, kStepRlimit);
    }
  }
  if (plan.drop_privileges) {
    // Raw syscalls: glibc's wrappers would broadcast the change to the
    // parent's other threads, which it still believes exist after a raw
    // clone, and could wait for them forever.
    if (syscall(SYS_setgroups, 0, nullptr) != 0 ||
        syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0 ||
        syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) {
      fatal(kReportFd, kStepDropPrivileges);
    }
    report(kReportFd, kFeature, kDroppedPrivileges, 0);
  }
  // No setuid binary can regain privileges; also required for seccomp
  // without CAP_SYS_ADMIN.
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (plan.seccomp != nullptr) {
    const int rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan.seccomp, 0, 0);
    report(kReportFd, kFeature, kSeccomp, rc == 0 ? 0 : errno);
  }
  if (chdir(plan.dir) != 0) fatal(kReportFd, kStepChdir);
  if (fcntl(kReportFd, F_SETFD, FD_CLOEXEC) != 0) fatal(kReportFd, kStepFds);
  execve(plan.argv[0], plan.argv, plan.envp);
  fatal(kReportFd, kStepExec);
}

// Init is a copy of the caller: its /proc/<pid>/cmdline (world-readable, and
// pid 1 inside the sandbox) would show the caller's command line, and its
// environ the caller's environment. Both live in init's own copy of the
// stack, whose bounds /proc/self/stat gives (fields 48-51): zeroed, they say
// nothing. Raw calls and a stack buffer only (this runs after a raw clone).
void forget_callers_arguments() {
  char buf[1024];
  const int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  // Fields count from 1; the name (field 2) is in parentheses and may hold
  // anything, so counting starts after its last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return;
  unsigned long fields[4] = {0, 0, 0, 0};  // arg_start, arg_end, env_start, env_end
  int field = 2;
  for (++p; *p != '\0' && field <= 51; ++p) {
    if (*p == ' ') {
      ++field;
      continue;
    }
    if (field >= 48 && *p >= '0' && *p <= '9')
      fields[field - 48] = fields[field - 48] * 10 + static_cast<unsigned long>(*p - '0');
  }
  if (field < 51) return;  // a kernel without these fields (before 3.5)
  for (int k = 0; k < 4; k += 2)
    if (fields[k] != 0 && fields[k + 1] > fields[k])
      // The kernel gives the addresses as numbers.
      std::memset(reinterpret_cast<void*>(fields[k]),  // NOLINT(performance-no-int-to-ptr)
                  0, fields[k + 1] - fields[k]);
}

}  // namespace

long raw_clone(unsigned long flags) {
  // x86_64 and aarch64 differ in the order of the last two arguments; with
  // all of them null (no new stack, no tids, no tls) the order is moot.
  return syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
}

void sandbox_init_main(const ChildPlan& plan) {
  // If the parent process dies, take the sandbox down with it.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (plan.user_namespace) write_id_maps(plan, plan.report_fd);
  setsid();  // own session and process group: the parent kills the group
  arrange_fds(plan);
  if (plan.mount_namespace) setup_mounts(plan);
  forget_callers_arguments();

  const long program = raw_clone(0);
  if (program < 0) fatal(kReportFd, kStepFork);
  if (program == 0) program_main(plan);

  // Wait for the program, reaping everything else that is orphaned to us
  // (as pid 1 of the namespace, every orphan is).
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      _exit(126);  // ECHILD: cannot happen while the program is unreaped
    }
    if (pid != program) continue;
    report(kReportFd, kStatus, status, 0);
    break;
  }
  // Pid namespace: our exit kills everything left inside. Without one, the
  // program's leftovers share our process group: kill it, ourselves last.
  if (!plan.pid_namespace) kill(0, SIGKILL);
  _exit(0);
}

const char* step_name(std::int32_t step) {
  switch (step) {
    case kStepUserMap:
      return "writing the user namespace id maps";
    case kStepFds:
      return "arranging descriptors";
    case kStepSandboxDir:
      return "making the sandbox directory writable";
    case kStepWriteFile:
      return "writing the sandbox files";
    case kStepFork:
      return "forking the program";
    case kStepRlimit:
      return "setrlimit";
    case kStepDropPrivileges:
      return "dropping privileges (setresuid/setresgid)";
    case kStepChdir:
      return "chdir into the sandbox directory";
    case kStepExec:
      return "execve";
    default:
      return "an unknown step";
  }
}

const char* feature_name(std::int32_t feature) {
  switch (feature) {
    case kPrivateProc:
      return "private /proc";
    case kReadOnlyRoot:
      return "read-only root";
    case kPrivateTmpfs:
      return "tmpfs sandbox directory";
    case kDroppedPrivileges:
      return "dropped privileges";
    case kSeccomp:
      return "seccomp filter (sockets, namespaces)";
    case kPrivateSys:
      return "empty /sys";
    default:
      return "unknown feature";
  }
}

}  // namespace clrp::judge::detail
