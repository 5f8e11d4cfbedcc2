// What a pipeline stage does to micro-batches, as the schedule sees it.
//
// dist::Pipeline runs a schedule over the P stages of a group (1F1B, or a
// forward-only stream) and knows nothing of the model or the method: it calls
// the hooks below in the schedule's order, moves the tensors they return to
// the neighbouring stage, contains failures, and gathers every stage's part of
// each micro-batch to stage 0. Contrastive LRP (lrp/stage_work.hpp) and
// attribution graphs (graph/stage_work.hpp) are two implementations.
//
// The contract, for micro-batch m on stage s of P:
//   - forward(m, input): `input` is what stage s − 1 returned from forward(m)
//     (empty on stage 0, whose work holds its own inputs). Returns what goes
//     to stage s + 1 (ignored on the last stage).
//   - seed(m): the last stage only, after forward(m): what its backward(m)
//     starts from.
//   - backward(m, top): `top` is seed(m) on the last stage, else what stage
//     s + 1 returned from backward(m). Returns what goes to stage s − 1
//     (ignored on stage 0). A forward-only schedule never calls seed/backward.
//   - release(m): m's slot in the schedule is over on this stage (done, or
//     failed here or elsewhere): free what it held. 1F1B bounds the memory of
//     stage s to P − s micro-batches only if the work frees it here.
//   - part(m): after the schedule, this stage's share of m's result as bytes
//     for stage 0 (called on stages s > 0 for each m that did not fail on s
//     or below it).
//   - merge(m, parts): on stage 0, for each m that failed nowhere: its result
//     from this stage's own state and `parts[s − 1]`, stage s's part, s ≥ 1.
// A hook that throws fails micro-batch m alone: the schedule sends an empty
// list in place of its tensors, every stage stays in step, and stage 0 learns
// the message. Tensors returned for a neighbour are on this stage's compute
// device (a GPU transport sends device memory).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <string>
#include <vector>

namespace clrp::dist {

/// The tensors that cross a seam for one micro-batch, in an order the work defines.
using Tensors = std::vector<at::Tensor>;

class StageWork {
 public:
  virtual ~StageWork() = default;
  virtual Tensors forward(std::size_t m, const Tensors& input) = 0;
  virtual Tensors seed(std::size_t m) = 0;
  virtual Tensors backward(std::size_t m, const Tensors& top) = 0;
  virtual void release(std::size_t m) = 0;
  virtual std::string part(std::size_t m) = 0;
  virtual void merge(std::size_t m, const std::vector<std::string>& parts) = 0;
};

}  // namespace clrp::dist
