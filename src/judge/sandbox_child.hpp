// The part of the sandbox that runs between clone() and execve().
//
// The parent may be multi-threaded (libtorch, MPI), so the cloned children
// may only make async-signal-safe calls: no allocation, no locks, no stdio.
// Everything they need is therefore prepared in the parent as a ChildPlan of
// plain pointers and numbers, and they talk back only through fixed-size
// Report records written to a pipe.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace clrp::judge::detail {

/// One message from a sandbox child to the parent.
struct Report {
  std::int32_t kind;  ///< ReportKind
  std::int32_t a;
  std::int32_t b;
};

enum ReportKind : std::int32_t {
  kFeature = 1,  ///< a = Feature, b = 0 when active, else the errno that refused it
  kStatus = 2,   ///< a = the program's wait status (written by the init process)
  kFatal = 3,    ///< a = Step, b = errno: the sandbox could not be set up
};

enum Feature : std::int32_t {
  kPrivateProc = 0,
  kReadOnlyRoot = 1,
  kPrivateTmpfs = 2,
  kDroppedPrivileges = 3,
  kSeccomp = 4,
  kPrivateSys = 5,
};

enum Step : std::int32_t {
  kStepUserMap = 0,
  kStepFds = 1,
  kStepSandboxDir = 2,
  kStepWriteFile = 3,
  kStepFork = 4,
  kStepRlimit = 5,
  kStepDropPrivileges = 6,
  kStepChdir = 7,
  kStepExec = 8,
};

/// A human-readable name for a Step ("execve", "setresuid", ...).
const char* step_name(std::int32_t step);
/// A human-readable name for a Feature ("read-only root", ...).
const char* feature_name(std::int32_t feature);

/// Everything the children need, prepared by the parent before clone().
struct ChildPlan {
  int out_fd = -1;     ///< write end of the stdout pipe
  int err_fd = -1;     ///< write end of the stderr pipe
  int report_fd = -1;  ///< write end of the report pipe

  bool pid_namespace = false;     ///< the init process is pid 1 of a new pid namespace
  bool mount_namespace = false;   ///< remount the filesystem view
  bool user_namespace = false;    ///< write the id maps below first
  const char* uid_map = nullptr;  ///< "inside outside 1\n"
  const char* gid_map = nullptr;

  const char* dir = nullptr;            ///< the sandbox directory (absolute)
  const char* tmpfs_options = nullptr;  ///< "size=...,mode=0700,uid=...,gid=..."

  struct File {
    const char* path;  ///< absolute path inside dir
    const char* data;
    std::size_t size;
    mode_t mode;
  };
  const File* files = nullptr;  ///< rewritten into the tmpfs when one is mounted
  std::size_t file_count = 0;

  bool drop_privileges = false;  ///< setresuid/setresgid to uid/gid below
  uid_t uid = 0;
  gid_t gid = 0;

  struct Limit {
    int resource;
    rlimit value;
  };
  const Limit* limits = nullptr;
  std::size_t limit_count = 0;

  const sock_fprog* seccomp = nullptr;  ///< installed after no_new_privs when set

  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

/// The first cloned process: sets up mounts and descriptors, forks the
/// program, waits for it, reports its status and exits (as pid 1 of a pid
/// namespace its exit makes the kernel kill every process left inside).
[[noreturn]] void sandbox_init_main(const ChildPlan& plan);

/// clone() without a new stack: fork semantics plus namespace flags. Raw, so
/// that no atfork handlers or glibc locks are involved in a multi-threaded
/// parent. Returns the child's pid, 0 in the child, -1 with errno on error.
long raw_clone(unsigned long flags);

}  // namespace clrp::judge::detail
