// The decoding step's CPU kernels against ATen: skinny_linear against
// at::linear (and each row's result independent of the rows beside it, bit for
// bit), decode_attention against one SDPA per row (ragged lengths, grouped
// query heads, sliding windows, caches that are views into larger rooms).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "../../src/model/decode_attention.hpp"
#include "../../src/model/skinny_linear.hpp"

namespace {

using clrp::model::detail::decode_attention;
using clrp::model::detail::decode_attention_applies;
using clrp::model::detail::kSkinnyRows;
using clrp::model::detail::skinny_linear;
using clrp::model::detail::skinny_linear_applies;

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

TEST(SkinnyLinear, EqualsLinearForEveryShape) {
  at::manual_seed(3);
  // K: a multiple of the 8 lanes, one with a tail; N: a multiple of the
  // 4-row blocks and one with a remainder; M: odd, even, the limit.
  for (const std::int64_t k : {64, 576, 13})
    for (const std::int64_t n : {960, 7})
      for (const std::int64_t m :
           {std::int64_t{1}, std::int64_t{2}, std::int64_t{5}, std::int64_t{16}, kSkinnyRows})
        for (const bool with_bias : {false, true}) {
          const at::Tensor x = at::randn({m, k}), w = at::randn({n, k});
          const at::Tensor b = with_bias ? at::randn({n}) : at::Tensor();
          ASSERT_TRUE(skinny_linear_applies(x, w, b));
          const at::Tensor y = skinny_linear(x, w, b);
          EXPECT_LT(max_rel(y, at::linear(x, w, b)), 2e-6)
              << "m=" << m << " k=" << k << " n=" << n << " bias=" << with_bias;
        }
}

TEST(SkinnyLinear, EachRowIsTheSameAloneAsInABatch) {
  at::manual_seed(4);
  const at::Tensor x = at::randn({1, 11, 576}), w = at::randn({1030, 576}), b = at::randn({1030});
  const at::Tensor all = skinny_linear(x, w, b);
  EXPECT_EQ(all.sizes(), (std::vector<std::int64_t>{1, 11, 1030}));
  for (std::int64_t r = 0; r < 11; ++r)
    EXPECT_TRUE(at::equal(all[0][r], skinny_linear(x[0][r], w, b))) << "row " << r;
}

TEST(SkinnyLinear, LeavesTheRestToLinear) {
  const at::Tensor w = at::randn({8, 16});
  EXPECT_FALSE(skinny_linear_applies(at::randn({kSkinnyRows + 1, 16}), w, {}));
  EXPECT_FALSE(skinny_linear_applies(at::randn({2, 16}).to(at::kBFloat16), w, {}));
  EXPECT_FALSE(skinny_linear_applies(at::randn({2, 16}).requires_grad_(), w, {}));
  EXPECT_FALSE(skinny_linear_applies(at::randn({2, 15}), w, {}));
  EXPECT_FALSE(skinny_linear_applies(at::randn({2, 16}), at::randn({16, 8}).t(), {}));
}

// One SDPA per row with the query heads of a key head as its queries, and
// the window's mask: what DecoderModel::attention_rows does without the kernel.
at::Tensor per_row_sdpa(const at::Tensor& q, const std::vector<at::Tensor>& keys,
                        const std::vector<at::Tensor>& values,
                        const std::vector<std::int64_t>& first, double scale) {
  std::vector<at::Tensor> out;
  for (std::size_t r = 0; r < keys.size(); ++r) {
    const std::int64_t len = keys[r].size(2);
    const at::Tensor mask = at::arange(len).ge(first[r]).view({1, len});
    out.push_back(at::scaled_dot_product_attention(q.narrow(0, static_cast<std::int64_t>(r), 1),
                                                   keys[r], values[r], mask, 0.0, false, scale,
                                                   /*enable_gqa=*/true));
  }
  return at::cat(out, 0);
}

void expect_kernel_equals_sdpa(std::int64_t heads, std::int64_t kv_heads, std::int64_t hd,
                               std::int64_t window) {
  at::manual_seed(5);
  const std::vector<std::int64_t> lengths{1, 5, 37, 300, 129};
  const auto rows = static_cast<std::int64_t>(lengths.size());
  const at::Tensor q = at::randn({rows, heads, 1, hd});
  std::vector<at::Tensor> keys, values;
  std::vector<std::int64_t> first;
  for (const std::int64_t len : lengths) {
    // Views into a room with space after the cached tokens, as a KvCache holds them.
    const at::Tensor room_k = at::randn({1, kv_heads, len + 17, hd}) * 2;
    const at::Tensor room_v = at::randn({1, kv_heads, len + 17, hd});
    keys.push_back(room_k.narrow(2, 0, len));
    values.push_back(room_v.narrow(2, 0, len));
    first.push_back(window > 0 ? std::max<std::int64_t>(0, len - window) : 0);
  }
  ASSERT_TRUE(decode_attention_applies(q, keys, values));
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const at::Tensor got = decode_attention(q, keys, values, first, scale);
  const at::Tensor want = per_row_sdpa(q, keys, values, first, scale);
  EXPECT_LT(max_rel(got, want), 2e-6)
      << "heads " << heads << "/" << kv_heads << " hd " << hd << " window " << window;
}

TEST(DecodeAttention, EqualsPerRowSdpa) {
  expect_kernel_equals_sdpa(9, 3, 64, 0);   // SmolLM2's heads
  expect_kernel_equals_sdpa(4, 4, 13, 0);   // no grouping; head_dim with a tail
  expect_kernel_equals_sdpa(8, 2, 32, 16);  // a sliding window shorter than most rows
  expect_kernel_equals_sdpa(2, 1, 72, 0);   // head_dim past one 64-float span (Gemma-3: 256)
}

TEST(DecodeAttention, LeavesTheRestToSdpa) {
  const at::Tensor q = at::randn({1, 4, 1, 8});
  const std::vector<at::Tensor> k{at::randn({1, 2, 5, 8})};
  EXPECT_TRUE(decode_attention_applies(q, k, k));
  EXPECT_FALSE(decode_attention_applies(q.to(at::kBFloat16), k, k));
  EXPECT_FALSE(decode_attention_applies(q, {at::randn({1, 3, 5, 8})}, {at::randn({1, 3, 5, 8})}));
  EXPECT_FALSE(decode_attention_applies(q, {at::randn({1, 2, 8, 5}).transpose(2, 3)},
                                        {at::randn({1, 2, 5, 8})}));
}

}  // namespace
