#include "clrp/graph/interventions.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "clrp/util/clock.hpp"
#include "clrp/util/correlation.hpp"
#include "clrp/util/error.hpp"

namespace clrp::graph {

std::vector<Node> intervention_nodes(const Graph& g, std::int64_t count) {
  std::vector<Node> out;
  for (const Node& n : g.nodes)
    if (n.position != g.position && n.position != 0 &&
        g.layers[static_cast<std::size_t>(n.layer)].kind != NodeKind::Mid)
      out.push_back(n);
  // g.nodes run bottom to top, by position: a stable sort keeps that order for ties.
  std::stable_sort(out.begin(), out.end(), [](const Node& a, const Node& b) {
    return std::fabs(a.relevance) > std::fabs(b.relevance);
  });
  if (count >= 0 && out.size() > static_cast<std::size_t>(count))
    out.resize(static_cast<std::size_t>(count));
  return out;
}

std::vector<lrp::ValueInput> intervention_inputs(const Graph& g,
                                                 const std::vector<std::int64_t>& ids,
                                                 const std::vector<Node>& nodes) {
  std::vector<lrp::ValueInput> out;
  out.reserve(nodes.size() + 1);
  out.push_back({ids, {}, {}});
  for (const Node& n : nodes) {
    const NodeLayer& layer = g.layers.at(static_cast<std::size_t>(n.layer));
    out.push_back({ids, {}, {{layer.kind, layer.layer, n.position}}});
  }
  return out;
}

double kept_share(const Graph& g) {
  if (g.layers.empty() || g.target == 0) return std::nan("");
  const std::size_t top = g.layers.size() - 1;
  require(g.transitions.size() == top && g.relevance.dim() == 2 &&
              g.relevance.size(0) == static_cast<std::int64_t>(g.layers.size()) &&
              g.relevance.size(1) == g.tokens,
          Where{"graph interventions"}, "a graph whose tables do not match its node layers");
  const at::Tensor r = g.relevance.to(at::kDouble).contiguous();
  const auto rel = r.accessor<double, 2>();
  // traced[i]: the part of node (k, i)'s relevance that reaches the target
  // along kept edges, starting from the kept nodes of the top layer.
  std::vector<double> traced(static_cast<std::size_t>(g.tokens), 0.0);
  for (const Node& n : g.nodes)
    if (static_cast<std::size_t>(n.layer) == top)
      traced[static_cast<std::size_t>(n.position)] =
          rel[static_cast<std::int64_t>(top)][n.position];
  for (std::size_t k = top; k-- > 0;) {
    const Transition& tr = g.transitions.at(k);
    std::vector<double> below(traced.size(), 0.0);
    for (const Edge& e : tr.edges) {
      const double target_r = rel[static_cast<std::int64_t>(k + 1)][e.target];
      if (target_r != 0)
        below[static_cast<std::size_t>(e.source)] +=
            e.weight * traced[static_cast<std::size_t>(e.target)] / target_r;
    }
    traced = std::move(below);
  }
  double sum = 0;
  for (const double v : traced)
    sum += v;
  return sum / g.target;
}

InterventionTest test_interventions(const Graph& g, const std::vector<std::int64_t>& ids,
                                    const lrp::DeltaOf& delta_of,
                                    const InterventionOptions& options) {
  require(static_cast<std::int64_t>(ids.size()) == g.tokens && g.position == g.tokens - 1,
          Where{"graph interventions"}, "the graph must explain the last of the given tokens");
  const auto started = std::chrono::steady_clock::now();
  InterventionTest t;
  t.nodes = intervention_nodes(g, options.nodes);
  const std::vector<double> values = delta_of(intervention_inputs(g, ids, t.nodes));
  require(values.size() == t.nodes.size() + 1, Where{"graph interventions"},
          "one Δℓ per forward expected");
  t.baseline = values[0];
  for (std::size_t i = 0; i < t.nodes.size(); ++i) {
    t.predicted.push_back(-static_cast<double>(t.nodes[i].relevance));
    t.measured.push_back(values[i + 1] - t.baseline);
  }
  t.correlation = util::pearson(t.predicted, t.measured);
  t.kept_share = kept_share(g);
  t.seconds = util::seconds_since(started);
  return t;
}

}  // namespace clrp::graph
