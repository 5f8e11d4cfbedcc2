// The LRP rules as data, and the few backward primitives where rules differ.
//
// Relevance of a state h is h ⊙ g, where g is a *modified* gradient: the
// backward of every op is the plain gradient except where a rule says
// otherwise. Following LXT's efficient mode, a rule differs from the plain
// gradient in three places only, and a RuleDescription says what it does in
// each:
//   - products of two activations (attention's Q·Kᵀ and P·V, the gated MLP's
//     act(gate) ⊙ up): each factor takes a share of the plain gradient;
//   - norms: their normalising factor is a constant (LRP), or takes its full
//     gradient (gradient × input);
//   - elementwise activations: the identity rule, or the plain derivative.
// The engine (engine.hpp) and the attribution-graph builder read only the
// description, so adding a rule is one entry in the table of rule_table.cpp (or,
// in tests, one register_rule call) plus its tests. Derivations: docs/lrp.md.
//
// Tensors: gradients carry a leading batch of seeds [B, ...]; forward
// activations have batch 1 and broadcast against them.
#pragma once

#include <ATen/core/Tensor.h>

#include "clrp/lrp/rule_table.hpp"

namespace clrp::lrp {

/// The share `share` of a gradient: g·share, exactly g for 1 and zeros for 0
/// (a factor held constant takes nothing, not even the NaN of 0·∞).
at::Tensor share_of(const at::Tensor& g, double share);

/// Stabiliser of the identity rule, as LXT's: act(x) / (x + eps).
inline constexpr double kIdentityRuleEps = 1e-10;

/// Identity rule for an elementwise activation y = act(x):
///   g_x = g_y · act(x) / (x + ε)
/// i.e. the relevance y·g_y passes to x unchanged (x·g_x = y·g_y up to ε).
at::Tensor identity_rule(const at::Tensor& g_y, const at::Tensor& x, const at::Tensor& y);

/// RMSNorm y = w ⊙ x · r with r = rsqrt(mean(x²) + eps).
/// Constant norms (the LRP rules): r is a constant, so g_x = r · w ⊙ g_y
/// (linear, conservative). Otherwise (grad×input) the full gradient, g_x = r·w⊙g − x·r³·mean(x ⊙ w
/// ⊙ g).
at::Tensor rmsnorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& r);

/// LayerNorm y = w ⊙ (x − mean(x)) · r + b with r = 1/sqrt(var(x) + eps).
/// Constant norms (the LRP rules): r is a constant and the centring stays linear, so
///   g_x = u − mean(u),  u = r · w ⊙ g_y   (the centring's Jacobian is symmetric).
/// Otherwise (grad×input) the full gradient, g_x = r·(u' − mean(u') − x̂·mean(u' ⊙ x̂)), u' = w⊙g, x̂
/// = (x−mean)·r.
at::Tensor layernorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                              const at::Tensor& weight, const at::Tensor& r);

/// Softmax p = softmax(s) along the last axis: plain gradient
///   g_s = p ⊙ (g_p − Σ_j g_p,j p_j).
/// With gradient × input this is the AttnLRP softmax rule (s ⊙ g_s).
at::Tensor softmax_backward(const at::Tensor& g_p, const at::Tensor& p);

/// Inverse of the rotate-half rotary embedding y = x·cos + rot(x)·sin,
/// rot(x) = [−x₂, x₁]: g_x = g·cos + rotᵀ(g·sin), rotᵀ(u) = [u₂, −u₁].
/// Only the first cos.size(-1) features rotate; the rest pass through.
at::Tensor rotary_backward(const at::Tensor& g_y, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace clrp::lrp
