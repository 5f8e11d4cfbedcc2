// Contrastive LRP through a model's layers sharded over the stages of a group.
//
// Every stage of a group holds a DecoderModel of its layer range and calls
// Pipeline::explain with the same micro-batches (one token sequence each).
// Micro-batches flow forward stage to stage (hidden states at the layer
// boundary); the last stage forms the contrastive seeds; the modified
// gradients flow back through the same seam, one backward per rule. The
// schedule is 1F1B: after a warm-up of P − 1 − s forwards, stage s alternates
// one forward and one backward, so it never holds the tapes of more than
// P − s micro-batches at once (GPipe would hold all of them).
//
// What each stage records for its own layers is gathered to stage 0, which
// returns, per micro-batch and rule, the same lrp::Explanation a whole-model
// Engine::explain gives (to float rounding: the arithmetic is the same, layer
// by layer).
#pragma once

#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

#include "clrp/dist/transport.hpp"
#include "clrp/lrp/engine.hpp"

namespace clrp::dist {

/// One token sequence and what to explain on it.
struct MicroBatch {
  at::Tensor ids;                ///< int64 [T]; read by stage 0 only
  std::vector<lrp::Rule> rules;  ///< one backward per rule, on every stage
  /// The seeds of every backward (read by the last stage). Positions may count
  /// from the end (−1: the last token): only stage 0 knows T in advance.
  std::vector<lrp::Seed> seeds;
};

/// What stage 0 gets back for one micro-batch.
struct MicroBatchResult {
  std::vector<lrp::Explanation> rules;  ///< per rule, for the whole model; empty when it failed
  std::string error;                    ///< why it failed (from the stage where it did)
  double forward_seconds = 0;           ///< compute spent on its forward, summed over the stages
  double backward_seconds = 0;          ///< the same for its seeds and backwards
  bool ok() const { return error.empty(); }
};

/// Where a stage's time went during one explain() call.
struct StageTimes {
  double wall = 0;              ///< the whole call
  double compute = 0;           ///< forward, seed and backward work
  double gather = 0;            ///< gathering the results to stage 0
  std::int64_t bytes_sent = 0;  ///< hidden states and gradients sent
  /// Fraction of the schedule this stage sat idle: 1 − compute / (wall − gather).
  double bubble() const;
};

/// Called on each stage after a micro-batch's backward under one rule, with
/// the stage's own forward state and explanation part (stage-local work such
/// as attribution-graph edges hooks in here). Arguments: micro-batch index,
/// rule index, state, part.
using StageHook = std::function<void(std::size_t, std::size_t, const lrp::ForwardState&,
                                     const lrp::Explanation&)>;

class Pipeline {
 public:
  /// `stages`: the group's communicator, rank = stage. `model` holds this
  /// stage's layers; ranges must be consecutive over the stages, covering the model.
  Pipeline(MPI_Comm stages, const model::DecoderModel& model, Transport& transport);

  /// Runs the schedule over `batches` (every stage passes the same number,
  /// with the same rules). On stage 0: one result per micro-batch, whose
  /// `rules[r]` is its explanation under rules[r] for the whole model. On the
  /// other stages: empty. A micro-batch that fails on some stage (non-finite
  /// activations, a seed outside the tokens) fails alone: its neighbours and
  /// the schedule go on, and its result says why.
  std::vector<MicroBatchResult> explain(const std::vector<MicroBatch>& batches,
                                        const lrp::RecordOptions& record,
                                        const StageHook& hook = {});

  /// Forward passes only (no tapes), pipelined: on stage 0, each micro-batch's
  /// first seed applied to its logits (Δℓ for a contrastive seed); NaN where
  /// the forward failed. On the other stages: empty.
  std::vector<double> seed_values(const std::vector<MicroBatch>& batches);

  /// Times of the last explain() call on this stage.
  const StageTimes& times() const { return times_; }
  /// Every stage's times of the last explain() call (collective; on stage 0
  /// the whole group's, in stage order; elsewhere this stage's alone).
  std::vector<StageTimes> gather_times() const;

  int stage() const { return stage_; }
  int stages() const { return stages_; }

 private:
  void forward(std::size_t m, const MicroBatch& mb);
  void backward(std::size_t m, const MicroBatch& mb, const lrp::RecordOptions& record,
                const StageHook& hook);
  std::vector<MicroBatchResult> gather(std::size_t micro_batches);
  /// Runs `work`; an exception marks micro-batch m failed with its message.
  template <class F>
  bool guarded(std::size_t m, F&& work);

  MPI_Comm comm_;
  const model::DecoderModel& model_;
  lrp::Engine engine_;
  Transport& transport_;
  int stage_ = 0, stages_ = 1;
  std::vector<lrp::ForwardState> states_;             // per micro-batch, freed after its backward
  std::vector<std::vector<lrp::Explanation>> parts_;  // [micro-batch][rule], this stage's layers
  std::vector<std::string> errors_;                   // [micro-batch] raised on this stage
  std::vector<char> failed_;                          // [micro-batch] failed here or upstream
  std::vector<double> forward_s_, backward_s_;        // [micro-batch] this stage's compute
  StageTimes times_;
};

/// One whole-model explanation from the stages' parts, in stage order: layer
/// axes concatenated; tokens and the input gradient from stage 0; the target,
/// logits and final-norm bias from the last stage.
lrp::Explanation merge_stage_parts(const std::vector<lrp::Explanation>& parts);

}  // namespace clrp::dist
