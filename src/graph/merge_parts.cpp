// The whole graph from the stages' parts (include/clrp/graph/stage.hpp). Each
// node layer and each transition belongs to exactly one stage, so merging is
// concatenation in stage order; the checks catch parts from different graphs
// or a split that does not cover the model.
#include <ATen/ATen.h>

#include <algorithm>

#include "clrp/graph/stage.hpp"
#include "clrp/util/error.hpp"

namespace clrp::graph {

Graph merge_graph_parts(const std::vector<GraphPart>& parts, const model::ModelConfig& config) {
  if (parts.empty()) throw Error("no graph parts to merge");
  Graph g;
  g.layers = node_layers(config);
  const auto n = static_cast<std::int64_t>(g.layers.size());
  const GraphPart& first = parts.front();
  const GraphPart& last = parts.back();
  g.position = first.position;
  g.tokens = first.tokens;
  g.rule = first.rule;
  std::vector<at::Tensor> relevance, remainder;
  std::int64_t next = 0;
  for (std::size_t s = 0; s < parts.size(); ++s) {
    const GraphPart& p = parts[s];
    const std::string stage = "graph part " + std::to_string(s);
    if (p.first_node != next)
      throw Error(stage + " starts at node layer " + std::to_string(p.first_node) + ", not " +
                  std::to_string(next) +
                  ": the parts must come in stage order and cover the model");
    if (p.tokens != g.tokens || p.position != g.position || p.rule != g.rule)
      throw Error(stage + " belongs to another graph (tokens, position or rule differ)");
    if (p.has_target != (s + 1 == parts.size()))
      throw Error(stage + (p.has_target ? " holds the target but is not the last stage"
                                        : " is the last but holds no target"));
    const std::int64_t rows = p.relevance.size(0);
    if (p.remainder.size(0) != rows || p.decision.contrast.size() != static_cast<std::size_t>(rows))
      throw Error(stage + " is inconsistent: its node layers' rows differ in number");
    for (const Transition& tr : p.transitions) {
      if (tr.source != g.transitions.size() || tr.target != tr.source + 1)
        throw Error(stage + " holds transition " + std::to_string(tr.source) + " -> " +
                    std::to_string(tr.target) + " out of order");
      g.transitions.push_back(tr);
    }
    relevance.push_back(p.relevance);
    remainder.push_back(p.remainder);
    g.nodes.insert(g.nodes.end(), p.nodes.begin(), p.nodes.end());
    g.decision.contrast.insert(g.decision.contrast.end(), p.decision.contrast.begin(),
                               p.decision.contrast.end());
    g.decision.wrong.insert(g.decision.wrong.end(), p.decision.wrong.begin(),
                            p.decision.wrong.end());
    g.decision.correct.insert(g.decision.correct.end(), p.decision.correct.begin(),
                              p.decision.correct.end());
    next += rows;
    g.seconds += p.seconds;
    g.plan.estimate_bytes = std::max(g.plan.estimate_bytes, p.plan.estimate_bytes);
  }
  if (next != n || static_cast<std::int64_t>(g.transitions.size()) != n - 1)
    throw Error("the graph parts cover " + std::to_string(next) + " of the model's " +
                std::to_string(n) + " node layers");
  g.relevance = at::cat(relevance, 0);
  g.remainder = at::cat(remainder, 0);
  g.target = last.target;
  g.wrong_logit = last.wrong_logit;
  g.correct_logit = last.correct_logit;
  g.logits = last.logits;
  // Stages plan alike; the largest stage's estimate bounds every machine's peak.
  const std::int64_t estimate = g.plan.estimate_bytes;
  g.plan = first.plan;
  g.plan.estimate_bytes = estimate;
  return g;
}

}  // namespace clrp::graph
