// Test tool: runs the LRP engine on explicit seeds, optionally as two
// pipeline-style stages, and writes everything it recorded as JSON.
//
//   clrp_lrp_batch MODEL REQUEST.json OUT.json
//
// REQUEST: {"ids": [...], "rule": "attnlrp", "seeds": [{"position": p, "wrong": w,
// "correct": c}, ...], "split": a (optional), "neurons": k (optional)}.
// With "split", layers [0,a) and [a,L) are separate DecoderModels: the second
// seeds and walks back to layer a, then hands its input gradient to the first.
#include <ATen/ATen.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/model/checkpoint.hpp"
#include "explanation_json.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: clrp_lrp_batch MODEL REQUEST.json OUT.json\n";
    return 2;
  }
  try {
    const auto req = nlohmann::json::parse(std::ifstream(argv[2]));
    const auto ck = clrp::model::Checkpoint::open(argv[1]);
    const std::int64_t layers = ck.config().num_layers, vocab = ck.config().vocab_size;
    const auto rule = clrp::lrp::parse_rule(req.at("rule").get<std::string>());
    std::vector<std::int64_t> ids = req.at("ids").get<std::vector<std::int64_t>>();
    const at::Tensor input = at::tensor(ids, at::kLong);
    std::vector<clrp::lrp::Seed> seeds;
    for (const auto& s : req.at("seeds"))
      seeds.push_back(
          clrp::lrp::Seed::contrastive(s.at("position"), s.at("wrong"), s.at("correct"), vocab));
    clrp::lrp::RecordOptions record{
        .residual = true, .heads = true, .neurons = req.value("neurons", 0)};
    clrp::lrp::Explanation ex;
    if (req.contains("split")) {
      const std::int64_t a = req.at("split");
      const clrp::model::DecoderModel first(ck, {0, a}), second(ck, {a, layers});
      const clrp::lrp::Engine e1(first), e2(second);
      const auto s1 = e1.forward_ids(input);
      const auto s2 = e2.forward(s1.output);
      clrp::lrp::Explanation lower, upper;
      e2.backward(s2, e2.seed(s2, seeds, rule, upper), rule, record, upper);
      e1.backward(s1, upper.input_gradient, rule, record, lower);
      ex = clrp::lrp::merge_stage_parts({lower, upper});
    } else {
      const clrp::model::DecoderModel model(ck);
      ex = clrp::lrp::Engine(model).explain(input, seeds, rule, record);
    }
    const nlohmann::json out = clrp::test_tools::explanation_json(ex);
    std::ofstream(argv[3]) << out.dump();
  } catch (const std::exception& e) {
    std::cerr << "clrp_lrp_batch: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
