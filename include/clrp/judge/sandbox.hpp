// A sandbox for running model-written code.
//
// Benchmarks like HumanEval and MBPP are judged by running the model's
// program against tests. That program is untrusted: it may loop forever,
// fork without end, allocate without end, print gigabytes, open sockets or
// write anywhere. run_sandboxed() runs it in a fresh directory with every
// isolation feature the kernel grants, in layers, so that losing one layer
// (a container that refuses namespaces) degrades instead of failing:
//
//  * namespaces (network, mount, pid, ipc, uts; plus a user namespace when
//    not root): no network at all, a private /proc, and a whole-tree kill
//    (when the sandbox's init process dies, the kernel kills every process
//    in its pid namespace);
//  * a read-only view of the whole filesystem except the sandbox directory,
//    which is a size-capped tmpfs (nothing lands on the host disk);
//  * as root, the program runs under a fresh unprivileged uid per run, so it
//    has no capabilities and RLIMIT_NPROC counts only its own processes
//    (RLIMIT_NPROC never applies to uid 0, so root alone cannot stop a fork
//    bomb);
//  * rlimits: CPU time, address space, file size, processes, open files, no
//    core dumps; a seccomp filter that refuses socket() for every family
//    (host Unix sockets bound to a path are outside the network namespace);
//  * a wall-clock timeout that kills the whole tree; stdout and stderr read
//    through pipes with poll() and capped; a scrubbed environment; stdin is
//    /dev/null; the directory is removed afterwards.
//
// The result says which features were active and why any was not
// (SandboxResult::isolation), so a judge can refuse to run untrusted code
// with too little isolation. docs/judging.md records what was tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clrp::judge {

/// Resource limits for one run. Zero means "no limit" for the byte and
/// count limits; the time limits must be positive.
struct SandboxLimits {
  double wall_seconds = 10.0;  ///< wall clock; the whole tree is killed at the deadline
  double cpu_seconds = 10.0;   ///< RLIMIT_CPU per process (whole seconds, rounded up)
  std::uint64_t memory_bytes = std::uint64_t{1} << 30;      ///< RLIMIT_AS per process
  std::uint64_t file_size_bytes = std::uint64_t{16} << 20;  ///< RLIMIT_FSIZE: largest file
  std::uint64_t disk_bytes = std::uint64_t{64} << 20;       ///< size of the sandbox tmpfs
  int max_processes = 64;    ///< RLIMIT_NPROC (threads count too); needs a dropped uid
  int max_open_files = 256;  ///< RLIMIT_NOFILE
  std::size_t max_output_bytes = std::size_t{1}
                                 << 20;  ///< kept per stream; the rest is read and dropped
  bool block_sockets = true;             ///< seccomp: socket() refused (socketpair() allowed)
};

/// A file placed in the sandbox directory before the program starts.
struct SandboxFile {
  std::string name;  ///< plain file name: no '/', not "." or ".."
  std::string content;
  bool executable = false;
};

/// What to run. argv[0] must be an absolute path (there is no PATH search
/// in the parent; the program's own PATH is /usr/local/bin:/usr/bin:/bin).
struct SandboxRequest {
  std::vector<std::string> argv;
  std::vector<SandboxFile> files;
  /// Added to the scrubbed environment (PATH, HOME and TMPDIR = the sandbox
  /// directory, LANG=C.UTF-8); nothing of the caller's environment leaks in.
  std::vector<std::pair<std::string, std::string>> env;
  SandboxLimits limits;
  /// Where the sandbox directory is created (empty: the system temporary
  /// directory). The directory is removed after the run.
  std::string base_dir;
};

/// Which isolation layers were in force for a run. A feature that was
/// wanted but refused by the kernel has its reason in `notes`.
struct Isolation {
  bool user_namespace = false;  ///< only used when not root
  bool network_namespace = false;
  bool mount_namespace = false;
  bool pid_namespace = false;
  bool ipc_namespace = false;
  bool uts_namespace = false;
  bool private_proc = false;        ///< /proc shows only the sandbox's processes
  bool read_only_root = false;      ///< everything but the sandbox directory is read-only
  bool private_tmpfs = false;       ///< the sandbox directory is a size-capped tmpfs
  bool dropped_privileges = false;  ///< runs as an unprivileged uid (RLIMIT_NPROC effective)
  bool private_sys = false;         ///< /sys is an empty read-only tmpfs (no host interfaces)
  /// seccomp refuses socket() (AF_UNIX included), new user namespaces and setns()
  bool seccomp_no_sockets = false;
  std::vector<std::string> notes;  ///< "pid namespace: Operation not permitted", ...

  /// "net,mnt,pid,..." of the active features (for logs and reports).
  std::string summary() const;
};

struct SandboxResult {
  bool exited = false;  ///< the program exited by itself (exit_code is valid)
  int exit_code = -1;
  int term_signal = 0;             ///< the signal that ended it, 0 if it exited
  bool timed_out = false;          ///< killed at the wall-clock deadline
  bool cpu_limited = false;        ///< ended by RLIMIT_CPU (SIGXCPU, or SIGKILL at the hard limit)
  bool memory_limited = false;     ///< an allocation failed under RLIMIT_AS (see docs/judging.md)
  bool file_size_limited = false;  ///< a write passed RLIMIT_FSIZE
  std::string stdout_text;
  std::string stderr_text;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  double wall_seconds = 0.0;
  double cpu_seconds = 0.0;  ///< user + system time of the processes that were reaped
  std::optional<std::uint32_t> sandbox_uid;  ///< the uid it ran under, when privileges were dropped
  Isolation isolation;

  /// Exited with status 0 within the limits.
  bool success() const { return exited && exit_code == 0 && !timed_out; }
  /// One line: "exit 0", "signal 9 (timed out)", ... for reports.
  std::string describe() const;
};

/// Runs `request` and waits for it. Throws clrp::Error when the request is
/// malformed, when the program cannot be started (argv[0] missing or not
/// executable for the sandbox user) or when a mandatory step fails (the
/// sandbox directory, dropping privileges). Everything the program itself
/// does is reported in the result, never thrown. Safe to call from several
/// threads at once.
SandboxResult run_sandboxed(const SandboxRequest& request);

/// The namespaces this process may create, probed once (cheaply, by
/// cloning a child that exits at once) and cached. Only the namespace
/// fields and `notes` are filled in.
const Isolation& available_namespaces();

}  // namespace clrp::judge
