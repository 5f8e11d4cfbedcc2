// Attribution graphs tested against the model (docs/graphs.md, "Interventions").
//
// A graph claims that each kept node — a hidden state h_n at one node layer and
// position — carries R_n of Δℓ: its relevance, the part of Δℓ the rule's
// backward assigns to it (R_n = h_n · g_n, g the rule's modified gradient).
// The test takes the graph at its word, node by node:
//
//   measured_n  = Δℓ(forward with h_n set to zero, the model computing on) − Δℓ
//   predicted_n = −R_n
//
// for the `nodes` kept nodes of largest |R_n| that the test can tell apart, and
// scores the agreement by Pearson's r over them. Left out: the explained
// position (its states are the trunk every path ends in: zeroing one removes
// the whole residual stream there, and R there is Δℓ less what arrives later),
// the first position (the attention sink: zeroing it moves every attention
// pattern of the layers above, which tests the sink, not an edge) and mid
// nodes (with RMSNorm and a bias-free MLP, zeroing a mid state is zeroing the
// layer's output: model/zeroed_state.hpp). Where Δℓ is linear in h_n and the
// rule's gradient is the true one (gradient × input, or CP-LRP on a model whose
// norms and attention pattern do not move), measured = predicted exactly;
// elsewhere the difference is what the rule's linearisation misses.
//
// The kept share says how much of Δℓ the pruned graph accounts for: Δℓ's
// relevance is traced down from the target along kept edges only — a node
// passes on the share of its relevance that arrived through kept edges, split
// in proportion to its kept incoming edges — and the share is what reaches the
// token embeddings, over Δℓ. Without pruning it is 1 minus what biases and
// non-conserving rules absorb (the remainders); pruned edges and dropped nodes
// lower it further. It plays the part of circuit-tracer's replacement score,
// with pruned edges and remainders as the error nodes.
#pragma once

#include <cstdint>
#include <vector>

#include "clrp/graph/graph.hpp"
#include "clrp/lrp/faithfulness.hpp"

namespace clrp::graph {

struct InterventionOptions {
  std::int64_t nodes = 16;  ///< kept nodes tested, by |relevance|
};

/// One graph's intervention test.
struct InterventionTest {
  std::vector<Node> nodes;        ///< the tested nodes, by |relevance| descending
  std::vector<double> predicted;  ///< per node: −R_n, the graph's change of Δℓ
  std::vector<double> measured;   ///< per node: the real forward's change (NaN: it failed)
  double baseline = 0;            ///< Δℓ of the forward without interventions
  double correlation = 0;         ///< Pearson's r over the nodes (NaN: < 3 nodes or no spread)
  double kept_share = 0;          ///< kept_share(graph)
  double seconds = 0;             ///< the test's forwards (wall clock)
};

/// The kept embedding and output nodes away from the explained and the first
/// position with the largest |relevance| (ties: lower node layer, then
/// earlier position), at most `count`.
std::vector<Node> intervention_nodes(const Graph& g, std::int64_t count);

/// The forward inputs of the test: `ids` unchanged, then `ids` with each
/// node's hidden state zeroed, in the order of `nodes`.
std::vector<lrp::ValueInput> intervention_inputs(const Graph& g,
                                                 const std::vector<std::int64_t>& ids,
                                                 const std::vector<Node>& nodes);

/// The share of Δℓ the pruned graph traces to the token embeddings (above).
double kept_share(const Graph& g);

/// Runs the test on the graph of `ids` (its explained position must be the
/// last token: `delta_of` gives Δℓ there), all forwards in one `delta_of` call.
InterventionTest test_interventions(const Graph& g, const std::vector<std::int64_t>& ids,
                                    const lrp::DeltaOf& delta_of,
                                    const InterventionOptions& options);

}  // namespace clrp::graph
