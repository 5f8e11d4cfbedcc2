#include "skinny_linear.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "simd.hpp"

namespace clrp::model::detail {

namespace {

using simd::kLanes;
using simd::lane_sum;
using simd::Vec;
// Sixteen accumulators of eight lanes would not fit AVX2's sixteen registers,
// so a block is four W rows by two x rows (8 accumulators, 6 operands).
constexpr std::int64_t kBlockOut = 4;   ///< W rows per block
constexpr std::int64_t kBlockRows = 2;  ///< x rows per block

// y[c][r] = Σ_k w[r][k]·x[c][k] (+ bias[r]) for R rows of W and C rows of x;
// `k` is the shared length, `n` the stride of y's rows. Lane l of an
// accumulator sums k = l, l + 8, ... in order; the tail past the last full
// vector is added after the lanes, in order.
template <int R, int C>
[[gnu::always_inline]] inline void block(const float* x, const float* w, const float* bias,
                                         float* y, std::int64_t k, std::int64_t n) {
  Vec acc[R][C] = {};
  const std::int64_t full = k / kLanes * kLanes;
  for (std::int64_t i = 0; i < full; i += kLanes) {
    Vec wv[R], xv[C];
    CLRP_UNROLL
    for (int r = 0; r < R; ++r)
      std::memcpy(&wv[r], w + r * k + i, sizeof(Vec));
    CLRP_UNROLL
    for (int c = 0; c < C; ++c)
      std::memcpy(&xv[c], x + c * k + i, sizeof(Vec));
    CLRP_UNROLL
    for (int r = 0; r < R; ++r)
      CLRP_UNROLL
    for (int c = 0; c < C; ++c)
      acc[r][c] += wv[r] * xv[c];
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) {
      float s = lane_sum(acc[r][c]);
      for (std::int64_t i = full; i < k; ++i)
        s += w[r * k + i] * x[c * k + i];
      y[c * n + r] = bias != nullptr ? s + bias[r] : s;
    }
}

// Outputs [begin, end) of every row of x [m, k] into y [m, n].
CLRP_ISA_CLONES
void skinny_columns(const float* x, std::int64_t m, const float* w, const float* bias,
                    std::int64_t begin, std::int64_t end, std::int64_t k, float* y,
                    std::int64_t n) {
  std::int64_t o = begin;
  for (; o + kBlockOut <= end; o += kBlockOut) {
    const float* b = bias != nullptr ? bias + o : nullptr;
    std::int64_t c = 0;
    for (; c + kBlockRows <= m; c += kBlockRows)
      block<kBlockOut, kBlockRows>(x + c * k, w + o * k, b, y + c * n + o, k, n);
    if (c < m) block<kBlockOut, 1>(x + c * k, w + o * k, b, y + c * n + o, k, n);
  }
  for (; o < end; ++o) {
    const float* b = bias != nullptr ? bias + o : nullptr;
    for (std::int64_t c = 0; c < m; ++c)
      block<1, 1>(x + c * k, w + o * k, b, y + c * n + o, k, n);
  }
}

}  // namespace

bool skinny_linear_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto is_cpu_float = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && !t.requires_grad();
  };
  // A weight that is not contiguous would be copied on every call: a GEMM reads it in place.
  if (!is_cpu_float(x) || !is_cpu_float(weight) || weight.dim() != 2 || !weight.is_contiguous() ||
      x.dim() < 1)
    return false;
  if (bias.defined() && (!is_cpu_float(bias) || bias.dim() != 1)) return false;
  const std::int64_t k = weight.size(1);
  return x.size(-1) == k && k > 0 && x.numel() / k <= kSkinnyRows;
}

at::Tensor skinny_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const at::Tensor xc = x.contiguous(), wc = weight.contiguous();  // wc: no copy (applies)
  const at::Tensor bc = bias.defined() ? bias.contiguous() : bias;
  const std::int64_t k = wc.size(1), n = wc.size(0), m = xc.numel() / k;
  std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = n;
  at::Tensor y = at::empty(shape, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* wp = wc.data_ptr<float>();
  const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // Threads take whole blocks of outputs: each W row is read by one thread.
  const std::int64_t blocks = (n + kBlockOut - 1) / kBlockOut;
  at::parallel_for(0, blocks, 16, [&](std::int64_t first, std::int64_t last) {
    skinny_columns(xp, m, wp, bp, first * kBlockOut, std::min(n, last * kBlockOut), k, yp, n);
  });
  return y;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return skinny_linear_applies(x, weight, bias) ? skinny_linear(x, weight, bias)
                                                : at::linear(x, weight, bias);
}

}  // namespace clrp::model::detail
