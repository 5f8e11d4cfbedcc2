// Closed-form edges of an attention transition, for all targets at once.
//
// For a target j seeded with g (the main pass's gradient at the residual after
// the attention block, held fixed), the rule-modified backward through
// O = P·V and S = Q·Kᵀ·scale gives, per head h, with G_o = g at the heads'
// outputs (through o_proj and any post-norm), dP = G_o·Vᵀ and
// dS = P ⊙ (dP − rowsum(P ⊙ dP)):
//   value path      A[j,i] += s_v · Σ_h P[j,i] · ⟨G_o[j], ṽ_i⟩
//   key path        A[j,i] += s_k · Σ_h dS[j,i] · scale·⟨q_j, k̃_i⟩
//   query path      A[j,j] += s_q · Σ_h Σ_i dS[j,i] · scale·⟨q̃_j, k_i⟩
//   residual path   A[j,j] += ⟨h_in[j], g[j]⟩
// where x̃ is the part of x linear in the layer input (biases removed, norm
// factors held constant as the rules do), and (s_q, s_k, s_v) the rule's shares
// (lrp::RuleDescription::attention; AttnLRP ¼, ¼, ½, CP-LRP 0, 0, 1). Without
// biases x̃ = x, so ⟨G_o, ṽ⟩ is dP and scale·⟨q, k̃⟩ is S itself. A block of
// target rows costs a few [heads, rows, keys] products, like an attention pass.
// Internal to graph/.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "clrp/graph/graph.hpp"

namespace clrp::graph::detail {

struct AttentionEdgeInputs {
  at::Tensor q, k, v;  ///< [heads, T, hd], k and v expanded to the query heads
  /// The bias-free parts of q, k, v; undefined where they equal q, k, v.
  at::Tensor q_linear, k_linear, v_linear;
  at::Tensor g_heads;   ///< [heads, T, hd] gradient at the heads' outputs (one seed)
  at::Tensor diagonal;  ///< [T] float32: relevance through the paths that skip attention
  at::Tensor allowed;   ///< [T, T] bool (sliding window), or undefined (causal)
  double scale = 1.0;
  double q_share = 0, k_share = 0, v_share = 0;
};

/// The unpruned edges into `targets` (ascending positions) from every source
/// position up to the last target: an EdgeBlock of [rows, targets.back() + 1].
EdgeBlock attention_edge_block(const AttentionEdgeInputs& in,
                               const std::vector<std::int64_t>& targets);

}  // namespace clrp::graph::detail
