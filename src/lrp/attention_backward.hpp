// The plain gradient of softmax attention, through ATen's fused kernels.
//
// AttnLRP's attention rule is the plain gradient with fixed shares applied
// afterwards (q and k ¼, v ½; under CP-LRP v alone, whole), so the heavy part
// is an ordinary attention backward. ATen's fused kernels (flash attention on
// the CPU, memory-efficient attention on CUDA) compute it blockwise: O(T)
// memory instead of T×T probabilities, and the masked upper triangle skipped.
// Where a kernel rejects its inputs (e.g. an unaligned mask on CUDA), the
// explicit T×T computation is used instead; both give the same numbers up to
// float rounding. Internal to the LRP module.
#pragma once

#include <ATen/core/Tensor.h>

namespace clrp::lrp::detail {

struct AttentionGradients {
  at::Tensor q, k, v;  ///< [B, heads, T, hd] each
};

/// Plain gradients of O = softmax(q·kᵀ·scale + mask)·v for B output gradients.
/// q, k, v: [1, heads, T, hd] (k and v already expanded to the query heads);
/// g_o: [B, heads, T, hd]; mask: [T, T] additive (0 / −inf), or undefined for
/// plain causal attention.
AttentionGradients attention_backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                      const at::Tensor& g_o, const at::Tensor& mask, double scale);

/// The same with explicit T×T probabilities: the fallback, and the reference
/// the fused path is tested against.
AttentionGradients attention_backward_explicit(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& g_o,
                                               const at::Tensor& mask, double scale);

}  // namespace clrp::lrp::detail
