// The decoder-only transformer, built for a range of layers.
//
// A DecoderModel owns the weights of layers [begin, end) and, when the range
// starts at 0, the embedding; when it ends at the last layer, the final norm
// and the unembedding. Running [0, a) and then [a, L) on its output equals
// running the whole model: this seam is what pipeline stages, layer-by-layer
// LRP and long-context recomputation are built on.
//
// Every supported family is this one block with switches (ModelConfig): norm
// kind and placement, q/k norms, gated or plain MLP, biases, rotary or
// learned positions, sliding windows, sequential or parallel residual.
//
// Tensors are laid out [batch, tokens, hidden], in the compute dtype
// (float32 or bfloat16) on the compute device. Forward passes here record no
// autograd graph; the LRP engine has its own backward.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/compute.hpp"
#include "clrp/model/config.hpp"
#include "clrp/model/incremental.hpp"
#include "clrp/model/kv_cache.hpp"
#include "clrp/model/zeroed_state.hpp"

namespace clrp::model {

/// The weights of one block, in Hugging Face layout ([out, in] matrices).
/// q/k/v and gate/up are fused into one matrix each (one GEMM instead of three);
/// norm weights already include Gemma's "+1". Absent parts are undefined tensors.
struct BlockWeights {
  at::Tensor attn_norm_weight, attn_norm_bias;  ///< before attention (pre-norm)
  at::Tensor attn_post_norm_weight;             ///< after attention (Gemma-3, OLMo-2)
  at::Tensor q_norm_weight, k_norm_weight;      ///< [head_dim] or [heads*head_dim]
  at::Tensor qkv_weight, qkv_bias;              ///< rows: q (heads*hd), k (kv*hd), v (kv*hd)
  at::Tensor out_weight, out_bias;
  at::Tensor mlp_norm_weight, mlp_norm_bias;  ///< before the MLP (pre-norm)
  at::Tensor mlp_post_norm_weight;            ///< after the MLP (Gemma-3, OLMo-2)
  at::Tensor gate_up_weight, gate_up_bias;  ///< rows: gate (I) then up (I); only up when not gated
  at::Tensor down_weight, down_bias;
};

/// The weights outside the blocks.
struct StemWeights {
  at::Tensor embed;           ///< [vocab, hidden] token embedding
  at::Tensor position_embed;  ///< [max_positions, hidden] learned positions (GPT-2)
  at::Tensor final_norm_weight, final_norm_bias;
  at::Tensor lm_head;  ///< [vocab, hidden] (aliases embed when tied)
};

/// Lengths of token sequences packed one after another along the token axis
/// of a batch-1 forward (empty or one entry: a single sequence). Attention
/// stays inside each sequence and positions restart at 0 in each; every other
/// operation works token by token, so a packed forward equals each sequence's
/// own (up to floating-point reassociation in the larger matrix products).
/// Short sequences packed make fewer, larger operations: what batched
/// explanation is built on.
using Packing = std::vector<std::int64_t>;

/// The positions of `tokens` tokens under `packing`: 0..n-1 for each sequence
/// (0..tokens-1 for a single one), int64 on the CPU. clrp::Error when the
/// lengths do not add up to `tokens`.
at::Tensor packed_positions(const Packing& packing, std::int64_t tokens);

/// Sequences of the given lengths packed in order: consecutive ones share a
/// packing while their tokens fit `max_tokens` (one longer than that goes
/// alone; 0: every sequence alone).
std::vector<Packing> pack_in_order(const std::vector<std::int64_t>& lengths,
                                   std::int64_t max_tokens);

/// What one layer's forward leaves behind for a backward pass through it (the
/// LRP engine's). Forward activations, batch 1. Attention probabilities are
/// not kept: the backward recomputes them from q and k, as flash attention does.
struct LayerTape {
  at::Tensor input;               ///< [1, T, H] residual stream entering the layer
  at::Tensor attn_norm_r;         ///< [1, T, 1] rsqrt(mean(x²)+eps) (RMSNorm) or 1/std (LayerNorm)
  at::Tensor q_raw, k_raw;        ///< q, k before their norm (only with q/k norms), as normed
  at::Tensor q_norm_r, k_norm_r;  ///< their normalising factors
  at::Tensor q, k, v;             ///< [1, heads|kv_heads, T, hd], q and k after norm and rotary
  at::Tensor attn_heads;   ///< [1, T, heads*hd] attention output before the output projection
  at::Tensor attn_out;     ///< [1, T, H] attention branch before its post-norm (when it has one)
  at::Tensor attn_post_r;  ///< [1, T, 1]
  at::Tensor mid;          ///< [1, T, H] residual after the attention block (sequential layout)
  at::Tensor mlp_norm_r;   ///< [1, T, 1]
  at::Tensor mlp_pre;      ///< [1, T, 2I] gate|up pre-activations (gated) or [1, T, I]
  at::Tensor mlp_act;      ///< [1, T, I] act(gate) (gated) or act(up)
  at::Tensor mlp_inner;    ///< [1, T, I] input of the down projection (the neurons)
  at::Tensor mlp_out;      ///< [1, T, H] MLP branch before its post-norm (when it has one)
  at::Tensor mlp_post_r;   ///< [1, T, 1]
  Packing packing;         ///< the sequences of a packed forward (empty: one)
};

/// `h` [1, T, H] with the rows of the `states` at (`point`, `layer`) set to
/// zero; `h` itself when there are none.
at::Tensor zero_states(const at::Tensor& h, std::span<const ZeroedState> states, StatePoint point,
                       std::int64_t layer);

/// Rotary tables for a set of positions: cos and sin of shape [tokens, rotary_dim],
/// in the compute dtype. `local` is the table of sliding-window layers that
/// use their own base (Gemma-3, OLMo-3); undefined when no layer does.
struct RotaryTables {
  at::Tensor cos, sin;
  at::Tensor local_cos, local_sin;

  const at::Tensor& cos_for(LayerRope r) const { return r == LayerRope::Local ? local_cos : cos; }
  const at::Tensor& sin_for(LayerRope r) const { return r == LayerRope::Local ? local_sin : sin; }
};

class DecoderModel final : public IncrementalModel {
 public:
  DecoderModel(const Checkpoint& checkpoint, LayerRange range = {}, ComputeOptions compute = {});

  const ModelConfig& config() const override { return config_; }
  const ComputeOptions& compute() const { return compute_; }
  /// Options for new activations: the compute dtype on the compute device.
  at::TensorOptions options() const;
  std::int64_t layer_begin() const { return begin_; }
  std::int64_t layer_end() const { return end_; }
  bool has_embedding() const { return begin_ == 0; }
  bool has_head() const { return end_ == config_.num_layers; }
  const BlockWeights& block(std::int64_t layer) const { return blocks_.at(layer - begin_); }

  /// ids [batch, tokens] (int64, any device) -> hidden states [batch, tokens, hidden]:
  /// token embeddings (scaled, for Gemma) plus learned positions 0..T-1 (GPT-2;
  /// from 0 in each sequence of a `packing`). First stage only. `zeroed`
  /// (bool [tokens], optional) marks tokens whose token embedding is replaced
  /// by zeros, their position kept (lrp/faithfulness.hpp's zero operator).
  at::Tensor embed(const at::Tensor& ids, const Packing& packing = {},
                   const at::Tensor& zeroed = {}) const;
  /// The token-embedding part of embed() alone: what token relevance is measured on.
  at::Tensor embed_tokens(const at::Tensor& ids) const;
  /// Runs layers [begin, end) on `hidden`; `positions` [tokens] (int64) are the
  /// absolute positions of the tokens (0..T-1 for a fresh prompt).
  /// With a `packing`, `hidden` [1, T, H] holds several sequences and `positions`
  /// are their packed_positions(). `zeroed` states of these layers are set to
  /// zero as the forward passes them (graph interventions).
  at::Tensor run_layers(at::Tensor hidden, const at::Tensor& positions, const Packing& packing = {},
                        std::span<const ZeroedState> zeroed = {}) const;
  /// Runs one layer (absolute index) on `hidden`; fills `tape` when given (for a
  /// backward). With a `packing`, `hidden` [1, T, H] holds several sequences
  /// (and `rope` their packed_positions()). `zeroed` output states of this
  /// layer are set to zero (mid states are refused: zeroed_state.hpp).
  at::Tensor run_layer(std::int64_t layer, const at::Tensor& hidden, const RotaryTables& rope,
                       LayerTape* tape = nullptr, const Packing& packing = {},
                       std::span<const ZeroedState> zeroed = {}) const;
  /// Final norm and unembedding: hidden [batch, tokens, hidden] -> logits [batch, tokens, vocab].
  /// Last stage only.
  at::Tensor unembed(const at::Tensor& hidden) const;
  /// The whole range: embed (if first stage), layers, unembed (if last stage).
  at::Tensor forward(const at::Tensor& ids) const;
  /// Incremental decoding over the whole model (kv_cache.cpp), as
  /// IncrementalModel states it. Equal to forward() on the whole sequence up
  /// to floating-point reassociation.
  at::Tensor forward_cached(const at::Tensor& ids, KvCache& cache,
                            bool last_only = false) const override;
  /// One decoding step of several sequences (continuous batching,
  /// kv_cache.cpp): the projections and MLPs run on every row at once,
  /// attention per row over its own cache. Equal to forward_cached() of each
  /// sequence alone up to floating-point reassociation.
  at::Tensor forward_step(const std::vector<std::int32_t>& ids,
                          const std::vector<KvCache*>& caches) const override;

  // The two halves of forward_cached / forward_step, for a model split over
  // pipeline stages (dist/staged_decoder.hpp): the first stage reads the
  // tokens, every stage runs its layers over its own share of the caches, the
  // last one unembeds.
  /// First stage: checks the request, embeds `ids` [batch, tokens] at
  /// positions cache.length.., reserves room in `cache`, runs this range's
  /// layers and advances the cache. Returns the hidden states after them.
  at::Tensor read_cached(const at::Tensor& ids, KvCache& cache) const;
  /// First stage: the same for one token per cache (forward_step's rows).
  at::Tensor read_step(const std::vector<std::int32_t>& ids,
                       const std::vector<KvCache*>& caches) const;
  /// Any stage: runs this range's layers on `hidden` [batch, tokens, hidden]
  /// at positions cache.length.. over `cache`, whose room is already
  /// reserved for them (it is not advanced).
  at::Tensor run_layers_cached(at::Tensor hidden, KvCache& cache) const;
  /// Any stage: runs this range's layers on one token per row, row i at
  /// position caches[i]->length over its cache (reserved, not advanced).
  at::Tensor run_layers_rows(at::Tensor hidden, const std::vector<KvCache*>& caches) const;

  RotaryTables rotary(const at::Tensor& positions) const;
  /// The inverse frequencies after rope scaling, [rotary_dim / 2] (undefined for learned
  /// positions).
  const at::Tensor& inv_freq() const { return inv_freq_; }
  /// Applies the model's norm (RMSNorm or LayerNorm) with the given weight/bias;
  /// stores the normalising factor in `*r` when given.
  at::Tensor norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  at::Tensor* r = nullptr) const;
  /// The query/key norm (RMSNorm over the last axis); factor in `*r` when given.
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, at::Tensor* r = nullptr) const;
  const at::Tensor& final_norm_weight() const { return stem_.final_norm_weight; }
  const at::Tensor& final_norm_bias() const { return stem_.final_norm_bias; }
  const at::Tensor& lm_head_weight() const { return stem_.lm_head; }
  /// The causal (and, for sliding-window layers, banded) mask of a layer for T
  /// tokens: [T, T] bool, true where attention is allowed. Undefined for a plain
  /// causal layer, which needs none.
  at::Tensor attention_mask(std::int64_t layer, std::int64_t tokens) const;

 private:
  /// Where a layer's attention finds the earlier tokens: nowhere (a whole
  /// sequence, causal; or several packed ones, each causal), in one cache for
  /// every row, or in a cache per row (one new token each: forward_step).
  struct Caches {
    KvCache* shared = nullptr;
    const std::vector<KvCache*>* rows = nullptr;
    const Packing* packing = nullptr;  ///< several sequences, no cache
  };
  /// Causal self-attention of one whole sequence (q [b, heads, t, hd]).
  at::Tensor self_attention(std::int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v) const;
  at::Tensor attention(const BlockWeights& w, std::int64_t layer, const at::Tensor& x,
                       const RotaryTables& rope, LayerTape* tape, Caches caches) const;
  /// Attention of one new token per row over its own cache (Caches::rows).
  at::Tensor attention_rows(std::int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const std::vector<KvCache*>& rows) const;
  /// run_layer, reading and extending the caches when given (none: run_layer exactly).
  at::Tensor run_layer_impl(std::int64_t layer, const at::Tensor& hidden, const RotaryTables& rope,
                            LayerTape* tape, Caches caches) const;
  /// The mask of queries at positions [start, start + tokens) over keys [0, start + tokens).
  at::Tensor cached_attention_mask(std::int64_t layer, std::int64_t start,
                                   std::int64_t tokens) const;
  at::Tensor mlp(const BlockWeights& w, const at::Tensor& x, LayerTape* tape) const;

  ModelConfig config_;
  ComputeOptions compute_;
  std::int64_t begin_ = 0, end_ = 0;
  StemWeights stem_;  ///< embedding on the first stage, head on the last
  std::vector<BlockWeights> blocks_;
  at::Tensor inv_freq_, local_inv_freq_;
};

/// Applies rotary embedding (Hugging Face rotate-half layout) to x [batch, heads, tokens,
/// head_dim] with the tables cos/sin [tokens, rotary_dim]; only the first rotary_dim
/// features rotate.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace clrp::model
