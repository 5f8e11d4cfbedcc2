// The sandbox's seccomp filter: refuse every socket() call.
//
// The network namespace cuts IP and abstract Unix sockets, but not Unix
// sockets bound to a path: a world-writable one on the host (an X server's in
// /tmp/.X11-unix, a loose container daemon's) stays reachable through the
// read-only root, so socket() fails with EPERM for every family, AF_UNIX
// included. socketpair() stays allowed (a connected pair reaches no one;
// Python's multiprocessing pipes use it). io_uring is refused as a whole (it
// can open sockets without the socket syscall), and on x86_64 the x32 syscall
// numbers are refused (they would bypass the number check).
#pragma once

#include <linux/filter.h>

#include <vector>

namespace clrp::judge::detail {

/// The BPF program, or an empty vector on architectures it does not know
/// (then no filter is installed and the result says so).
std::vector<sock_filter> socket_filter();

}  // namespace clrp::judge::detail
