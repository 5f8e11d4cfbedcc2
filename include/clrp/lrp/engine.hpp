// Contrastive LRP in one rule-modified backward pass, layer by layer.
//
// The engine runs the model forward once (recording a LayerTape per layer),
// seeds the output with one or more target vectors over the vocabulary at
// chosen positions (a batch of B seeds sharing the forward: multi-target),
// and walks the layers backwards through the same layer-range seam the
// forward uses. Each layer's backward takes the modified gradient at its
// output and returns the one at its input; relevance of a state h is h ⊙ g
// summed over the hidden dimension.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "clrp/lrp/rules.hpp"
#include "clrp/model/decoder.hpp"

namespace clrp::lrp {

/// One backward target: `weights` [vocab] applied to the logits at `position`.
/// Contrastive: +1 on the wrong token, −1 on the correct one, so the
/// output-level relevance is Δℓ = logit(wrong) − logit(correct).
struct Seed {
  std::int64_t position = -1;
  at::Tensor weights;  ///< [vocab], float32

  static Seed contrastive(std::int64_t position, std::int64_t wrong, std::int64_t correct,
                          std::int64_t vocab);
  static Seed single(std::int64_t position, std::int64_t token, std::int64_t vocab);
};

/// What to record; nothing unasked costs memory.
struct RecordOptions {
  bool residual = false;  ///< per (layer, position): after attention ("mid") and after the MLP
  bool heads = false;     ///< per (layer, head)
};

/// The result for a batch of B seeds over T tokens and L layers.
struct Explanation {
  at::Tensor target;           ///< [B] output-level relevance (Δℓ for a contrastive seed)
  at::Tensor token_relevance;  ///< [B, T] at the embedding output
  at::Tensor mid_relevance;    ///< [B, L, T] residual after each attention block (when asked)
  at::Tensor layer_relevance;  ///< [B, L, T] residual after each layer (when asked)
  at::Tensor head_relevance;   ///< [B, L, heads] (when asked)
  at::Tensor logits;           ///< [B, vocab] logits at each seed's position
};

class Engine {
 public:
  explicit Engine(const model::DecoderModel& model) : model_(model) {}

  /// Explains `seeds` on the token sequence `ids` (int64 [T]) under `rule`.
  Explanation explain(const at::Tensor& ids, const std::vector<Seed>& seeds, Rule rule,
                      const RecordOptions& record = {}) const;

  /// One layer's modified backward: g_out [B, T, H] at the layer output ->
  /// g_in at its input. `g_mid` receives the gradient at the mid residual when given.
  at::Tensor backward_layer(std::int64_t layer, const model::LayerTape& tape,
                            const model::RotaryTables& rope, const at::Tensor& g_out, Rule rule,
                            at::Tensor* g_mid = nullptr, at::Tensor* g_heads = nullptr) const;

 private:
  at::Tensor backward_mlp(const model::BlockWeights& w, const model::LayerTape& tape,
                          const at::Tensor& g_out, Rule rule) const;
  at::Tensor backward_attention(const model::BlockWeights& w, const model::LayerTape& tape,
                                const model::RotaryTables& rope, const at::Tensor& g_out, Rule rule,
                                at::Tensor* g_heads) const;

  const model::DecoderModel& model_;
};

}  // namespace clrp::lrp
