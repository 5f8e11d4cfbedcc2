#include "clrp/eval/generate.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <memory>

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

GreedyDecoding::GreedyDecoding(const text::Tokenizer& tokenizer, const GenerateOptions& options)
    : tokenizer_(tokenizer), options_(options) {}

bool GreedyDecoding::step(const at::Tensor& logits, std::int64_t cached, std::int64_t context) {
  const auto token = static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
  g_.tokens.push_back(token);
  g_.chosen_logits.push_back(logits[token].item<float>());
  if (options_.record_top_k > 0) {
    const auto k = std::min<std::int64_t>(options_.record_top_k, logits.size(0));
    const auto [values, indices] = at::topk(logits, k);
    std::vector<std::int32_t> ids;
    std::vector<float> vals;
    for (std::int64_t i = 0; i < k; ++i) {
      ids.push_back(static_cast<std::int32_t>(indices[i].item<std::int64_t>()));
      vals.push_back(values[i].item<float>());
    }
    g_.top_ids.push_back(std::move(ids));
    g_.top_logits.push_back(std::move(vals));
  }
  if (options_.eos && token == *options_.eos) {
    g_.reason = StopReason::eos;
    return false;
  }
  // Stops are searched in the decoded text: a stop string can span tokens.
  if (!options_.stop.empty()) {
    const std::string text = tokenizer_.decode(g_.tokens);
    const std::size_t at = find_stop(text, options_.stop);
    if (at != std::string::npos) {
      g_.reason = StopReason::stop_sequence;
      g_.text = text.substr(0, at);
      cut_ = true;
      return false;
    }
  }
  if (static_cast<int>(g_.tokens.size()) >= options_.max_new_tokens) {
    g_.reason = StopReason::max_tokens;
    return false;
  }
  if (cached + 1 > context) {
    g_.reason = StopReason::context;
    return false;
  }
  return true;
}

Generation GreedyDecoding::finish() {
  if (!cut_) {
    std::vector<std::int32_t> body = g_.tokens;
    if (g_.reason == StopReason::eos) body.pop_back();
    g_.text = tokenizer_.decode(body);
  }
  return std::move(g_);
}

Generation greedy_generate(const model::IncrementalModel& model, const text::Tokenizer& tokenizer,
                           model::KvCache& cache, at::Tensor next_logits,
                           const GenerateOptions& options) {
  c10::InferenceMode inference_mode;
  GreedyDecoding d(tokenizer, options);
  if (options.max_new_tokens <= 0) return d.finish();
  const std::int64_t context = model.config().max_position_embeddings;
  while (d.step(next_logits.to(at::kCPU, at::kFloat), cache.length, context))
    next_logits = model.forward_cached(ids_tensor({d.token()}), cache, true)[0][0];
  return d.finish();
}

std::vector<Generation> greedy_generate_batch(const model::IncrementalModel& model,
                                              const text::Tokenizer& tokenizer,
                                              std::vector<GenerationRequest>& requests,
                                              int max_batch) {
  c10::InferenceMode inference_mode;
  const std::int64_t context = model.config().max_position_embeddings;
  std::vector<Generation> out(requests.size());
  std::vector<std::unique_ptr<GreedyDecoding>> decoding(requests.size());
  // The batch: request indices whose token is to be fed in the next step.
  std::vector<std::size_t> active;
  std::size_t next = 0;
  // A joining sequence takes its first token from its own logits; it enters
  // the batch only if it goes on.
  auto join = [&](std::size_t i) {
    GenerationRequest& r = requests[i];
    decoding[i] = std::make_unique<GreedyDecoding>(tokenizer, r.options);
    if (r.options.max_new_tokens > 0 &&
        decoding[i]->step(r.next_logits.to(at::kCPU, at::kFloat), r.cache.length, context))
      active.push_back(i);
    else
      out[i] = decoding[i]->finish();
  };
  for (;;) {
    while (active.size() < static_cast<std::size_t>(std::max(1, max_batch)) &&
           next < requests.size())
      join(next++);
    if (active.empty()) break;
    std::vector<std::int32_t> ids;
    std::vector<model::KvCache*> caches;
    for (std::size_t i : active) {
      ids.push_back(decoding[i]->token());
      caches.push_back(&requests[i].cache);
    }
    const at::Tensor logits = model.forward_step(ids, caches).to(at::kCPU);
    std::vector<std::size_t> still;
    for (std::size_t j = 0; j < active.size(); ++j) {
      const std::size_t i = active[j];
      if (decoding[i]->step(logits[static_cast<std::int64_t>(j)], requests[i].cache.length,
                            context))
        still.push_back(i);
      else
        out[i] = decoding[i]->finish();
    }
    active = std::move(still);
  }
  return out;
}

}  // namespace clrp::eval
