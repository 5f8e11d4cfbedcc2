// Test tool: builds an attribution graph and writes every transition's
// unpruned edge matrix, for tests/oracle/test_graph_oracle.py.
//
//   clrp_graph_dense MODEL REQUEST.json OUT.safetensors
//
// REQUEST: {"ids": [...], "rule": "attnlrp", "position": p, "wrong": w, "correct": c,
// "node_threshold": 0.01, "batch": B, "block": Q, "keep_tapes": true, "dense": true}
// (the last two, when given, replace the memory plan). batch 0: the structured
// (closed-form) edges; B >= 1: the generic backward, B targets per pass.
// block: target rows per attention block (0: the plan's choice).
// OUT holds float32 "relevance.<node>" [T], "remainder.<node>" [T] and
// "edges.<source>.<target>" [T, T] (rows: target positions, columns: sources),
// and __metadata__ {"node_layers": [...], "target": "Δℓ", "kept_edges": [...]}.
#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "clrp/graph/graph.hpp"
#include "clrp/model/checkpoint.hpp"

namespace {

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const nlohmann::json& metadata) {
  nlohmann::json header;
  header["__metadata__"] = metadata;
  std::int64_t offset = 0;
  std::vector<at::Tensor> order;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.to(at::kFloat).contiguous();
    const std::int64_t bytes = c.numel() * 4;
    header[name] = {
        {"dtype", "F32"}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    order.push_back(c);
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0)
    h.push_back(' ');
  std::ofstream f(path, std::ios::binary);
  const std::uint64_t n = h.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << h;
  for (const auto& c : order)
    f.write(static_cast<const char*>(c.data_ptr()), c.numel() * 4);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: clrp_graph_dense MODEL REQUEST.json OUT.safetensors\n";
    return 2;
  }
  try {
    const auto req = nlohmann::json::parse(std::ifstream(argv[2]));
    const auto ck = clrp::model::Checkpoint::open(argv[1]);
    const clrp::model::DecoderModel model(ck);
    const auto ids = req.at("ids").get<std::vector<std::int64_t>>();
    const std::int64_t t = static_cast<std::int64_t>(ids.size());
    const auto layers = clrp::graph::node_layers(ck.config());
    std::vector<at::Tensor> dense;
    for (std::size_t k = 0; k + 1 < layers.size(); ++k)
      dense.push_back(at::zeros({t, t}, at::kFloat));
    clrp::graph::GraphOptions opt;
    opt.rule = clrp::lrp::parse_rule(req.at("rule").get<std::string>());
    opt.node_threshold = req.value("node_threshold", 0.01);
    const std::int64_t batch = req.value("batch", 0);
    opt.method = batch > 0 ? clrp::graph::EdgeMethod::Packed : clrp::graph::EdgeMethod::Structured;
    opt.batch = std::max<std::int64_t>(batch, 1);
    opt.query_block = req.value("block", 0);
    if (req.contains("keep_tapes") || req.contains("dense")) {
      clrp::graph::GraphPlan plan;
      plan.keep_tapes = req.value("keep_tapes", true);
      plan.dense_transitions = req.value("dense", true);
      plan.query_block = opt.query_block > 0 ? opt.query_block : t;
      opt.plan = plan;
    }
    opt.on_block = [&](std::size_t k, const clrp::graph::EdgeBlock& b) {
      for (std::size_t r = 0; r < b.targets.size(); ++r) {
        const auto row = static_cast<std::int64_t>(r);
        if (b.diagonal)
          dense[k][b.targets[r]][b.targets[r]] = b.values[row];
        else
          dense[k][b.targets[r]].narrow(0, 0, b.values.size(1)).copy_(b.values[row]);
      }
    };
    const auto g = clrp::graph::build_graph(model, at::tensor(ids, at::kLong), req.at("position"),
                                            req.at("wrong"), req.at("correct"), opt);
    std::map<std::string, at::Tensor> out;
    nlohmann::json names = nlohmann::json::array(), kept = nlohmann::json::array();
    for (std::size_t k = 0; k < layers.size(); ++k) {
      names.push_back(layers[k].name);
      out["relevance." + layers[k].name] = g.relevance[static_cast<std::int64_t>(k)];
      out["remainder." + layers[k].name] = g.remainder[static_cast<std::int64_t>(k)];
    }
    for (std::size_t k = 0; k + 1 < layers.size(); ++k) {
      out["edges." + layers[k].name + "." + layers[k + 1].name] = dense[k];
      kept.push_back(g.transitions[k].edges.size());
    }
    write_safetensors(argv[3], out,
                      {{"node_layers", names.dump()},
                       {"target", nlohmann::json(g.target).dump()},
                       {"kept_edges", kept.dump()},
                       {"kept_nodes", std::to_string(g.nodes.size())}});
  } catch (const std::exception& e) {
    std::cerr << "clrp_graph_dense: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
