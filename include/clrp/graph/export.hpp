// What a built graph says, and the formats it is written in.
//
// summarize() condenses a Graph into the numbers the study compares: node
// and edge counts, mass kept per transition, fan-in and fan-out, which layer
// decided (per-layer increments of each candidate's relevance at the
// explained position), and how the final relevance splits into the first
// token (the attention sink), the other tokens and the "self bias" (what the
// rules do not conserve plus what biases absorb).
//
// graph_json() writes the graph format that circuit-tracer's frontend and
// Neuronpedia read (metadata, qParams, nodes, links), with hidden-state nodes
// mapped onto its fields as docs/graphs.md describes, and clrp's own numbers
// under the extra top-level key "clrp".
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clrp/graph/graph.hpp"

namespace clrp::graph {

struct TransitionSummary {
  std::string source, target;
  std::int64_t computed_targets = 0, pruned_edges = 0, kept_edges = 0;
  double total_mass = 0, pruned_mass_share = 0, kept_mass_share = 0, threshold = 0;
};

struct GraphSummary {
  std::int64_t nodes = 0, edges = 0;
  std::vector<std::int64_t> nodes_per_layer;  ///< kept nodes per node layer
  std::vector<TransitionSummary> transitions;
  double mean_fan_in = 0, mean_fan_out = 0;
  std::int64_t max_fan_in = 0, max_fan_out = 0;
  /// Per node layer: relevance at the explained position minus the layer
  /// below's (0 at the embedding), for the contrast and each candidate alone.
  std::vector<double> contrast_increment, wrong_increment, correct_increment;
  double first_token_share = 0;   ///< R(emb, position 0) / Δℓ
  double other_tokens_share = 0;  ///< Σ R(emb, i > 0) / Δℓ
  double self_bias_share = 0;     ///< (Δℓ − Σ R(emb)) / Δℓ
};

GraphSummary summarize(const Graph& graph);
nlohmann::json to_json(const GraphSummary& summary);

/// What the exporters need besides the graph: the tokens as text and where they came from.
struct GraphContext {
  std::string model;   ///< model path or name (circuit-tracer's "scan")
  std::string prompt;  ///< the rendered prompt text
  std::vector<std::int32_t> ids;
  std::vector<std::string> tokens;  ///< one display string per token
  std::string wrong_token, correct_token;
  std::int32_t wrong_id = -1, correct_id = -1;
  double wrong_prob = 0, correct_prob = 0;
  std::string slug;  ///< graph id (file name stem)
};

/// The circuit-tracer / Neuronpedia graph JSON, with clrp's summary and plan under "clrp".
nlohmann::json graph_json(const Graph& graph, const GraphContext& context);

/// Per node, circuit-tracer's influence: the cumulative share, in descending
/// order of influence on the target, of w·(A + A² + …) with A the row-normalised
/// |adjacency| and w the target's weight. Kept nodes in Graph::nodes order.
std::vector<double> cumulative_influence(const Graph& graph);

}  // namespace clrp::graph
