// What clrp's own CPU kernels (skinny_linear.cpp, decode_attention.cpp) share:
// an eight-float vector type (GCC/clang vector extensions: one AVX2 register,
// half an AVX-512 one, two SSE or NEON ones), the attribute that compiles a
// kernel once per x86-64 ISA level for the loader to pick per machine (ifunc),
// and the fixed order in which a vector's lanes are summed. Internal to the
// model module.
#pragma once

#include <cstdint>

namespace clrp::model::detail::simd {

using Vec = float __attribute__((vector_size(32)));
using VecI = std::int32_t __attribute__((vector_size(32)));
constexpr std::int64_t kLanes = 8;

/// The lanes' sum, in a fixed order. Takes a reference: a vector passed by
/// value changes the calling convention between ISA levels.
[[gnu::always_inline]] inline float lane_sum(const Vec& a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

}  // namespace clrp::model::detail::simd

#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__))
/// Compiles the function for x86-64-v4 (AVX-512), v3 (AVX2, FMA) and a baseline.
#define CLRP_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLRP_ISA_CLONES
#endif

/// Unrolls a loop whole (trip counts fixed at compile time), so that a block's
/// accumulators live in registers.
#define CLRP_UNROLL _Pragma("GCC unroll 8")
