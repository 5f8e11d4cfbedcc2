// Contrastive LRP in one rule-modified backward pass, layer by layer.
//
// The engine runs the model forward once (recording a LayerTape per layer),
// seeds the output with one or more target vectors over the vocabulary at
// chosen positions (a batch of B seeds sharing the forward: multi-target),
// and walks the layers backwards through the same layer-range seam the
// forward uses. Each layer's backward takes the modified gradient at its
// output and returns the one at its input; relevance of a state h is h ⊙ g
// summed over the hidden dimension.
//
// Batched explanation: several short sequences packed along the token axis
// (model::Packing) run as one forward and one backward per rule. Attention
// stays inside each sequence and everything else works token by token, so
// each sequence's relevance equals its own explanation; the seeds of all
// sequences share one backward (they touch disjoint tokens). unpack() gives
// each sequence's Explanation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "clrp/lrp/rules.hpp"
#include "clrp/model/decoder.hpp"

namespace clrp::lrp {

/// One backward target: `weights` [vocab] applied to the logits at `position`
/// (negative: from the end, −1 the last token). Contrastive: +1 on the wrong
/// token, −1 on the correct one, so the output-level relevance is
/// Δℓ = logit(wrong) − logit(correct).
struct Seed {
  std::int64_t position = -1;
  at::Tensor weights;  ///< [vocab], float32

  static Seed contrastive(std::int64_t position, std::int64_t wrong, std::int64_t correct,
                          std::int64_t vocab);
  static Seed single(std::int64_t position, std::int64_t token, std::int64_t vocab);
};

/// What to record; nothing unasked costs memory.
struct RecordOptions {
  bool residual = false;     ///< per (layer, position): after attention ("mid") and after the MLP
  bool heads = false;        ///< per (layer, head)
  std::int64_t neurons = 0;  ///< top-k MLP neurons per layer by |relevance| summed over positions
};

/// What a layer's backward hands back besides the gradient at its input.
struct LayerGradients {
  at::Tensor mid;      ///< [B, T, H] gradient at the residual after attention (sequential)
  at::Tensor heads;    ///< [B, T, heads*hd] gradient at the attention output before o_proj
  at::Tensor neurons;  ///< [B, T, I] gradient at the down projection's input
  /// [B, T] relevance taken up by the layer's biases (and norms') at each token:
  /// Σ over features of b ⊙ g
  at::Tensor bias_absorbed;
};

/// Relevance of a state: h ⊙ g summed over the hidden (last) axis, [.., T, H]
/// -> [.., T], in float32 on g's device.
at::Tensor relevance(const at::Tensor& h, const at::Tensor& g);

/// How far a rule is from conserving relevance: (total − target) / |target|,
/// with `total` the relevance summed over the tokens and `target` Δℓ (the
/// output-level relevance); `total` itself when the target is 0.
double conservation_error(double total, double target);

/// The forward state of a layer range: a tape per layer, for the backward.
struct ForwardState {
  std::int64_t begin = 0;  ///< first layer of the range
  model::Packing packing;  ///< the sequences of a packed forward (empty: one)
  model::RotaryTables rope;
  std::vector<model::LayerTape> tapes;  ///< per layer (empty when not kept)
  /// [layers + 1] the residual stream at the range's layer boundaries, `input`
  /// first and `output` last (the tapes' inputs: they cost no memory of their own)
  std::vector<at::Tensor> boundaries;
  at::Tensor input;  ///< [1, T, H] hidden states entering layer `begin` (the embedding output at 0)
  /// The number of sequences (1 without a packing).
  std::size_t sequences() const { return packing.size() > 1 ? packing.size() : 1; }
  /// [1, T, H] the token-embedding part of `input` when it has another part
  /// (GPT-2's learned positions); token relevance is measured on it. Else undefined.
  at::Tensor token_embeddings;
  at::Tensor output;  ///< [1, T, H] hidden states leaving the range
};

/// The result for a batch of B seeds over T tokens and the L layers of a range.
/// Everything is float32 on the CPU except `input_gradient`, which stays in the
/// model's compute dtype on its device (it is the seam handed to the previous stage).
///
/// Of a packed forward of S sequences with B seeds each, the per-token fields
/// span the packed tokens, and the per-seed ones (target, logits, positions,
/// heads, neurons, biases) hold S·B rows, sequence-major: unpack() splits them.
struct Explanation {
  at::Tensor target;              ///< [B] output-level relevance (Δℓ for a contrastive seed)
  at::Tensor logits;              ///< [B, vocab] logits at each seed's position
  at::Tensor input_gradient;      ///< [B, T, H] modified gradient at the range's input (the seam)
  at::Tensor token_relevance;     ///< [B, T] relevance at the range's input (tokens, at layer 0)
  at::Tensor position_relevance;  ///< [B] relevance of learned position embeddings (GPT-2)
  /// [B, L, T] residual after each attention block (when asked; families with a
  /// parallel residual have no such state and leave it undefined)
  at::Tensor mid_relevance;
  at::Tensor layer_relevance;     ///< [B, L, T] residual after each layer (when asked)
  at::Tensor head_relevance;      ///< [B, L, heads] (when asked)
  at::Tensor neuron_ids;          ///< [B, L, k] int64, top-k neurons by |relevance| (when asked)
  at::Tensor neuron_relevance;    ///< [B, L, k]
  at::Tensor bias_absorbed;       ///< [B, L] relevance absorbed by each layer's biases
  at::Tensor head_bias_absorbed;  ///< [B] absorbed by the final norm's bias (LayerNorm models)
};

/// The contrastive AttnLRP engine over a DecoderModel's layer range.
///
/// A whole-model explanation is forward() → seed() → backward(). Pipeline
/// stages use the same three calls: the last stage seeds, every stage runs
/// backward() on its own range starting from the gradient handed to it at its
/// upper boundary, and passes `input_gradient` down.
class Engine {
 public:
  explicit Engine(const model::DecoderModel& model) : model_(model) {}

  /// Explains `seeds` on the token sequence `ids` (int64 [T]) under `rule`; needs the whole model.
  Explanation explain(const at::Tensor& ids, const std::vector<Seed>& seeds, Rule rule,
                      const RecordOptions& record = {}) const;

  /// Same, on a forward pass already run (e.g. to read the model's own prediction first).
  Explanation explain(const ForwardState& state, const std::vector<Seed>& seeds, Rule rule,
                      const RecordOptions& record = {}) const;

  /// Runs the model's layer range on `hidden` [1, T, H] (positions 0..T-1, or
  /// from 0 in each sequence of a `packing`), keeping tapes unless told not to
  /// (backward() needs them; a caller without them reruns a layer from its
  /// boundary when it needs its tape). Throws clrp::Error when the output is
  /// not finite.
  ForwardState forward(const at::Tensor& hidden, bool keep_tapes = true,
                       const model::Packing& packing = {}) const;
  /// The first stage's forward from token ids (int64 [T], the sequences of a
  /// `packing` one after another): embeds, then forward().
  ForwardState forward_ids(const at::Tensor& ids, const model::Packing& packing = {}) const;
  /// The gradient at the last layer's output ([B, T, H]), through the final norm
  /// and unembedding (last stage only); fills `out.logits` and `out.target`.
  /// Each seed has its row; of a packed forward of S sequences, `seeds` holds
  /// B per sequence (seeds[s·B + b]: seed b of sequence s, its position within
  /// it) and row b carries seed b of every sequence.
  at::Tensor seed(const ForwardState& state, const std::vector<Seed>& seeds, Rule rule,
                  Explanation& out) const;
  /// Walks the range backwards from `g_out` [B, T, H] at its upper boundary; fills
  /// `out`'s recorded fields, `input_gradient` and `token_relevance`.
  void backward(const ForwardState& state, at::Tensor g_out, Rule rule, const RecordOptions& record,
                Explanation& out) const;

  /// One layer's modified backward: g_out [B, T, H] at the layer output -> g_in at its input
  /// (attention inside each sequence of the tape's packing).
  at::Tensor backward_layer(std::int64_t layer, const model::LayerTape& tape,
                            const model::RotaryTables& rope, const at::Tensor& g_out, Rule rule,
                            LayerGradients* extra = nullptr) const;

  // The two halves of a layer, for transitions between hidden states inside it
  // (attribution graphs). Each is the branch alone, without its residual path:
  // a sequential layer's backward is g_mid = g_out + mlp_branch_backward(g_out, tape.mid),
  // then g_in = g_mid + attention_branch_backward(g_mid); a parallel one adds both
  // branches' gradients of g_out to it.

  /// The MLP branch (post-norm, MLP, pre-norm) of `layer`: g [B, T, H] at the
  /// branch's output -> g at `branch_input`, the residual state the branch reads.
  at::Tensor mlp_branch_backward(std::int64_t layer, const model::LayerTape& tape,
                                 const at::Tensor& g, const at::Tensor& branch_input, Rule rule,
                                 LayerGradients* extra = nullptr) const;
  /// The attention branch (post-norm, attention, pre-norm) of `layer`: g [B, T, H]
  /// at its output -> g at the layer's input.
  at::Tensor attention_branch_backward(std::int64_t layer, const model::LayerTape& tape,
                                       const model::RotaryTables& rope, const at::Tensor& g,
                                       Rule rule, LayerGradients* extra = nullptr) const;
  /// g [B, T, H] at the attention branch's output -> g at the heads' outputs
  /// before the output projection, [B, heads, T, hd] (through the post-norm, if
  /// any, and o_proj), as the attention branch's backward computes it.
  at::Tensor attention_heads_gradient(std::int64_t layer, const model::LayerTape& tape,
                                      const at::Tensor& g, Rule rule) const;

 private:
  void require_whole_model() const;
  /// Norm backward by the model's norm kind (x: the normalised input, r: its factor).
  at::Tensor norm_backward(Rule rule, const at::Tensor& g, const at::Tensor& x,
                           const at::Tensor& weight, const at::Tensor& r) const;
  /// g at the MLP's output -> g at its input (after the pre-norm, before the branch).
  at::Tensor backward_mlp(const model::BlockWeights& w, const model::LayerTape& tape,
                          const at::Tensor& g_out, Rule rule, LayerGradients* extra) const;
  /// g at the attention's output -> g at its input (after the pre-norm).
  at::Tensor backward_attention(std::int64_t layer, const model::BlockWeights& w,
                                const model::LayerTape& tape, const model::RotaryTables& rope,
                                const at::Tensor& g_out, Rule rule, LayerGradients* extra) const;

  const model::DecoderModel& model_;
};

/// The explanations of the sequences of a packed forward (`packing`), each as
/// explaining that sequence alone gives it; `packed` itself for one sequence.
std::vector<Explanation> unpack(const Explanation& packed, const model::Packing& packing);

}  // namespace clrp::lrp
