// Contrastive LRP through a model's layers sharded over pipeline stages.
//
// The stage work of dist::Pipeline for LRP: micro-batches (one token sequence
// each) go forward through every stage's Engine::forward, the last stage forms
// the contrastive seeds, the modified gradients come back down through the
// same seams with one Engine::backward per rule, and what each stage recorded
// for its own layers is merged on stage 0 into the lrp::Explanation a
// whole-model Engine::explain gives (to the bit: the arithmetic is the same,
// layer by layer). A second, forward-only work gives the seeds' values alone
// (the deletion test's Δℓ of shortened sequences).
#pragma once

#include <string>
#include <vector>

#include "clrp/dist/pipeline.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/faithfulness.hpp"

namespace clrp::lrp {

/// One token sequence, or several packed (batched explanation), and what to
/// explain on it.
struct MicroBatch {
  at::Tensor ids;           ///< int64 [T], packed sequences one after another; read by stage 0
  model::Packing packing;   ///< the packed sequences' lengths (empty: one); on every stage
  std::vector<Rule> rules;  ///< one backward per rule, on every stage
  /// The seeds of every backward (read by the last stage): B per sequence,
  /// sequence-major (Engine::seed). Positions count within their sequence and
  /// may count from its end (−1: its last token).
  std::vector<Seed> seeds;
  /// Forward-only values (seed_values): bool [T] on stage 0, the tokens whose
  /// token embedding is zeroed (faithfulness.hpp's zero operator); undefined: none.
  at::Tensor zeroed;
  /// Forward-only values: hidden states zeroed on the way up (graph
  /// interventions), rows counted across the packed sequences; on every stage.
  std::vector<model::ZeroedState> states;
  /// The sequences in it.
  std::size_t sequences() const { return packing.size() > 1 ? packing.size() : 1; }
};

/// What stage 0 gets back for one sequence of a micro-batch.
struct MicroBatchResult {
  std::vector<Explanation> rules;  ///< per rule, for the whole model; empty when it failed
  std::string error;               ///< why it failed (from the stage where it did)
  /// Compute spent on its forward, summed over the stages (of a packed
  /// micro-batch: the sequence's share by tokens)
  double forward_seconds = 0;
  double backward_seconds = 0;  ///< the same for its seeds and backwards
  bool ok() const { return error.empty(); }
};

/// Explains `batches` under every rule of each, through `pipeline`: every stage
/// of the group calls it with its own `stage_model` (its layer range) and the
/// same micro-batches (ids are read on stage 0, seeds on the last stage). On
/// stage 0: one result per sequence, in order (a packed micro-batch gives
/// one per packed sequence); elsewhere: empty. A micro-batch that fails on
/// some stage (non-finite activations, a seed outside the tokens) fails
/// alone, and its results say why.
std::vector<MicroBatchResult> explain(dist::Pipeline& pipeline,
                                      const model::DecoderModel& stage_model,
                                      const std::vector<MicroBatch>& batches,
                                      const RecordOptions& record);

/// Tokens a forward-only micro-batch packs: it keeps no tapes, so its memory
/// is a few activations of this many tokens, and larger products use the
/// cores better than many short forwards.
inline constexpr std::int64_t kValuePackTokens = 4096;

/// Forward passes only: on stage 0, each sequence's first seed applied to
/// its logits (Δℓ for a contrastive seed), in order — a packed micro-batch
/// gives one value per packed sequence; NaN where the forward failed. On the
/// other stages: empty.
std::vector<double> seed_values(dist::Pipeline& pipeline, const model::DecoderModel& stage_model,
                                const std::vector<MicroBatch>& batches);

/// Value micro-batches of value inputs (faithfulness.hpp's removals, graph
/// interventions): packed in order up to kValuePackTokens each, every
/// sequence seeded with Δℓ of `wrong` over `correct` at its last token, ids,
/// zeroed tokens and zeroed states filled (stage 0's view; the other stages
/// need the packings, seeds and zeroed states).
std::vector<MicroBatch> value_batches(const std::vector<ValueInput>& inputs, std::int64_t wrong,
                                      std::int64_t correct, std::int64_t vocab);

/// The same on a whole model in this process (no pipeline).
std::vector<double> seed_values(const model::DecoderModel& whole_model,
                                const std::vector<MicroBatch>& batches);

/// Δℓ of `wrong` over `correct` for value inputs on a whole model in this
/// process: value_batches through seed_values (what `clrp explain
/// --faithfulness` and `clrp graph --interventions` measure with). The model
/// must outlive the function.
DeltaOf whole_model_delta_of(const model::DecoderModel& whole_model, std::int64_t wrong,
                             std::int64_t correct);

/// One whole-model explanation from the stages' parts, in stage order: layer
/// axes concatenated; tokens and the input gradient from stage 0; the target,
/// logits and final-norm bias from the last stage.
Explanation merge_stage_parts(const std::vector<Explanation>& parts);

}  // namespace clrp::lrp
