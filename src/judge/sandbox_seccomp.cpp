#include "sandbox_seccomp.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace clrp::judge::detail {

namespace {
// clone3 passes its flags in a structure the filter cannot read; refused with
// ENOSYS, glibc falls back to clone, whose flags it can.
#ifdef __NR_clone3
constexpr std::uint32_t kClone3 = __NR_clone3;
#else
constexpr std::uint32_t kClone3 = 435;  // the same number on x86_64 and aarch64
#endif
}  // namespace

std::vector<sock_filter> sandbox_filter() {
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
  constexpr std::uint32_t kFlagsOffset = offsetof(seccomp_data, args);  // args[0], low word
  constexpr std::uint32_t kNewUser = CLONE_NEWUSER;
  constexpr auto kRefuse = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  constexpr auto kMissing = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  // Jump offsets count instructions after the jump: i + 1 + offset is the
  // target, named on the right.
  return {
      /*  0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArchOffset),
      /*  1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0),
      /*  2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      /*  3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNrOffset),
      /*  4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 11, 0),              // -> 16
      /*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 10, 0),  // -> 16
      /*  6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kClone3, 9, 0),               // -> 16
      /*  7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 7, 0),           // -> 15
      /*  8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setns, 6, 0),            // -> 15
      /*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 2, 0),          // -> 12
      /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),            // -> 12
      /* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kFlagsOffset),
      /* 13 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kNewUser, 1, 0),  // -> 15, else 14
      /* 14 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 15 */ BPF_STMT(BPF_RET | BPF_K, kRefuse),
      /* 16 */ BPF_STMT(BPF_RET | BPF_K, kMissing),
  };
#endif
}

}  // namespace clrp::judge::detail
