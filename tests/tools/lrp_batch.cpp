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
#include "clrp/model/checkpoint.hpp"

namespace {

nlohmann::json to_json(const at::Tensor& t) {
  if (!t.defined()) return nullptr;
  const at::Tensor c = t.to(at::kDouble).contiguous();
  std::vector<double> flat(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return {{"shape", t.sizes().vec()}, {"data", flat}};
}

}  // namespace

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
      clrp::lrp::Explanation upper;
      e2.backward(s2, e2.seed(s2, seeds, rule, upper), rule, record, upper);
      e1.backward(s1, upper.input_gradient, rule, record, ex);
      ex.target = upper.target;
      ex.logits = upper.logits;
      if (ex.mid_relevance.defined())
        ex.mid_relevance = at::cat({ex.mid_relevance, upper.mid_relevance}, 1);
      ex.layer_relevance = at::cat({ex.layer_relevance, upper.layer_relevance}, 1);
      ex.head_relevance = at::cat({ex.head_relevance, upper.head_relevance}, 1);
      ex.bias_absorbed = at::cat({ex.bias_absorbed, upper.bias_absorbed}, 1);
      if (upper.neuron_ids.defined()) {
        ex.neuron_ids = at::cat({ex.neuron_ids, upper.neuron_ids}, 1);
        ex.neuron_relevance = at::cat({ex.neuron_relevance, upper.neuron_relevance}, 1);
      }
    } else {
      const clrp::model::DecoderModel model(ck);
      ex = clrp::lrp::Engine(model).explain(input, seeds, rule, record);
    }
    nlohmann::json out{{"target", to_json(ex.target)},
                       {"token_relevance", to_json(ex.token_relevance)},
                       {"mid_relevance", to_json(ex.mid_relevance)},
                       {"layer_relevance", to_json(ex.layer_relevance)},
                       {"head_relevance", to_json(ex.head_relevance)},
                       {"neuron_ids", to_json(ex.neuron_ids)},
                       {"neuron_relevance", to_json(ex.neuron_relevance)},
                       {"bias_absorbed", to_json(ex.bias_absorbed)},
                       {"head_bias_absorbed", to_json(ex.head_bias_absorbed)},
                       {"position_relevance", to_json(ex.position_relevance)}};
    std::ofstream(argv[3]) << out.dump();
  } catch (const std::exception& e) {
    std::cerr << "clrp_lrp_batch: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
