// The circuit-tracer / Neuronpedia graph JSON (docs/graphs.md has the mapping).
//
// circuit-tracer's frontend draws node row `layer + 1` ("E" is row 0) and
// needs integer layers, so hidden states get doubled layer numbers: the
// residual after layer l's attention is layer 2l+1, after its MLP 2l+2 (a
// parallel-residual family, without mid states, uses l+1); the Δℓ target is
// a logit node one row above the last block, with the package's convention
// for custom targets (feature = vocabulary size).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "clrp/graph/export.hpp"
#include "clrp/lrp/rules.hpp"

namespace clrp::graph {

namespace {

// circuit-tracer's row of a node layer (as a number; "E" for the embedding).
std::int64_t row_of(const NodeLayer& layer, bool has_mid) {
  if (layer.kind == NodeKind::Embedding) return 0;
  if (!has_mid) return layer.layer + 1;
  return 2 * layer.layer + (layer.kind == NodeKind::Mid ? 1 : 2);
}

std::string node_id(const NodeLayer& layer, bool has_mid, std::int64_t position,
                    std::int32_t token) {
  if (layer.kind == NodeKind::Embedding)
    return "E_" + std::to_string(token) + "_" + std::to_string(position);
  return std::to_string(row_of(layer, has_mid)) + "_" + std::to_string(position) + "_" +
         std::to_string(position);
}

}  // namespace

std::vector<double> cumulative_influence(const Graph& g) {
  const std::size_t n = g.layers.size();
  const auto t = static_cast<std::size_t>(g.tokens);
  // Influence accumulated top-down over the layered DAG: what reaches a node
  // (its own weight, 1 for the target, plus the influence it carries) is
  // handed to its sources in proportion to |w| / Σ|w| of its incoming edges.
  std::vector<std::vector<double>> influence(n, std::vector<double>(t, 0.0));
  std::vector<double> carried_top(t, 0.0);
  carried_top[static_cast<std::size_t>(g.position)] = 1.0;  // the single edge into the target
  for (std::size_t k = n - 1; k-- > 0;) {
    const Transition& tr = g.transitions[k];
    std::vector<double> in_mass(t, 0.0);
    for (const Edge& e : tr.edges)
      in_mass[static_cast<std::size_t>(e.target)] += std::fabs(e.weight);
    for (const Edge& e : tr.edges) {
      const auto target = static_cast<std::size_t>(e.target);
      const double carried = k + 1 == n - 1 ? carried_top[target] + influence[k + 1][target]
                                            : influence[k + 1][target];
      influence[k][static_cast<std::size_t>(e.source)] +=
          carried * std::fabs(e.weight) / in_mass[target];
    }
  }
  std::vector<double> raw;
  for (const Node& node : g.nodes) {
    double v =
        influence[static_cast<std::size_t>(node.layer)][static_cast<std::size_t>(node.position)];
    if (static_cast<std::size_t>(node.layer) == n - 1)
      v += carried_top[static_cast<std::size_t>(node.position)];
    raw.push_back(v);
  }
  std::vector<std::size_t> order(raw.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return raw[a] > raw[b]; });
  const double total = std::accumulate(raw.begin(), raw.end(), 0.0);
  std::vector<double> out(raw.size(), 0.0);
  double cumulative = 0;
  for (std::size_t i : order) {
    cumulative += raw[i];
    out[i] = total > 0 ? cumulative / total : 0.0;
  }
  return out;
}

nlohmann::json graph_json(const Graph& g, const GraphContext& ctx) {
  const bool has_mid = std::any_of(g.layers.begin(), g.layers.end(),
                                   [](const NodeLayer& l) { return l.kind == NodeKind::Mid; });
  const std::vector<double> influence = cumulative_influence(g);
  nlohmann::json nodes = nlohmann::json::array(), links = nlohmann::json::array();
  std::int64_t top_row = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    const NodeLayer& layer = g.layers[static_cast<std::size_t>(node.layer)];
    const std::int64_t row = row_of(layer, has_mid);
    top_row = std::max(top_row, row);
    const bool emb = layer.kind == NodeKind::Embedding;
    const std::string id = node_id(layer, has_mid, node.position, ctx.ids[node.position]);
    nodes.push_back({{"node_id", id},
                     {"jsNodeId", id},
                     {"feature", node.position},
                     {"layer", emb ? std::string("E") : std::to_string(row)},
                     {"ctx_idx", node.position},
                     {"feature_type", emb ? "embedding" : "residual stream"},
                     {"token_prob", 0.0},
                     {"is_target_logit", false},
                     {"run_idx", 0},
                     {"reverse_ctx_idx", 0},
                     {"clerp", emb ? std::string()
                                   : "L" + std::to_string(layer.layer) +
                                         (layer.kind == NodeKind::Mid ? " mid" : " out")},
                     {"influence", influence[i]},
                     {"activation", nullptr},
                     {"relevance", node.relevance}});
  }
  // The target: Δℓ as one logit node, as circuit-tracer writes custom targets.
  const std::int64_t vocab_feature = 1 << 30;  // past any vocabulary: a virtual token
  const std::string target_row = std::to_string(top_row + 1);
  const std::string target_id =
      target_row + "_" + std::to_string(vocab_feature) + "_" + std::to_string(g.position);
  char clerp[512];
  std::snprintf(clerp, sizeof clerp, "Output \"logit(%s)-logit(%s)\" (p=%.3f)",
                ctx.wrong_token.c_str(), ctx.correct_token.c_str(), ctx.wrong_prob);
  nodes.push_back({{"node_id", target_id},
                   {"jsNodeId", target_id},
                   {"feature", vocab_feature},
                   {"layer", target_row},
                   {"ctx_idx", g.position},
                   {"feature_type", "logit"},
                   {"token_prob", std::max(ctx.wrong_prob, 1e-6)},
                   {"is_target_logit", true},
                   {"run_idx", 0},
                   {"reverse_ctx_idx", 0},
                   {"clerp", clerp},
                   {"influence", nullptr},
                   {"activation", nullptr},
                   {"relevance", g.target}});
  for (const Transition& tr : g.transitions)
    for (const Edge& e : tr.edges)
      links.push_back(
          {{"source", node_id(g.layers[tr.source], has_mid, e.source, ctx.ids[e.source])},
           {"target", node_id(g.layers[tr.target], has_mid, e.target, ctx.ids[e.target])},
           {"weight", e.weight}});
  const std::size_t top = g.layers.size() - 1;
  links.push_back(
      {{"source", node_id(g.layers[top], has_mid, g.position, ctx.ids[g.position])},
       {"target", target_id},
       {"weight", g.relevance[static_cast<std::int64_t>(top)][g.position].item<double>()}});

  nlohmann::json j;
  j["metadata"] = {{"slug", ctx.slug},
                   {"scan", ctx.model},
                   {"transcoder_list", nlohmann::json::array()},
                   {"prompt_tokens", ctx.tokens},
                   {"prompt", ctx.prompt},
                   {"node_threshold", 0.8},
                   {"schema_version", 1},
                   {"num_layers", top_row + 1}};
  j["qParams"] = {{"pinnedIds", nlohmann::json::array()},
                  {"supernodes", nlohmann::json::array()},
                  {"linkType", "both"},
                  {"clickedId", ""},
                  {"sg_pos", ""}};
  j["nodes"] = nodes;
  j["links"] = links;
  nlohmann::json layers = nlohmann::json::array();
  for (const NodeLayer& l : g.layers)
    layers.push_back({{"name", l.name}, {"layer", l.layer}, {"row", row_of(l, has_mid)}});
  std::vector<std::vector<float>> relevance, remainder;
  for (std::int64_t k = 0; k < g.relevance.size(0); ++k) {
    const at::Tensor r = g.relevance[k].contiguous(), m = g.remainder[k].contiguous();
    relevance.emplace_back(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
    remainder.emplace_back(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
  }
  j["clrp"] = {{"rule", lrp::to_string(g.rule)},
               {"position", g.position},
               {"target", g.target},
               {"ids", ctx.ids},
               {"wrong",
                {{"token", ctx.wrong_token},
                 {"id", ctx.wrong_id},
                 {"logit", g.wrong_logit},
                 {"prob", ctx.wrong_prob}}},
               {"correct",
                {{"token", ctx.correct_token},
                 {"id", ctx.correct_id},
                 {"logit", g.correct_logit},
                 {"prob", ctx.correct_prob}}},
               {"node_layers", layers},
               {"relevance", relevance},
               {"remainder", remainder},
               {"decision",
                {{"contrast", g.decision.contrast},
                 {"wrong", g.decision.wrong},
                 {"correct", g.decision.correct}}},
               {"summary", to_json(summarize(g))},
               {"plan", g.plan.describe()},
               {"seconds", g.seconds}};
  return j;
}

}  // namespace clrp::graph
