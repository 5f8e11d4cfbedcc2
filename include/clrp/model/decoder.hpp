// The decoder-only transformer, built for a range of layers.
//
// A DecoderModel owns the weights of layers [begin, end) and, when the range
// starts at 0, the embedding; when it ends at the last layer, the final norm
// and the unembedding. Running [0, a) and then [a, L) on its output equals
// running the whole model: this seam is what pipeline stages, layer-by-layer
// LRP and long-context recomputation are built on.
//
// Tensors are float32, laid out [batch, tokens, hidden]. Forward passes here
// record no autograd graph; the LRP engine has its own backward.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/config.hpp"

namespace clrp::model {

struct LayerRange {
  std::int64_t begin = 0;
  std::int64_t end = -1;  ///< -1: up to the last layer
};

/// The weights of one block, in Hugging Face layout ([out, in] matrices).
/// q/k/v and gate/up are fused into one matrix each (one GEMM instead of three).
struct BlockWeights {
  at::Tensor attn_norm_weight, attn_norm_bias;
  at::Tensor qkv_weight, qkv_bias;  ///< rows: q (heads*hd), k (kv*hd), v (kv*hd)
  at::Tensor out_weight, out_bias;
  at::Tensor mlp_norm_weight, mlp_norm_bias;
  at::Tensor gate_up_weight, gate_up_bias;  ///< rows: gate (I) then up (I); only up when not gated
  at::Tensor down_weight, down_bias;
};

/// What one layer's forward leaves behind for a backward pass through it (the
/// LRP engine's). Forward activations, batch 1. Attention probabilities are
/// not kept: the backward recomputes them from q and k, as flash attention does.
struct LayerTape {
  at::Tensor input;        ///< [1, T, H] residual stream entering the layer
  at::Tensor attn_norm_r;  ///< [1, T, 1] rsqrt(mean(x²)+eps) (RMSNorm) or 1/std (LayerNorm)
  at::Tensor q, k, v;      ///< [1, heads|kv_heads, T, hd], q and k after rotary
  at::Tensor attn_heads;   ///< [1, T, heads*hd] attention output before the output projection
  at::Tensor mid;          ///< [1, T, H] residual stream after the attention block
  at::Tensor mlp_norm_r;   ///< [1, T, 1]
  at::Tensor mlp_pre;      ///< [1, T, 2I] gate|up pre-activations (gated) or [1, T, I]
  at::Tensor mlp_act;      ///< [1, T, I] act(gate) (gated) or act(up)
  at::Tensor mlp_inner;    ///< [1, T, I] input of the down projection (the neurons)
};

/// Rotary tables for a set of positions: cos and sin of shape [tokens, rotary_dim].
struct RotaryTables {
  at::Tensor cos, sin;
};

class DecoderModel {
 public:
  DecoderModel(const Checkpoint& checkpoint, LayerRange range = {});

  const ModelConfig& config() const { return config_; }
  std::int64_t layer_begin() const { return begin_; }
  std::int64_t layer_end() const { return end_; }
  bool has_embedding() const { return begin_ == 0; }
  bool has_head() const { return end_ == config_.num_layers; }
  const BlockWeights& block(std::int64_t layer) const { return blocks_.at(layer - begin_); }

  /// ids [batch, tokens] (int64) -> hidden states [batch, tokens, hidden]. First stage only.
  at::Tensor embed(const at::Tensor& ids) const;
  /// Runs layers [begin, end) on `hidden`; `positions` [tokens] (int64) are the
  /// absolute positions of the tokens (0..T-1 for a fresh prompt).
  at::Tensor run_layers(at::Tensor hidden, const at::Tensor& positions) const;
  /// Runs one layer (absolute index) on `hidden`; fills `tape` when given (for a backward).
  at::Tensor run_layer(std::int64_t layer, const at::Tensor& hidden, const RotaryTables& rope,
                       LayerTape* tape = nullptr) const;
  /// Final norm and unembedding: hidden [batch, tokens, hidden] -> logits [batch, tokens, vocab].
  /// Last stage only.
  at::Tensor unembed(const at::Tensor& hidden) const;
  /// The whole range: embed (if first stage), layers, unembed (if last stage).
  at::Tensor forward(const at::Tensor& ids) const;

  RotaryTables rotary(const at::Tensor& positions) const;
  /// The inverse frequencies after rope scaling, [rotary_dim / 2].
  const at::Tensor& inv_freq() const { return inv_freq_; }
  /// Applies the model's norm (RMSNorm or LayerNorm) with the given weight/bias;
  /// stores the normalising factor in `*r` when given.
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  at::Tensor* r = nullptr) const;
  const at::Tensor& final_norm_weight() const { return final_norm_weight_; }
  const at::Tensor& lm_head_weight() const { return lm_head_weight_; }

 private:
  at::Tensor attention(const BlockWeights& w, const at::Tensor& x, const RotaryTables& rope,
                       LayerTape* tape) const;
  at::Tensor mlp(const BlockWeights& w, const at::Tensor& x, LayerTape* tape) const;

  ModelConfig config_;
  std::int64_t begin_ = 0, end_ = 0;
  at::Tensor embed_weight_;  ///< [vocab, hidden], first stage (and last stage when tied)
  at::Tensor final_norm_weight_, final_norm_bias_;
  at::Tensor lm_head_weight_;  ///< [vocab, hidden], last stage (aliases embed_weight_ when tied)
  std::vector<BlockWeights> blocks_;
  at::Tensor inv_freq_;
};

/// Applies rotary embedding (Hugging Face rotate-half layout) to x [batch, heads, tokens,
/// head_dim]; only the first rotary_dim features rotate.
at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& rope);

}  // namespace clrp::model
