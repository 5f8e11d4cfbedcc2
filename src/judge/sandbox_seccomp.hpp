// The sandbox's seccomp filter: refuse sockets other than AF_UNIX.
//
// A second layer under the network namespace (and the only network barrier
// where namespaces are refused): the program may still use socketpair() and
// Unix sockets (Python's multiprocessing does), but socket(AF_INET, ...),
// AF_INET6, AF_PACKET, AF_NETLINK fail with EPERM. io_uring is refused as a
// whole (it can open sockets without the socket syscall), and on x86_64 the
// x32 syscall numbers are refused (they would bypass the number check).
#pragma once

#include <linux/filter.h>

#include <vector>

namespace clrp::judge::detail {

/// The BPF program, or an empty vector on architectures it does not know
/// (then no filter is installed and the result says so).
std::vector<sock_filter> inet_socket_filter();

}  // namespace clrp::judge::detail
