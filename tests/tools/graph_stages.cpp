// Test tool: builds attribution graphs stage by stage in one process, handing
// the boundaries from stage to stage by hand, and writes the merged graphs,
// for tests/oracle/test_graph_stages.py.
//
//   clrp_graph_stages MODEL REQUEST.json OUT.json
//
// REQUEST: {"ids": [...], "position": p, "wrong": w, "correct": c, "rule": "attnlrp",
// "mass": 0.85, "node_threshold": 0.01, "split": [a_1, ..., a_{P-1}], "keep_tapes": true,
// "dense": true, "block": Q, "batch": B, "reverse_parts": false, "runs": [{...}, ...]}.
// "split" gives the stage boundaries (stage s runs layers [a_s, a_{s+1})); [] is
// one stage through the stage API; without it the graph comes from build_graph
// on the whole model (the reference). "keep_tapes"/"dense"/"block" (any of
// them) replace the memory plan; "batch" B >= 1 takes the packed edges.
// "runs", when given, lists requests whose keys override the top level's; OUT
// is then {"runs": [graph, ...]}, else the one graph: {"split", "node_layers",
// "position", "tokens", "target", "wrong_logit", "correct_logit", "logits",
// "relevance" [layers][T], "remainder" [layers][T], "nodes" [[layer, position,
// relevance], ...], "transitions" [{"source", "target", "edges" [[s, t, w], ...],
// "total_mass", "pruned_mass", "kept_mass", "computed_targets", "pruned_edges",
// "threshold"}], "decision" {"contrast", "wrong", "correct"}, "plan"}.
#include <ATen/ATen.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "clrp/graph/stage.hpp"
#include "clrp/model/checkpoint.hpp"

namespace {

using nlohmann::json;
using namespace clrp;

json rows(const at::Tensor& t) {
  json out = json::array();
  const at::Tensor c = t.to(at::kFloat).contiguous();
  for (std::int64_t i = 0; i < c.size(0); ++i) {
    const float* p = c[i].data_ptr<float>();
    out.push_back(std::vector<float>(p, p + c.size(1)));
  }
  return out;
}

json graph_json(const graph::Graph& g) {
  json j;
  for (const auto& l : g.layers)
    j["node_layers"].push_back(l.name);
  j["position"] = g.position;
  j["tokens"] = g.tokens;
  j["target"] = g.target;
  j["wrong_logit"] = g.wrong_logit;
  j["correct_logit"] = g.correct_logit;
  const at::Tensor logits = g.logits.contiguous();
  j["logits"] =
      std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
  j["relevance"] = rows(g.relevance);
  j["remainder"] = rows(g.remainder);
  j["nodes"] = json::array();
  for (const auto& n : g.nodes)
    j["nodes"].push_back({n.layer, n.position, n.relevance});
  j["transitions"] = json::array();
  for (const auto& tr : g.transitions) {
    json t{{"source", tr.source},
           {"target", tr.target},
           {"total_mass", tr.total_mass},
           {"pruned_mass", tr.pruned_mass},
           {"kept_mass", tr.kept_mass},
           {"computed_targets", tr.computed_targets},
           {"pruned_edges", tr.pruned_edges},
           {"threshold", tr.threshold},
           {"edges", json::array()}};
    for (const auto& e : tr.edges)
      t["edges"].push_back({e.source, e.target, e.weight});
    j["transitions"].push_back(std::move(t));
  }
  j["decision"] = {{"contrast", g.decision.contrast},
                   {"wrong", g.decision.wrong},
                   {"correct", g.decision.correct}};
  j["plan"] = {{"keep_tapes", g.plan.keep_tapes},
               {"dense", g.plan.dense_transitions},
               {"query_block", g.plan.query_block}};
  return j;
}

class Runner {
 public:
  explicit Runner(const model::Checkpoint& ck) : ck_(ck) {}

  json run(const json& req) {
    const auto ids_v = req.at("ids").get<std::vector<std::int64_t>>();
    const at::Tensor ids = at::tensor(ids_v, at::kLong);
    const auto t = static_cast<std::int64_t>(ids_v.size());
    const std::int64_t position = req.at("position"), wrong = req.at("wrong"),
                       correct = req.at("correct");
    graph::GraphOptions opt;
    opt.rule = lrp::parse_rule(req.at("rule").get<std::string>());
    opt.node_threshold = req.value("node_threshold", 0.01);
    opt.mass_fraction = req.value("mass", 0.85);
    const std::int64_t batch = req.value("batch", 0);
    opt.method = batch > 0 ? graph::EdgeMethod::Packed : graph::EdgeMethod::Structured;
    opt.batch = std::max<std::int64_t>(batch, 1);
    opt.query_block = req.value("block", 0);
    if (req.contains("keep_tapes") || req.contains("dense") || req.contains("block")) {
      graph::GraphPlan plan;
      plan.keep_tapes = req.value("keep_tapes", true);
      plan.dense_transitions = req.value("dense", true);
      plan.query_block = opt.query_block > 0 ? opt.query_block : t;
      opt.plan = plan;
    }
    const std::int64_t layers = ck_.config().num_layers;
    if (!req.contains("split") || req.at("split").is_null()) {
      json j =
          graph_json(graph::build_graph(model({0, layers}), ids, position, wrong, correct, opt));
      j["split"] = nullptr;
      return j;
    }
    std::vector<std::int64_t> cuts{0};
    for (const auto& a : req.at("split"))
      cuts.push_back(a.get<std::int64_t>());
    cuts.push_back(layers);
    const graph::GraphPlan plan =
        opt.plan ? *opt.plan : graph::plan_graph(ck_.config(), t, opt, at::kFloat);
    std::vector<std::unique_ptr<graph::GraphStage>> stages;
    for (std::size_t s = 0; s + 1 < cuts.size(); ++s)
      stages.push_back(
          std::make_unique<graph::GraphStage>(model({cuts[s], cuts[s + 1]}), opt, plan));
    // Up: token ids into stage 0, each stage's output into the next.
    at::Tensor h = ids;
    for (auto& stage : stages)
      h = stage->forward(h);
    // Down: the last stage seeds, each stage's input boundary goes to the one below.
    graph::GraphBoundary top = stages.back()->seed(position, wrong, correct);
    for (auto it = stages.rbegin(); it != stages.rend(); ++it)
      top = (*it)->backward(top);
    std::vector<graph::GraphPart> parts;
    for (const auto& stage : stages)
      parts.push_back(stage->part());
    // A merge of parts out of stage order must be refused (the test of that).
    if (req.value("reverse_parts", false)) std::reverse(parts.begin(), parts.end());
    json j = graph_json(graph::merge_graph_parts(parts, ck_.config()));
    j["split"] = json::array();
    for (std::size_t s = 0; s + 1 < cuts.size(); ++s)
      j["split"].push_back({cuts[s], cuts[s + 1]});
    return j;
  }

 private:
  // Stage models by layer range, loaded once per process.
  const model::DecoderModel& model(model::LayerRange range) {
    auto& m = models_[{range.begin, range.end}];
    if (!m) m = std::make_unique<model::DecoderModel>(ck_, range);
    return *m;
  }

  const model::Checkpoint& ck_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<model::DecoderModel>> models_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: clrp_graph_stages MODEL REQUEST.json OUT.json\n";
    return 2;
  }
  try {
    const auto req = json::parse(std::ifstream(argv[2]));
    const auto ck = model::Checkpoint::open(argv[1]);
    Runner runner(ck);
    json out;
    if (req.contains("runs")) {
      out["runs"] = json::array();
      for (const auto& r : req.at("runs")) {
        json merged = req;
        merged.erase("runs");
        for (const auto& [k, v] : r.items())
          merged[k] = v;
        out["runs"].push_back(runner.run(merged));
      }
    } else {
      out = runner.run(req);
    }
    std::ofstream(argv[3]) << out.dump();
  } catch (const std::exception& e) {
    std::cerr << "clrp_graph_stages: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
