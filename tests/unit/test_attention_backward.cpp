// The fused attention backward (ATen's CPU flash kernel) against the explicit
// T×T computation it falls back to: the same plain gradients, for a batch of
// output gradients, with causal and sliding-window masks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

#include "../../src/lrp/attention_backward.hpp"

namespace {

using clrp::lrp::detail::attention_backward;
using clrp::lrp::detail::attention_backward_explicit;

double rel_l2(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

void expect_equal_paths(const at::Tensor& mask) {
  at::manual_seed(7);
  const std::int64_t heads = 3, t = 37, hd = 16, seeds = 4;
  const at::Tensor q = at::randn({1, heads, t, hd}), k = at::randn({1, heads, t, hd}),
                   v = at::randn({1, heads, t, hd}), g_o = at::randn({seeds, heads, t, hd});
  const double scale = 0.2;
  const auto fused = attention_backward(q, k, v, g_o, mask, scale);
  const auto ref = attention_backward_explicit(q, k, v, g_o, mask, scale);
  // Blockwise and explicit softmax round differently: bit-equal results would
  // mean the fused kernel refused the inputs and the fallback ran twice.
  EXPECT_FALSE(at::equal(fused.q, ref.q));
  EXPECT_LT(rel_l2(fused.q, ref.q), 1e-5);
  EXPECT_LT(rel_l2(fused.k, ref.k), 1e-5);
  EXPECT_LT(rel_l2(fused.v, ref.v), 1e-5);
}

TEST(AttentionBackward, FusedEqualsExplicitCausal) {
  expect_equal_paths(at::Tensor());
}

TEST(AttentionBackward, FusedEqualsExplicitSlidingWindow) {
  const std::int64_t t = 37, window = 5;
  const at::Tensor i = at::arange(t, at::kLong);
  const at::Tensor d = i.unsqueeze(1) - i.unsqueeze(0);
  const at::Tensor allowed = d.ge(0).logical_and(d.lt(window));
  expect_equal_paths(at::zeros({t, t}).masked_fill(allowed.logical_not(),
                                                   -std::numeric_limits<double>::infinity()));
}

}  // namespace
