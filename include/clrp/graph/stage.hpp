// Attribution graphs built stage by stage, for models whose layers are sharded
// over pipeline stages.
//
// Stage s holds layers [a_s, b_s) (stage 0 also the embedding, the last stage
// the final norm and the unembedding). A graph is built as one forward up the
// stages and one backward down them:
//
//   h_0 = stage[0].forward(ids); h_s = stage[s].forward(h_{s−1});
//   top = stage[P−1].seed(position, wrong, correct);
//   for s = P−1 … 0: top = stage[s].backward(top);
//   graph = merge_graph_parts({stage[0].part(), …, stage[P−1].part()}, config);
//
// What crosses a seam is the hidden state going up and a GraphBoundary going
// down: the main pass's gradient at the seam and which of the seam's nodes
// reach the target. build_graph is this with one stage, so a split changes no
// number: every node, edge, remainder and pruning decision is computed by the
// same code from the same tensors.
//
// Ownership. The node layer at a seam, input_node(a_s) = output_node(a_s − 1),
// is touched by both stages: stage s computes its relevance (as the source of
// its lowest transition) and which of its nodes reach the target (the sources
// its kept edges leave from); stage s − 1 computes the edges into it (its top
// transition) and so its remainder. A node layer belongs to the stage whose
// layers produce it: stage s owns the mid/out node layers of layers
// [a_s, b_s), stage 0 also "emb". The owner reports everything about the node
// layer (relevance, remainder, decision profile, kept nodes): it recomputes
// the relevance from its own output states and the gradient handed down —
// the same tensors, so the same numbers as the stage above — and it receives
// the seam's reachability with that gradient. A transition belongs to the
// stage that owns its target. Parts are therefore disjoint and, in stage
// order, concatenate to the whole graph.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "clrp/graph/graph.hpp"

namespace clrp::graph {

/// What one stage hands the stage below after its backward (and what the last
/// stage's seed() hands its own backward).
struct GraphBoundary {
  std::int64_t position = 0;  ///< the explained position
  /// [2, T, H] in the compute dtype on the compute device: the main pass's
  /// modified gradient at the seam, seeded with the contrast (row 0) and the
  /// wrong token alone (row 1, for the decision profile).
  at::Tensor gradient;
  /// [T]: 1 where the seam's node reaches the target through kept edges.
  std::vector<std::uint8_t> alive;
  // Set by seed() only (the last stage): Δℓ and the logits at `position`.
  double target = 0;
  double wrong_logit = 0, correct_logit = 0;
  at::Tensor logits;  ///< [vocab] float32 CPU; undefined below the last stage
};

/// What one stage contributes to the graph: plain vectors and float32 CPU
/// tensors, for sending to the stage that merges. Node-layer indices are the
/// whole model's.
struct GraphPart {
  std::int64_t first_node = 0;  ///< the first node layer this stage owns
  std::int64_t tokens = 0;
  std::int64_t position = 0;
  lrp::Rule rule = lrp::Rule::AttnLRP;
  at::Tensor relevance;                 ///< [owned node layers, T] float32 CPU
  at::Tensor remainder;                 ///< [owned node layers, T] float32 CPU
  std::vector<Transition> transitions;  ///< into the owned node layers, bottom to top
  std::vector<Node> nodes;              ///< kept nodes of the owned node layers, bottom to top
  DecisionProfile decision;             ///< [owned node layers]
  // The last stage only (has_target): Δℓ and the logits at the explained position.
  bool has_target = false;
  double target = 0;
  double wrong_logit = 0, correct_logit = 0;
  at::Tensor logits;   ///< [vocab] float32 CPU
  GraphPlan plan;      ///< the plan this stage ran
  double seconds = 0;  ///< this stage's forward, seed and backward
};

/// One pipeline stage of a graph build, over the layers of `stage_model`.
/// Reusable: each forward() starts a new graph.
class GraphStage {
 public:
  /// `stage_model` must outlive the stage (`options` are copied). `plan` is this
  /// stage's memory plan (plan_graph's choice for the whole model is a safe,
  /// generous one for any stage: it counts every layer's states).
  GraphStage(const model::DecoderModel& stage_model, const GraphOptions& options, GraphPlan plan);
  ~GraphStage();
  GraphStage(const GraphStage&) = delete;
  GraphStage& operator=(const GraphStage&) = delete;

  /// Stage 0: token ids, int64 [T]; other stages: the hidden states [1, T, H]
  /// the stage below returned. Returns this stage's output hidden states [1, T, H]
  /// (to hand up) and keeps the layer-boundary states, and the forward tapes
  /// when the plan keeps them, for backward().
  at::Tensor forward(const at::Tensor& input);

  /// The last stage, after forward(): seeds the main pass with the contrast
  /// logit(wrong) − logit(correct) at `position` (and wrong alone). Throws when
  /// |Δℓ| is not above the node threshold: there is nothing to trace.
  GraphBoundary seed(std::int64_t position, std::int64_t wrong, std::int64_t correct);

  /// Walks this stage's layers top-down from `top` (seed()'s result on the
  /// last stage, the stage above's backward() elsewhere): node relevance,
  /// transitions, pruning and reachability. Returns the boundary at this
  /// stage's input, for the stage below.
  GraphBoundary backward(const GraphBoundary& top);

  /// What this stage owns of the graph, after backward().
  GraphPart part() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// The whole graph from every stage's part, in stage order: exactly what
/// build_graph returns on the whole model. The plan is stage 0's with the
/// largest stage's estimate; the time is the stages' sum (they run one after
/// another for one graph). Throws clrp::Error when the parts do not tile the
/// model's node layers.
Graph merge_graph_parts(const std::vector<GraphPart>& parts_in_stage_order,
                        const model::ModelConfig& config);

}  // namespace clrp::graph
