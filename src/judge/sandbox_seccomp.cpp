#include "sandbox_seccomp.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace clrp::judge::detail {

std::vector<sock_filter> inet_socket_filter() {
#if defined(__x86_64__)
  constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
  return {};
#endif
#if defined(__x86_64__) || defined(__aarch64__)
  // x32 syscalls are the x86_64 numbers with this bit set; no native
  // syscall number comes near it on either architecture.
  constexpr std::uint32_t kX32Bit = 0x40000000;
  constexpr std::uint32_t kArchOffset = offsetof(seccomp_data, arch);
  constexpr std::uint32_t kNrOffset = offsetof(seccomp_data, nr);
  // args[0] is 64 bits; the domain is an int, so its low word (first on
  // these little-endian architectures) is what the kernel uses.
  constexpr std::uint32_t kArg0Offset = offsetof(seccomp_data, args);
  // Jump offsets count instructions after the jump; the targets are the
  // three return statements at the end (indices 9, 10, 11).
  return {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArchOffset),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNrOffset),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 6, 0),              // -> 11
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 5, 0),  // -> 11
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),          // else -> 10
      /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArg0Offset),
      /* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0),  // -> 10, else 9
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      /* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
#endif
}

}  // namespace clrp::judge::detail
