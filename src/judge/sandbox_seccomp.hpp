// The sandbox's seccomp filter: refuse every socket() call and every way
// into another namespace.
//
// The network namespace cuts IP and abstract Unix sockets, but not Unix
// sockets bound to a path: a world-writable one on the host (an X server's in
// /tmp/.X11-unix, a loose container daemon's) stays reachable through the
// read-only root, so socket() fails with EPERM for every family, AF_UNIX
// included. socketpair() stays allowed (a connected pair reaches no one;
// Python's multiprocessing pipes use it). io_uring is refused as a whole (it
// can open sockets without the socket syscall), and on x86_64 the x32 syscall
// numbers are refused (they would bypass the number check).
//
// Namespaces: unshare() and clone() with CLONE_NEWUSER are refused (EPERM),
// and setns() altogether. A nested user namespace would hand the program
// every capability inside it — mounts, raw sockets of its own network
// namespace, kernel code few sandboxes expose; clone3() gets ENOSYS because
// its flags sit in memory the filter cannot read, and glibc falls back to
// clone(). The other namespaces need CAP_SYS_ADMIN, which the program lacks
// without a user namespace of its own.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace clrp::judge::detail {

/// The BPF program, or an empty vector on architectures it does not know
/// (then no filter is installed and the result says so).
std::vector<sock_filter> sandbox_filter();

}  // namespace clrp::judge::detail
