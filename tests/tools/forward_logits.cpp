// Test tool: runs clrp's forward pass on token id lists and writes the logits
// as raw float32, for comparison against transformers in tests/oracle.
//
//   clrp_forward_logits MODEL INPUT.jsonl OUT.f32 [--split A] [--all-positions] [--dtype D]
//
// Each input line is {"ids": [...]}. Without --all-positions only the last
// position's logits are written (vocab floats per line); with it, tokens×vocab.
// --split A runs layers [0,A) and [A,L) as two separately built models, handing
// the hidden states across the seam. --dtype bfloat16 computes in bf16 (logits
// are written as float32 all the same).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/util/error.hpp"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr
        << "usage: clrp_forward_logits MODEL INPUT.jsonl OUT.f32 [--split A] [--all-positions]\n";
    return 2;
  }
  std::int64_t split = -1;
  bool all_positions = false;
  clrp::model::ComputeOptions compute;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--split") == 0 && i + 1 < argc) {
      split = std::stoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--dtype") == 0 && i + 1 < argc) {
      compute.dtype = clrp::model::parse_compute_dtype(argv[++i]);
    } else if (std::strcmp(argv[i], "--all-positions") == 0) {
      all_positions = true;
    }
  }
  try {
    c10::InferenceMode inference_mode;
    const auto ck = clrp::model::Checkpoint::open(argv[1]);
    const std::int64_t layers = ck.config().num_layers;
    const bool split_run = split >= 0;
    clrp::model::DecoderModel first(ck, {0, split_run ? split : layers}, compute);
    std::unique_ptr<clrp::model::DecoderModel> second;
    if (split_run)
      second =
          std::make_unique<clrp::model::DecoderModel>(ck, clrp::model::LayerRange{split, layers},
                                                      compute);
    std::ifstream in(argv[2]);
    std::ofstream out(argv[3], std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const auto j = nlohmann::json::parse(line);
      std::vector<std::int64_t> ids = j.at("ids").get<std::vector<std::int64_t>>();
      at::Tensor t = at::tensor(ids, at::kLong).unsqueeze(0);
      const at::Tensor positions = at::arange(t.size(1), at::kLong);
      at::Tensor h = first.run_layers(first.embed(t), positions);
      const clrp::model::DecoderModel& last = split_run ? *second : first;
      if (split_run) h = second->run_layers(h, positions);
      // Only the positions asked for go through the (vocabulary-wide) unembedding.
      if (!all_positions) h = h.narrow(1, h.size(1) - 1, 1);
      const at::Tensor logits = last.unembed(h)[0].to(at::kFloat).contiguous();
      out.write(reinterpret_cast<const char*>(logits.data_ptr<float>()),
                static_cast<std::streamsize>(logits.numel() * sizeof(float)));
    }
  } catch (const std::exception& e) {
    std::cerr << "clrp_forward_logits: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
