// Test tool: runs the LRP engine on explicit seeds, optionally as two
// pipeline-style stages, and writes everything it recorded as JSON.
//
//   clrp_lrp_batch MODEL REQUEST.json OUT.json
//
// REQUEST: {"ids": [...], "rule": "attnlrp", "seeds": [{"position": p, "wrong": w,
// "correct": c}, ...], "split": a (optional), "neurons": k (optional)}.
// With "split", layers [0,a) and [a,L) are separate DecoderModels: the second
// seeds and walks back to layer a, then hands its input gradient to the first.
//
// Batched explanation: REQUEST {"pack": [{"ids": [...], "seeds": [...]}, ...],
// "rule", "neurons", "split" (optional)} packs the sequences (each with as
// many seeds) into one forward and one backward, and explains each alone too;
// OUT is {"packed": [...], "alone": [...]}, an explanation per sequence each.
#include <ATen/ATen.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/model/checkpoint.hpp"
#include "explanation_json.hpp"

namespace {

std::vector<clrp::lrp::Seed> read_seeds(const nlohmann::json& seeds, std::int64_t vocab) {
  std::vector<clrp::lrp::Seed> out;
  for (const auto& s : seeds)
    out.push_back(
        clrp::lrp::Seed::contrastive(s.at("position"), s.at("wrong"), s.at("correct"), vocab));
  return out;
}

// The engine over layers [0, split) and [split, L) as two stages (split 0: one).
clrp::lrp::Explanation explain(const clrp::model::Checkpoint& ck, std::int64_t split,
                               const at::Tensor& ids, const clrp::model::Packing& packing,
                               const std::vector<clrp::lrp::Seed>& seeds, clrp::lrp::Rule rule,
                               const clrp::lrp::RecordOptions& record) {
  if (split == 0) {
    const clrp::model::DecoderModel model(ck);
    const clrp::lrp::Engine engine(model);
    return engine.explain(engine.forward_ids(ids, packing), seeds, rule, record);
  }
  const clrp::model::DecoderModel first(ck, {0, split}), second(ck, {split, -1});
  const clrp::lrp::Engine e1(first), e2(second);
  const auto s1 = e1.forward_ids(ids, packing);
  const auto s2 = e2.forward(s1.output, true, packing);
  clrp::lrp::Explanation lower, upper;
  e2.backward(s2, e2.seed(s2, seeds, rule, upper), rule, record, upper);
  e1.backward(s1, upper.input_gradient, rule, record, lower);
  return clrp::lrp::merge_stage_parts({lower, upper});
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
    if (req.contains("pack")) {
      const clrp::lrp::RecordOptions record{
          .residual = true, .heads = true, .neurons = req.value("neurons", 0)};
      const std::int64_t split = req.value("split", 0);
      std::vector<at::Tensor> parts;
      clrp::model::Packing packing;
      std::vector<clrp::lrp::Seed> all_seeds;
      nlohmann::json out{{"packed", nlohmann::json::array()}, {"alone", nlohmann::json::array()}};
      for (const auto& item : req.at("pack")) {
        parts.push_back(at::tensor(item.at("ids").get<std::vector<std::int64_t>>(), at::kLong));
        packing.push_back(parts.back().size(0));
        const auto seeds = read_seeds(item.at("seeds"), vocab);
        all_seeds.insert(all_seeds.end(), seeds.begin(), seeds.end());
        out["alone"].push_back(clrp::test_tools::explanation_json(
            explain(ck, split, parts.back(), {}, seeds, rule, record)));
      }
      const auto packed = clrp::lrp::unpack(
          explain(ck, split, at::cat(parts), packing, all_seeds, rule, record), packing);
      for (const auto& e : packed)
        out["packed"].push_back(clrp::test_tools::explanation_json(e));
      std::ofstream(argv[3]) << out.dump();
      return 0;
    }
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
