// A schedule over the stages of a group, for any stage work.
//
// Every stage of a group holds a part of one model (its layer range) and
// calls the same Pipeline method with the same number of micro-batches and a
// StageWork of the same kind (dist/stage_work.hpp). Micro-batches flow
// forward stage to stage; the last stage seeds; what the backward produces
// flows back through the same seams. The schedule is 1F1B: after a warm-up of
// P − 1 − s forwards, stage s alternates one forward and one backward, so it
// never holds the state of more than P − s micro-batches at once (GPipe would
// hold all of them). Afterwards each stage's part of every micro-batch is
// gathered to stage 0, whose work merges them.
//
// The pipeline knows neither LRP nor graphs: what crosses a seam is a list of
// tensors the work returns, and what a stage contributes is bytes.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "clrp/dist/stage_work.hpp"
#include "clrp/dist/transport.hpp"

namespace clrp::dist {

/// What stage 0 learns of one micro-batch (its result is in stage 0's work).
struct Outcome {
  std::string error;            ///< why it failed (from the stage where it did); empty: merged
  double forward_seconds = 0;   ///< compute spent on its forward, summed over the stages
  double backward_seconds = 0;  ///< the same for its seed and backward
  bool ok() const { return error.empty(); }
};

/// Where a stage's time went during one schedule.
struct StageTimes {
  double wall = 0;              ///< the whole call
  double compute = 0;           ///< the work's forward, seed and backward
  double gather = 0;            ///< gathering the parts to stage 0
  std::int64_t bytes_sent = 0;  ///< tensors sent to the neighbours
  /// Fraction of the schedule this stage sat idle: 1 − compute / (wall − gather).
  double bubble() const;
};

class Pipeline {
 public:
  /// `stages`: the group's communicator, rank = stage; `transport` moves the
  /// tensors between neighbouring stages.
  Pipeline(MPI_Comm stages, Transport& transport);

  /// 1F1B over `micro_batches` micro-batches: forward, seed, backward, then the
  /// parts gathered and merged on stage 0. On stage 0: one outcome per
  /// micro-batch; elsewhere: empty.
  std::vector<Outcome> run(StageWork& work, std::size_t micro_batches);

  /// Forward passes only, streamed through the stages (the pipeline fills, then
  /// drains: nothing waits for a backward); then parts gathered and merged as in run().
  std::vector<Outcome> stream(StageWork& work, std::size_t micro_batches);

  /// Times of the last run() or stream() on this stage.
  const StageTimes& times() const { return times_; }
  /// Every stage's times of the last call (collective; on stage 0 the whole
  /// group's, in stage order; elsewhere this stage's alone).
  std::vector<StageTimes> gather_times() const;

  int stage() const { return stage_; }
  int stages() const { return stages_; }

 private:
  // What this stage knows of one micro-batch during a call.
  struct Slot {
    bool failed = false;  ///< here, or on a stage that sent a failure marker
    std::string error;    ///< raised on this stage
    double forward_seconds = 0, backward_seconds = 0;
  };
  void start(std::size_t micro_batches);
  void forward(StageWork& work, std::size_t m);
  void backward(StageWork& work, std::size_t m);
  std::vector<Outcome> finish(StageWork& work, double started, std::int64_t sent_before);
  std::vector<Outcome> gather(StageWork& work);
  /// Runs `step`; an exception fails micro-batch m with its message.
  template <class F>
  void guarded(std::size_t m, F&& step);
  void send(const Tensors& tensors, bool failed, int peer, Channel channel);
  /// The next list from `peer`; empty when the micro-batch failed over there.
  Tensors receive(int peer, Channel channel);

  MPI_Comm comm_;
  Transport& transport_;
  int stage_ = 0, stages_ = 1;
  std::vector<Slot> slots_;  // per micro-batch of the current call
  StageTimes times_;
};

}  // namespace clrp::dist
