#include "clrp/eval/generate.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "clrp/eval/prompt_state.hpp"

namespace clrp::eval {

const char* to_string(StopReason r) {
  switch (r) {
    case StopReason::eos:
      return "eos";
    case StopReason::stop_sequence:
      return "stop_sequence";
    case StopReason::max_tokens:
      return "max_tokens";
    case StopReason::context:
      return "context";
  }
  return "?";
}

std::size_t find_stop(const std::string& text, const std::vector<std::string>& stop) {
  std::size_t best = std::string::npos;
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    best = std::min(best, text.find(s));
  }
  return best;
}

Generation greedy_generate(const model::DecoderModel& model, const text::Tokenizer& tokenizer,
                           model::KvCache& cache, at::Tensor next_logits,
                           const GenerateOptions& options) {
  c10::InferenceMode inference_mode;
  Generation g;
  const std::int64_t context = model.config().max_position_embeddings;
  for (int step = 0; step < options.max_new_tokens; ++step) {
    const at::Tensor logits = next_logits.to(at::kCPU, at::kFloat);
    const auto token = static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
    g.tokens.push_back(token);
    g.chosen_logits.push_back(logits[token].item<float>());
    if (options.record_top_k > 0) {
      const auto k = std::min<std::int64_t>(options.record_top_k, logits.size(0));
      const auto [values, indices] = at::topk(logits, k);
      std::vector<std::int32_t> ids;
      std::vector<float> vals;
      for (std::int64_t i = 0; i < k; ++i) {
        ids.push_back(static_cast<std::int32_t>(indices[i].item<std::int64_t>()));
        vals.push_back(values[i].item<float>());
      }
      g.top_ids.push_back(std::move(ids));
      g.top_logits.push_back(std::move(vals));
    }
    if (options.eos && token == *options.eos) {
      g.reason = StopReason::eos;
      break;
    }
    // Stops are searched in the decoded text: a stop string can span tokens.
    const std::string text = tokenizer.decode(g.tokens);
    const std::size_t at = find_stop(text, options.stop);
    if (at != std::string::npos) {
      g.reason = StopReason::stop_sequence;
      g.text = text.substr(0, at);
      return g;
    }
    if (step + 1 == options.max_new_tokens) break;
    if (cache.length + 1 > context) {
      g.reason = StopReason::context;
      break;
    }
    next_logits = model.forward_cached(ids_tensor({token}), cache, true)[0][0];
  }
  std::vector<std::int32_t> body = g.tokens;
  if (g.reason == StopReason::eos) body.pop_back();
  g.text = tokenizer.decode(body);
  return g;
}

}  // namespace clrp::eval
