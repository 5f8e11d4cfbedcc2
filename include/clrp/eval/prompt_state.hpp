// A prompt the model has read once, and what can be asked of it cheaply
// afterwards: the next-token logits, the log-likelihood of continuations (the
// cloze formulation), the logits after a few more tokens (contrast positions).
//
// Everything shares the prompt's KV cache, so a continuation costs only its
// own tokens. Continuations are tokenised as lm-evaluation-harness and
// oe-eval do: the prompt and the continuation are encoded together, and the
// continuation's tokens are those past the longest common prefix with the
// prompt's own encoding (a merge across the seam moves the split left).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clrp/model/incremental.hpp"
#include "clrp/model/kv_cache.hpp"
#include "clrp/model/load.hpp"
#include "clrp/text/chat_template.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::eval {

/// A prompt as the tokenizer sees it (chat template applied or not).
struct RenderedPrompt {
  std::string text;
  bool add_special_tokens = true;  ///< false when the template writes its own special tokens
};

/// Renders `prompt` for model `m`: as it is, or (with `chat`) as the user turn
/// of the model's chat template, which then carries its own special tokens.
/// clrp::Error for an empty prompt, a model without a template, or a template
/// that fails (text/chat_template.hpp).
RenderedPrompt render_prompt(const model::LoadedModel& m, const std::string& prompt,
                             const std::optional<text::ChatSettings>& chat);
/// The same for the model at `model_path` (a folder or .gguf), without loading it.
RenderedPrompt render_prompt(const std::string& model_path, const std::string& prompt,
                             const std::optional<text::ChatSettings>& chat);

/// A continuation split off its context: `whole` = tokens(prompt + continuation);
/// the continuation is whole[context, end).
struct ContinuationTokens {
  std::vector<std::int32_t> whole;
  std::size_t context = 0;
  std::vector<std::int32_t> continuation() const {
    return {whole.begin() + static_cast<std::ptrdiff_t>(context), whole.end()};
  }
};

/// Splits as described above. clrp::Error when the continuation adds no token
/// or the common prefix is empty (nothing to condition on).
ContinuationTokens split_continuation(const text::Tokenizer& tokenizer,
                                      const RenderedPrompt& prompt,
                                      const std::vector<std::int32_t>& prompt_ids,
                                      const std::string& continuation);

/// Log-likelihood of one continuation.
struct ContinuationScore {
  double logprob = 0.0;                    ///< Σ log p(token | everything before)
  std::vector<double> token_logprobs;      ///< per continuation token
  std::vector<std::int32_t> token_argmax;  ///< the model's top token at each of those positions
};

/// Prompt caches kept for reuse: a new prompt starts from the kept one with
/// which it shares the longest prefix — the few-shot examples of a benchmark,
/// a system prompt, a long document — and reads only the tokens after it. An
/// 8-shot GSM8K item is ~800 tokens, ~700 of them the same examples. The
/// logits equal reading the whole prompt up to floating-point reassociation
/// (the KV cache's guarantee). Not thread-safe: one per evaluating thread.
class PrefixCache {
 public:
  /// Keeps the last `keep` prompts; reuses a shared prefix of at least `min_shared` tokens.
  explicit PrefixCache(std::size_t keep = 4, std::size_t min_shared = 32)
      : keep_(keep), min_shared_(min_shared) {}
  /// The cache of the longest kept prefix of `ids` (views, no copy), at most
  /// ids.size() − 1 tokens (one is left to read); empty when none is long enough.
  model::KvCache lookup(const std::vector<std::int32_t>& ids) const;
  /// Keeps `cache`, the cache of exactly `ids`.
  void keep(const std::vector<std::int32_t>& ids, const model::KvCache& cache);
  /// Prompt tokens found in kept caches so far (not read again).
  std::int64_t reused_tokens() const { return reused_; }

 private:
  struct Entry {
    std::vector<std::int32_t> ids;
    model::KvCache cache;
  };
  std::vector<Entry> entries_;  ///< oldest first
  std::size_t keep_, min_shared_;
  mutable std::int64_t reused_ = 0;
};

class PromptState {
 public:
  /// Reads `ids` (≥ 1 token) with a fresh cache, or from the longest prefix
  /// `reuse` keeps (and keeps this prompt there).
  PromptState(const model::IncrementalModel& model, std::vector<std::int32_t> ids,
              PrefixCache* reuse = nullptr);

  const std::vector<std::int32_t>& ids() const { return ids_; }
  const model::KvCache& cache() const { return cache_; }
  /// Logits [vocab] (float32, CPU) for the token after the prompt.
  const at::Tensor& last_logits() const { return last_logits_; }

  /// Logits [vocab] after the prompt followed by `extra` tokens (the prompt's
  /// own when `extra` is empty).
  at::Tensor logits_after(const std::vector<std::int32_t>& extra) const;

  /// Scores several continuations (each split against ids()). Those that
  /// start right after the prompt run together as one padded batch.
  std::vector<ContinuationScore> score(const std::vector<ContinuationTokens>& continuations) const;

 private:
  const model::IncrementalModel& model_;
  std::vector<std::int32_t> ids_;
  model::KvCache cache_;
  at::Tensor last_logits_;
};

/// ids as a [1, n] int64 tensor.
at::Tensor ids_tensor(const std::vector<std::int32_t>& ids);

}  // namespace clrp::eval
