// The AttnLRP rules, one small function each, in LXT's efficient form.
//
// Relevance of a state h is h ⊙ g, where g is a *modified* gradient: the
// backward of every op is the plain gradient except for the few ops below.
// Each function takes the gradient at an op's output and returns the
// (modified) gradient at its input(s). Derivations: docs/lrp.md.
//
// Tensors: gradients carry a leading batch of seeds [B, ...]; forward
// activations have batch 1 and broadcast against them.
#pragma once

#include <ATen/core/Tensor.h>

namespace clrp::lrp {

/// Which rule set a run uses.
enum class Rule {
  AttnLRP,     ///< AttnLRP (Achtibat et al. 2024) as LXT's efficient mode
  CPLRP,       ///< CP-LRP: queries, keys and the MLP gate held constant
  GradXInput,  ///< plain gradient × input (the baseline)
};

const char* to_string(Rule r);
/// Parses "attnlrp", "cp-lrp", "grad-x-input"; throws clrp::Error otherwise.
Rule parse_rule(const std::string& name);

/// Stabiliser of the identity rule, as LXT's: act(x) / (x + eps).
inline constexpr double kIdentityRuleEps = 1e-10;

/// Identity rule for an elementwise activation y = act(x):
///   g_x = g_y · act(x) / (x + ε)
/// i.e. the relevance y·g_y passes to x unchanged (x·g_x = y·g_y up to ε).
at::Tensor identity_rule(const at::Tensor& g_y, const at::Tensor& x, const at::Tensor& y);

/// RMSNorm y = w ⊙ x · r with r = rsqrt(mean(x²) + eps).
/// LRP rules: r is a constant, so g_x = r · w ⊙ g_y (linear, conservative).
/// grad×input: the full gradient, g_x = r·w⊙g − x·r³·mean(x ⊙ w ⊙ g).
at::Tensor rmsnorm_backward(Rule rule, const at::Tensor& g_y, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& r);

/// LayerNorm y = w ⊙ (x − mean(x)) · r + b with r = 1/sqrt(var(x) + eps).
/// LRP rules: r is a constant and the centring stays linear, so
///   g_x = u − mean(u),  u = r · w ⊙ g_y   (the centring's Jacobian is symmetric).
/// grad×input: the full gradient, g_x = r·(u' − mean(u') − x̂·mean(u' ⊙ x̂)), u' = w⊙g, x̂ =
/// (x−mean)·r.
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
