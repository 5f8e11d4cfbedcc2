#include "attention_backward.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "clrp/lrp/rules.hpp"

namespace clrp::lrp::detail {

namespace {

at::Tensor batched(const at::Tensor& t, std::int64_t b) {
  return t.size(0) == b ? t.contiguous()
                        : t.expand({b, t.size(1), t.size(2), t.size(3)}).contiguous();
}

}  // namespace

AttentionGradients attention_backward_explicit(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& g_o,
                                               const at::Tensor& mask, double scale) {
  const std::int64_t t = q.size(2), nh = q.size(1);
  const at::Tensor m =
      mask.defined()
          ? mask
          : at::full({t, t}, -std::numeric_limits<double>::infinity(), q.options()).triu(1);
  const at::Tensor p =
      at::softmax(at::baddbmm(m.expand({nh, t, t}), q[0], k[0].transpose(-1, -2), 1.0, scale), -1)
          .unsqueeze(0);  // [1, nh, T, T]
  const at::Tensor g_v = at::matmul(p.transpose(-1, -2), g_o);
  const at::Tensor g_p = at::matmul(g_o, v.transpose(-1, -2));
  const at::Tensor g_s = softmax_backward(g_p, p);  // p broadcasts over the B seeds
  return {at::matmul(g_s, k) * scale, at::matmul(g_s.transpose(-1, -2), q) * scale, g_v};
}

namespace {

AttentionGradients cpu_flash_backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& g_o, const at::Tensor& mask, double scale) {
  const std::int64_t b = g_o.size(0);
  const bool causal = !mask.defined();
  std::optional<at::Tensor> m;
  if (!causal) m = mask.view({1, 1, mask.size(0), mask.size(1)});
  // The forward is recomputed once (batch 1) for its output and log-sum-exp.
  auto [out, lse] = at::_scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, m, scale);
  auto [g_q, g_k, g_v] = at::_scaled_dot_product_flash_attention_for_cpu_backward(
      g_o.contiguous(), batched(q, b), batched(k, b), batched(v, b), batched(out, b),
      lse.size(0) == b ? lse : lse.expand({b, lse.size(1), lse.size(2)}).contiguous(), 0.0, causal,
      m, scale);
  return {g_q, g_k, g_v};
}

AttentionGradients cuda_efficient_backward(const at::Tensor& q, const at::Tensor& k,
                                           const at::Tensor& v, const at::Tensor& g_o,
                                           const at::Tensor& mask, double scale) {
  const std::int64_t b = g_o.size(0), nh = q.size(1), t = q.size(2);
  const bool causal = !mask.defined();
  std::optional<at::Tensor> bias;
  if (!causal) bias = mask.expand({b, nh, t, t});
  const at::Tensor qb = batched(q, b), kb = batched(k, b), vb = batched(v, b);
  auto [out, lse, seed, offset] =
      at::_scaled_dot_product_efficient_attention(qb, kb, vb, bias, true, 0.0, causal, scale);
  auto [g_q, g_k, g_v, g_bias] = at::_scaled_dot_product_efficient_attention_backward(
      g_o.contiguous(), qb, kb, vb, causal ? at::Tensor() : *bias, out, lse, seed, offset, 0.0,
      {true, true, true, false}, causal, scale);
  return {g_q, g_k, g_v};
}

}  // namespace

AttentionGradients attention_backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& g_o, const at::Tensor& mask, double scale) {
  try {
    if (q.is_cpu()) return cpu_flash_backward(q, k, v, g_o, mask, scale);
    if (q.is_cuda()) return cuda_efficient_backward(q, k, v, g_o, mask, scale);
  } catch (const c10::Error&) {
    // The fused kernel does not take these inputs; the explicit path always does.
  }
  return attention_backward_explicit(q, k, v, g_o, mask, scale);
}

}  // namespace clrp::lrp::detail
