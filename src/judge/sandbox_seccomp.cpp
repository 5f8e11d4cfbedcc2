#include "sandbox_seccomp.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace clrp::judge::detail {

std::vector<sock_filter> socket_filter() {
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
  // Jump offsets count instructions after the jump; the targets are the
  // three return statements at the end (indices 7, 8, 9).
  return {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArchOffset),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      /* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      /* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNrOffset),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 4, 0),              // -> 9
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),  // -> 9
      /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 1),          // -> 7, else 8
      /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      /* 8 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
  };
#endif
}

}  // namespace clrp::judge::detail
