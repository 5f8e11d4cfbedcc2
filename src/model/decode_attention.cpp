#include "decode_attention.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>

#include "simd.hpp"

namespace clrp::model::detail {

namespace {

using simd::kLanes;
using simd::lane_sum;
using simd::Vec;
using simd::VecI;

[[gnu::always_inline]] inline float dot(const float* a, const float* b, std::int64_t n) {
  Vec acc = {};
  const std::int64_t full = n / kLanes * kLanes;
  for (std::int64_t i = 0; i < full; i += kLanes) {
    Vec x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    acc += x * y;
  }
  float s = lane_sum(acc);
  for (std::int64_t i = full; i < n; ++i)
    s += a[i] * b[i];
  return s;
}

// e^x for x <= 0 (softmax numerators once the maximum is
// subtracted), to float precision: x = n·ln 2 + r with |r| <= ln 2 / 2
// (Cody–Waite, ln 2 in two parts), e^r by Cephes' expf polynomial, 2^n put
// into the exponent bits. x below -87 counts as -87 (e^-87 ≈ 1.6e-38, nothing
// beside the maximum's 1).
[[gnu::always_inline]] inline void exp8(Vec& x) {
  const Vec lo = {-87.f, -87.f, -87.f, -87.f, -87.f, -87.f, -87.f, -87.f};
  x = x < lo ? lo : x;
  constexpr float kMagic = 12582912.f;  // 1.5·2^23: adding it rounds to an integer
  const Vec k = (x * 1.44269504088896341f + kMagic) - kMagic;
  const Vec r = (x - k * 0.693359375f) - k * -2.12194440e-4f;
  Vec y = r * 1.9875691500e-4f + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.f;
  const VecI bits = (__builtin_convertvector(k, VecI) + 127) << 23;
  Vec scale;
  std::memcpy(&scale, &bits, sizeof scale);
  x = y * scale;
}

[[gnu::always_inline]] inline void exp_in_place(float* p, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Vec x;
    std::memcpy(&x, p + i, sizeof x);
    exp8(x);
    std::memcpy(p + i, &x, sizeof x);
  }
  if (i < n) {  // the tail through a padded vector, so every element gets the same function
    Vec x = {};
    std::memcpy(&x, p + i, sizeof(float) * static_cast<std::size_t>(n - i));
    exp8(x);
    std::memcpy(p + i, &x, sizeof(float) * static_cast<std::size_t>(n - i));
  }
}

#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define CLRP_HAVE_SHUFFLEVECTOR 1
#endif
#endif
#ifndef CLRP_HAVE_SHUFFLEVECTOR
#define CLRP_HAVE_SHUFFLEVECTOR 0
#endif

// The eight lanes' sums of eight accumulators, as one vector (lane i: a[i]'s
// sum), by three rounds of pairwise shuffles and adds: the reductions of a
// block of scores share their shuffles instead of reducing one by one.
[[gnu::always_inline]] inline void reduce8(const Vec (&a)[8], Vec& out) {
#if CLRP_HAVE_SHUFFLEVECTOR
  Vec b[4], c[2];
  for (int i = 0; i < 4; ++i)
    b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(a[2 * i], a[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15);
  // b[i]: lanes 0-3 partial sums of a[2i], lanes 4-7 of a[2i+1]
  for (int i = 0; i < 2; ++i)
    c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
           __builtin_shufflevector(b[2 * i], b[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
  // c[i]: pairs of lanes for a[4i], a[4i+2], a[4i+1], a[4i+3]
  const Vec d = __builtin_shufflevector(c[0], c[1], 0, 2, 4, 6, 8, 10, 12, 14) +
                __builtin_shufflevector(c[0], c[1], 1, 3, 5, 7, 9, 11, 13, 15);
  // d: a0, a2, a1, a3, a4, a6, a5, a7
  out = __builtin_shufflevector(d, d, 0, 2, 1, 3, 4, 6, 5, 7);
#else  // compilers without the builtin (GCC before 12): one by one
  for (int i = 0; i < 8; ++i)
    out[i] = lane_sum(a[i]);
#endif
}

struct HeadTask {
  const float* q;  ///< the group's queries, `group` rows of hd
  const float* k;  ///< key row t at k + t * k_step
  const float* v;  ///< value row t at v + t * v_step
  float* out;      ///< `group` rows of hd
  std::int64_t k_step, v_step, first, length;
};

// One key head of one row: its `group` queries' scores over keys
// [first, length), softmax, and the weighted sum of the values. Keys are
// taken eight at a time (eight accumulators, reduced together); the values'
// sum keeps 64 output floats in registers while it walks the keys.
CLRP_ISA_CLONES
void attend_head(const HeadTask& t, std::int64_t group, std::int64_t hd, float scale,
                 std::vector<float>& scores) {
  const std::int64_t n = t.length - t.first, full_d = hd / kLanes * kLanes;
  scores.resize(static_cast<std::size_t>(n));
  const float* k0 = t.k + t.first * t.k_step;
  const float* v0 = t.v + t.first * t.v_step;
  for (std::int64_t j = 0; j < group; ++j) {
    const float* q = t.q + j * hd;
    float* s = scores.data();
    std::int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      Vec acc[8] = {};
      for (std::int64_t d = 0; d < full_d; d += kLanes) {
        Vec qv;
        std::memcpy(&qv, q + d, sizeof qv);
        CLRP_UNROLL
        for (int u = 0; u < 8; ++u) {
          Vec kv;
          std::memcpy(&kv, k0 + (i + u) * t.k_step + d, sizeof kv);
          acc[u] += qv * kv;
        }
      }
      Vec sums;
      reduce8(acc, sums);
      for (int u = 0; u < 8; ++u) {
        float x = sums[u];
        for (std::int64_t d = full_d; d < hd; ++d)
          x += q[d] * k0[(i + u) * t.k_step + d];
        s[i + u] = x * scale;
      }
    }
    for (; i < n; ++i)
      s[i] = dot(q, k0 + i * t.k_step, hd) * scale;
    const float top = *std::max_element(s, s + n);
    for (std::int64_t m = 0; m < n; ++m)
      s[m] -= top;
    exp_in_place(s, n);
    float total = 0;
    for (std::int64_t m = 0; m < n; ++m)
      total += s[m];
    float* o = t.out + j * hd;
    constexpr std::int64_t kSpan = 8 * kLanes;  // output floats held in registers
    for (std::int64_t d0 = 0; d0 < full_d; d0 += kSpan) {
      const std::int64_t chunks = std::min(kSpan, full_d - d0) / kLanes;
      Vec acc[8] = {};
      for (std::int64_t m = 0; m < n; ++m) {
        const float p = s[m];
        const float* value = v0 + m * t.v_step + d0;
        CLRP_UNROLL
        for (int c = 0; c < 8; ++c)
          if (c < chunks) {
            Vec vv;
            std::memcpy(&vv, value + c * kLanes, sizeof vv);
            acc[c] += p * vv;
          }
      }
      for (std::int64_t c = 0; c < chunks; ++c) {
        const Vec r = acc[c] / total;
        std::memcpy(o + d0 + c * kLanes, &r, sizeof r);
      }
    }
    for (std::int64_t d = full_d; d < hd; ++d) {
      float x = 0;
      for (std::int64_t m = 0; m < n; ++m)
        x += s[m] * v0[m * t.v_step + d];
      o[d] = x / total;
    }
  }
}

}  // namespace

bool decode_attention_applies(const at::Tensor& q, const std::vector<at::Tensor>& keys,
                              const std::vector<at::Tensor>& values) {
  const auto ok = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 4;
  };
  if (!ok(q) || q.size(2) != 1 || keys.size() != static_cast<std::size_t>(q.size(0)) ||
      values.size() != keys.size())
    return false;
  for (std::size_t r = 0; r < keys.size(); ++r) {
    const at::Tensor& k = keys[r];
    const at::Tensor& v = values[r];
    if (!ok(k) || !ok(v) || k.size(0) != 1 || k.stride(3) != 1 || v.stride(3) != 1 ||
        k.size(3) != q.size(3) || v.size(3) != q.size(3) || k.sizes() != v.sizes() ||
        k.size(1) < 1 || q.size(1) % k.size(1) != 0 || k.size(1) != keys[0].size(1))
      return false;
  }
  return true;
}

at::Tensor decode_attention(const at::Tensor& q, const std::vector<at::Tensor>& keys,
                            const std::vector<at::Tensor>& values,
                            const std::vector<std::int64_t>& first, double scale) {
  const at::Tensor qc = q.contiguous();
  const std::int64_t rows = q.size(0), heads = q.size(1), hd = q.size(3);
  const std::int64_t kv_heads = keys.front().size(1), group = heads / kv_heads;
  at::Tensor out = at::empty_like(qc);
  std::vector<HeadTask> tasks;
  tasks.reserve(static_cast<std::size_t>(rows * kv_heads));
  for (std::int64_t r = 0; r < rows; ++r) {
    const at::Tensor& k = keys[static_cast<std::size_t>(r)];
    const at::Tensor& v = values[static_cast<std::size_t>(r)];
    for (std::int64_t g = 0; g < kv_heads; ++g) {
      const std::int64_t at_head = (r * heads + g * group) * hd;
      tasks.push_back({qc.data_ptr<float>() + at_head, k.data_ptr<float>() + g * k.stride(1),
                       v.data_ptr<float>() + g * v.stride(1), out.data_ptr<float>() + at_head,
                       k.stride(2), v.stride(2), first[static_cast<std::size_t>(r)], k.size(2)});
    }
  }
  const auto s = static_cast<float>(scale);
  at::parallel_for(0, static_cast<std::int64_t>(tasks.size()), 1,
                   [&](std::int64_t begin, std::int64_t end) {
                     std::vector<float> scores;
                     for (std::int64_t i = begin; i < end; ++i)
                       attend_head(tasks[static_cast<std::size_t>(i)], group, hd, s, scores);
                   });
  return out;
}

}  // namespace clrp::model::detail
