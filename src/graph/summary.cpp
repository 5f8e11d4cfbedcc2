#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "clrp/graph/export.hpp"

namespace clrp::graph {

GraphSummary summarize(const Graph& g) {
  GraphSummary s;
  const std::size_t n = g.layers.size();
  s.nodes = static_cast<std::int64_t>(g.nodes.size());
  s.nodes_per_layer.assign(n, 0);
  for (const Node& node : g.nodes)
    ++s.nodes_per_layer[static_cast<std::size_t>(node.layer)];
  // Degrees of kept nodes: fan-in counts edges into a node, fan-out edges out of it.
  std::vector<std::vector<std::int64_t>> fan_in(n, std::vector<std::int64_t>(g.tokens, 0)),
      fan_out = fan_in;
  for (const Transition& tr : g.transitions) {
    TransitionSummary ts;
    ts.source = g.layers[tr.source].name;
    ts.target = g.layers[tr.target].name;
    ts.computed_targets = tr.computed_targets;
    ts.pruned_edges = tr.pruned_edges;
    ts.kept_edges = static_cast<std::int64_t>(tr.edges.size());
    ts.total_mass = tr.total_mass;
    ts.pruned_mass_share = tr.total_mass > 0 ? tr.pruned_mass / tr.total_mass : 0;
    ts.kept_mass_share = tr.total_mass > 0 ? tr.kept_mass / tr.total_mass : 0;
    ts.threshold = tr.threshold;
    s.transitions.push_back(ts);
    s.edges += ts.kept_edges;
    for (const Edge& e : tr.edges) {
      ++fan_out[tr.source][static_cast<std::size_t>(e.source)];
      ++fan_in[tr.target][static_cast<std::size_t>(e.target)];
    }
  }
  std::int64_t with_in = 0, with_out = 0, sum_in = 0, sum_out = 0;
  for (const Node& node : g.nodes) {
    const std::int64_t in = fan_in[static_cast<std::size_t>(node.layer)][node.position];
    const std::int64_t out = fan_out[static_cast<std::size_t>(node.layer)][node.position];
    if (node.layer > 0) ++with_in, sum_in += in;
    if (static_cast<std::size_t>(node.layer) + 1 < n) ++with_out, sum_out += out;
    s.max_fan_in = std::max(s.max_fan_in, in);
    s.max_fan_out = std::max(s.max_fan_out, out);
  }
  s.mean_fan_in = with_in ? static_cast<double>(sum_in) / static_cast<double>(with_in) : 0;
  s.mean_fan_out = with_out ? static_cast<double>(sum_out) / static_cast<double>(with_out) : 0;
  auto increments = [&](const std::vector<double>& r) {
    std::vector<double> d(r.size(), 0.0);
    for (std::size_t k = 1; k < r.size(); ++k)
      d[k] = r[k] - r[k - 1];
    return d;
  };
  s.contrast_increment = increments(g.decision.contrast);
  s.wrong_increment = increments(g.decision.wrong);
  s.correct_increment = increments(g.decision.correct);
  const at::Tensor emb = g.relevance[0].to(at::kDouble);
  const double total = emb.sum().item<double>(), first = emb[0].item<double>();
  if (g.target != 0) {
    s.first_token_share = first / g.target;
    s.other_tokens_share = (total - first) / g.target;
    s.self_bias_share = (g.target - total) / g.target;
  }
  return s;
}

nlohmann::json to_json(const GraphSummary& s) {
  nlohmann::json transitions = nlohmann::json::array();
  for (const TransitionSummary& t : s.transitions)
    transitions.push_back({{"source", t.source},
                           {"target", t.target},
                           {"computed_targets", t.computed_targets},
                           {"pruned_edges", t.pruned_edges},
                           {"kept_edges", t.kept_edges},
                           {"total_mass", t.total_mass},
                           {"pruned_mass_share", t.pruned_mass_share},
                           {"kept_mass_share", t.kept_mass_share},
                           {"threshold", t.threshold}});
  return {{"nodes", s.nodes},
          {"edges", s.edges},
          {"nodes_per_layer", s.nodes_per_layer},
          {"transitions", transitions},
          {"mean_fan_in", s.mean_fan_in},
          {"mean_fan_out", s.mean_fan_out},
          {"max_fan_in", s.max_fan_in},
          {"max_fan_out", s.max_fan_out},
          {"contrast_increment", s.contrast_increment},
          {"wrong_increment", s.wrong_increment},
          {"correct_increment", s.correct_increment},
          {"first_token_share", s.first_token_share},
          {"other_tokens_share", s.other_tokens_share},
          {"self_bias_share", s.self_bias_share}};
}

}  // namespace clrp::graph
