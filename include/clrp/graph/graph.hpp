// Cross-layer attribution graphs over hidden states.
//
// Nodes are hidden states at (node layer, position): the embedding output
// ("emb"), the residual stream after each attention block ("mid{l}") and after
// each block ("out{l}"), plus one target node, Δℓ at the explained position.
// Families with a parallel residual (GPT-NeoX) have no mid states.
//
// The edge from source (s, i) to target (t, j) of two consecutive node layers is
//     A[j, i] = Σ_k h_s[i,k] · ∂⟨h_t[j], g_t[j]⟩ / ∂h_s[i,k]
// with g_t the modified gradient of the main contrastive pass held fixed and the
// LRP rules applied inside the transition (Tan et al., 2026). Node relevance is
// R = Σ_k h_k g_k from the main pass; only targets with |R| above the node
// threshold get incoming edges.
//
// Two ways to compute a transition's edges, equal to float rounding:
// - generic: B targets seeded at once in one backward over B copies of the
//   transition (the reference study's batch-packing), ⌈n/B⌉ backward passes;
// - structured: an MLP transition acts position by position, so its edges are
//   diagonal and equal the source relevance; an attention transition's edges
//   for all targets have a closed form in the attention probabilities, values
//   and g, computed block by block at about the cost of one attention pass.
// Edges are pruned per transition while they are computed (docs/graphs.md).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clrp/lrp/rules.hpp"
#include "clrp/model/decoder.hpp"

namespace clrp::graph {

using NodeKind = model::StatePoint;  ///< Embedding, Mid, Out

/// One layer of nodes: a hidden state at every position.
struct NodeLayer {
  std::string name;        ///< "emb", "mid{l}", "out{l}"
  std::int64_t layer = 0;  ///< the decoder layer (0 for the embedding)
  NodeKind kind = NodeKind::Embedding;
};

/// The node layers of a model, bottom (embedding) to top (last block's output).
std::vector<NodeLayer> node_layers(const model::ModelConfig& config);

/// An edge between positions of two consecutive node layers.
struct Edge {
  std::int32_t source = 0;  ///< position in the source node layer
  std::int32_t target = 0;  ///< position in the target node layer
  float weight = 0;
};

/// A block of unpruned edge weights into some target positions of a transition:
/// row r holds the edges into `targets[r]` from source positions 0..cols-1.
/// Diagonal transitions (MLP) use `diagonal`: values[r] is the one edge
/// targets[r] -> targets[r].
struct EdgeBlock {
  std::vector<std::int64_t> targets;
  at::Tensor values;  ///< float32 CPU: [rows, cols], or [rows] when diagonal
  bool diagonal = false;
};

enum class PruneMode {
  Mass,       ///< keep the smallest edge set holding a fraction of the absolute mass
  Threshold,  ///< keep edges with |w| above an absolute threshold
};

/// How edges are computed.
enum class EdgeMethod {
  Structured,  ///< diagonal MLP edges, closed-form attention edges (default)
  Packed,      ///< the generic batch-packed backward (the check for the structured path)
};

/// What the graph builder decided to do to fit the memory budget.
struct GraphPlan {
  /// Keep every layer's forward tape (tests; plan_graph always recomputes each
  /// layer's forward in its backward instead, which costs no measurable time).
  bool keep_tapes = true;
  bool dense_transitions = true;  ///< false: blocks are computed twice (histogram, then selection)
  std::int64_t query_block = 0;   ///< target rows per attention block
  std::int64_t estimate_bytes = 0;  ///< estimated peak above the loaded model
  std::string describe() const;
};

struct GraphOptions {
  lrp::Rule rule = lrp::Rule::AttnLRP;
  EdgeMethod method = EdgeMethod::Structured;
  double node_threshold = 0.01;  ///< |R| a target must exceed to get edges; nodes below are dropped
  PruneMode prune = PruneMode::Mass;
  double mass_fraction = 0.85;   ///< with PruneMode::Mass
  double edge_threshold = 0.0;   ///< with PruneMode::Threshold
  std::int64_t batch = 32;       ///< targets per backward on the packed path
  std::int64_t query_block = 0;  ///< target rows per attention block (0: chosen by the plan)
  std::int64_t max_memory = 0;   ///< bytes (0: no budget); the plan must fit it or fail
  /// Called with every unpruned block of every transition (tests, dense export).
  std::function<void(std::size_t transition, const EdgeBlock&)> on_block;
  /// Use this plan instead of planning from max_memory (tests: every plan must
  /// give the same graph).
  std::optional<GraphPlan> plan;
};

/// Chooses recomputation, block size and dense/streamed pruning for `tokens`
/// tokens so that the estimate fits `options.max_memory` (0: no limit; the
/// fastest plan). Throws clrp::Error, with the estimate's parts, when even the
/// leanest plan does not fit.
GraphPlan plan_graph(const model::ModelConfig& config, std::int64_t tokens,
                     const GraphOptions& options, c10::ScalarType dtype);

struct Transition {
  std::size_t source = 0, target = 0;  ///< node-layer indices
  std::vector<Edge> edges;             ///< kept edges (after pruning and reachability)
  double total_mass = 0;               ///< Σ|w| over all computed edges
  double pruned_mass = 0;              ///< Σ|w| kept by the per-transition pruning
  double kept_mass = 0;                ///< Σ|w| of `edges` (after node pruning and reachability)
  std::int64_t computed_targets = 0;   ///< target positions whose incoming edges were computed
  std::int64_t pruned_edges = 0;       ///< edges kept by the per-transition pruning
  double threshold = 0;                ///< the |w| cut-off the pruning used
};

struct Node {
  std::int32_t layer = 0;  ///< node-layer index
  std::int32_t position = 0;
  float relevance = 0;
};

/// Relevance at the explained position, node layer by node layer, for the
/// contrast and for each candidate token alone: the "which layer decided" view.
struct DecisionProfile {
  std::vector<double> contrast, wrong, correct;  ///< [node layers]
};

struct Graph {
  std::vector<NodeLayer> layers;
  std::int64_t position = 0;  ///< the explained position
  std::int64_t tokens = 0;
  double target = 0;  ///< Δℓ
  double wrong_logit = 0, correct_logit = 0;
  at::Tensor logits;  ///< [vocab] float32 at the explained position
  lrp::Rule rule = lrp::Rule::AttnLRP;
  at::Tensor relevance;  ///< [node layers, T] float32: main-pass node relevance
  /// [node layers, T] float32: R − Σ of the unpruned incoming edges ("self bias":
  /// what biases absorb plus what the rules do not conserve); 0 where no edges
  /// were computed (the embedding, targets below the threshold).
  at::Tensor remainder;
  std::vector<Transition> transitions;  ///< transitions[k]: layers[k] -> layers[k + 1]
  std::vector<Node> nodes;              ///< kept nodes, bottom to top, by position
  DecisionProfile decision;
  GraphPlan plan;
  double seconds = 0;
};

/// Builds the pruned graph of the contrast `wrong` − `correct` at `position` for
/// token ids `ids` (int64 [T]) on a whole model: the one-stage case of the
/// stage-local build (clrp/graph/stage.hpp), which models sharded over
/// pipeline stages use.
Graph build_graph(const model::DecoderModel& model, const at::Tensor& ids, std::int64_t position,
                  std::int64_t wrong, std::int64_t correct, const GraphOptions& options);

}  // namespace clrp::graph
