#include "clrp/eval/prompt_state.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>

#include "clrp/text/chat_template.hpp"
#include "clrp/util/error.hpp"

namespace clrp::eval {

at::Tensor ids_tensor(const std::vector<std::int32_t>& ids) {
  return at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
}

RenderedPrompt render_prompt(const std::string& model_path, const std::string& prompt,
                             const std::optional<text::ChatSettings>& chat) {
  if (prompt.empty()) throw Error("the prompt is empty");
  if (!chat) return {prompt, true};
  // One template per (model, name), read once per process: an evaluation
  // renders every item of a benchmark through it, a plan every pair.
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::string>, text::ChatTemplate> loaded;
  const text::ChatTemplate* tmpl = nullptr;
  {
    const std::lock_guard lock(mutex);
    const auto key = std::make_pair(model_path, chat->template_name);
    auto it = loaded.find(key);
    if (it == loaded.end())
      it = loaded.emplace(key, text::load_chat_template(key.first, key.second)).first;
    tmpl = &it->second;
  }
  return {tmpl->render_prompt(prompt, *chat), false};
}

RenderedPrompt render_prompt(const model::LoadedModel& m, const std::string& prompt,
                             const std::optional<text::ChatSettings>& chat) {
  return render_prompt(m.checkpoint.path(), prompt, chat);
}

ContinuationTokens split_continuation(const text::Tokenizer& tokenizer,
                                      const RenderedPrompt& prompt,
                                      const std::vector<std::int32_t>& prompt_ids,
                                      const std::string& continuation) {
  ContinuationTokens out;
  out.whole = tokenizer.encode(prompt.text + continuation, prompt.add_special_tokens);
  const auto mismatch =
      std::mismatch(prompt_ids.begin(), prompt_ids.end(), out.whole.begin(), out.whole.end());
  out.context = static_cast<std::size_t>(mismatch.first - prompt_ids.begin());
  if (out.context >= out.whole.size())
    throw Error("the continuation " + nlohmann::json(continuation).dump() +
                " adds no token to the prompt");
  if (out.context == 0)
    throw Error("the continuation " + nlohmann::json(continuation).dump() +
                " changes the prompt's first token; nothing to condition on");
  return out;
}

model::KvCache PrefixCache::lookup(const std::vector<std::int32_t>& ids) const {
  const Entry* best = nullptr;
  std::size_t best_n = 0;
  for (const Entry& e : entries_) {
    const auto m = std::mismatch(ids.begin(), ids.end(), e.ids.begin(), e.ids.end());
    const auto n = static_cast<std::size_t>(m.first - ids.begin());
    if (n > best_n) best = &e, best_n = n;
  }
  best_n = std::min(best_n, ids.size() - 1);
  if (best == nullptr || best_n < min_shared_) return {};
  reused_ += static_cast<std::int64_t>(best_n);
  return best->cache.truncated(static_cast<std::int64_t>(best_n));
}

void PrefixCache::keep(const std::vector<std::int32_t>& ids, const model::KvCache& cache) {
  if (keep_ == 0) return;
  if (entries_.size() >= keep_) entries_.erase(entries_.begin());
  entries_.push_back({ids, cache});
}

PromptState::PromptState(const model::IncrementalModel& model, std::vector<std::int32_t> ids,
                         PrefixCache* reuse)
    : model_(model), ids_(std::move(ids)) {
  if (ids_.empty()) throw Error("empty prompt");
  if (reuse != nullptr) cache_ = reuse->lookup(ids_);
  const auto from = static_cast<std::ptrdiff_t>(cache_.length);
  const std::vector<std::int32_t> rest(ids_.begin() + from, ids_.end());
  const at::Tensor logits = model_.forward_cached(ids_tensor(rest), cache_, /*last_only=*/true);
  last_logits_ = logits[0][0].to(at::kCPU, at::kFloat);
  if (reuse != nullptr) reuse->keep(ids_, cache_);
}

at::Tensor PromptState::logits_after(const std::vector<std::int32_t>& extra) const {
  if (extra.empty()) return last_logits_;
  model::KvCache fork = cache_;
  return model_.forward_cached(ids_tensor(extra), fork, true)[0][0].to(at::kCPU, at::kFloat);
}

namespace {

// Log-probabilities and argmax of `targets` under logits rows [n, vocab].
void collect(const at::Tensor& rows, const std::vector<std::int32_t>& targets,
             ContinuationScore& score) {
  const at::Tensor logp = at::log_softmax(rows.to(at::kCPU, at::kFloat), -1);
  const at::Tensor arg = rows.argmax(-1).to(at::kCPU);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto r = static_cast<std::int64_t>(i);
    const double lp = logp[r][targets[i]].item<double>();
    score.token_logprobs.push_back(lp);
    score.token_argmax.push_back(static_cast<std::int32_t>(arg[r].item<std::int64_t>()));
    score.logprob += lp;
  }
}

}  // namespace

std::vector<ContinuationScore> PromptState::score(
    const std::vector<ContinuationTokens>& continuations) const {
  c10::InferenceMode inference_mode;
  const std::size_t n = ids_.size();
  std::vector<ContinuationScore> out(continuations.size());
  // Continuations right after the whole prompt: the first token's log-prob is
  // in last_logits_; the rest come from one batch fed into the shared cache,
  // right-padded (padding sits after the real tokens, so causal attention
  // keeps it from touching them).
  std::vector<std::size_t> batched;
  std::size_t longest = 0;
  for (std::size_t i = 0; i < continuations.size(); ++i) {
    const auto& c = continuations[i];
    if (c.context != n) continue;
    batched.push_back(i);
    longest = std::max(longest, c.whole.size() - n - 1);
  }
  if (!batched.empty()) {
    at::Tensor rest;
    if (longest > 0) {
      const auto b = static_cast<std::int64_t>(batched.size());
      at::Tensor input = at::zeros({b, static_cast<std::int64_t>(longest)}, at::kLong);
      for (std::int64_t r = 0; r < b; ++r) {
        const auto& w = continuations[batched[static_cast<std::size_t>(r)]].whole;
        for (std::size_t t = n; t + 1 < w.size(); ++t)
          input[r][static_cast<std::int64_t>(t - n)] = w[t];
      }
      model::KvCache fork = cache_.expanded(b);
      rest = model_.forward_cached(input, fork);
    }
    for (std::size_t r = 0; r < batched.size(); ++r) {
      const auto& c = continuations[batched[r]];
      const std::vector<std::int32_t> targets = c.continuation();
      at::Tensor rows = last_logits_.unsqueeze(0);
      if (targets.size() > 1)
        rows = at::cat({rows, rest[static_cast<std::int64_t>(r)]
                                  .narrow(0, 0, static_cast<std::int64_t>(targets.size() - 1))
                                  .to(at::kCPU, at::kFloat)});
      collect(rows, targets, out[batched[r]]);
    }
  }
  // A continuation that re-merged with the prompt's end: run it from its own
  // context (cache truncated to context − 1, then its tokens from there).
  for (std::size_t i = 0; i < continuations.size(); ++i) {
    const auto& c = continuations[i];
    if (c.context == n) continue;
    model::KvCache fork = cache_.truncated(static_cast<std::int64_t>(c.context - 1));
    const std::vector<std::int32_t> feed(
        c.whole.begin() + static_cast<std::ptrdiff_t>(c.context - 1), c.whole.end() - 1);
    const at::Tensor rows = model_.forward_cached(ids_tensor(feed), fork)[0];
    collect(rows, c.continuation(), out[i]);
  }
  return out;
}

}  // namespace clrp::eval
