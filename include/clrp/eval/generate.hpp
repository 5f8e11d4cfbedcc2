// Greedy decoding with a KV cache, as benchmarks run generative items: the
// model's top token at every step, until the end-of-sequence token, a stop
// sequence in the decoded text, or the token budget.
//
// Each step can also record the top-k alternatives and their logits, which
// the counterfactual search (pairs.hpp) tries later without re-running the
// model up to that position: the cache truncated to a step is the state the
// model was in when it chose that step's token.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clrp/model/incremental.hpp"
#include "clrp/model/kv_cache.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::eval {

struct GenerateOptions {
  int max_new_tokens = 256;
  std::vector<std::string> stop;    ///< the text is cut before the first of these
  std::optional<std::int32_t> eos;  ///< stops after this token (kept in `tokens`)
  int record_top_k = 0;             ///< alternatives to record per step (0: none)
};

enum class StopReason { eos, stop_sequence, max_tokens, context };
const char* to_string(StopReason r);

struct Generation {
  std::vector<std::int32_t> tokens;  ///< every generated token, the one completing a stop too
  std::string text;                  ///< decoded, cut before the first stop sequence
  StopReason reason = StopReason::max_tokens;
  /// Per step: the top-k token ids (ranked) and their logits (when recorded).
  std::vector<std::vector<std::int32_t>> top_ids;
  std::vector<std::vector<float>> top_logits;
  /// Per step: the logit of the chosen token.
  std::vector<float> chosen_logits;
};

/// The earliest occurrence of any of `stop` in `text` (npos when none).
std::size_t find_stop(const std::string& text, const std::vector<std::string>& stop);

/// One sequence's greedy decoding, step by step: the choice of each token
/// from its logits, what is recorded of the step, and whether (and why) the
/// sequence stops. The single and the batched loops below both drive it, so
/// they decide alike.
class GreedyDecoding {
 public:
  GreedyDecoding(const text::Tokenizer& tokenizer, const GenerateOptions& options);
  /// Chooses the next token from `logits` [vocab] (float32, CPU) of a
  /// sequence whose cache holds `cached` tokens of a model with `context`
  /// positions. Returns true when the sequence goes on: token() must then be
  /// fed to the model for the next logits.
  bool step(const at::Tensor& logits, std::int64_t cached, std::int64_t context);
  std::int32_t token() const { return g_.tokens.back(); }
  /// The generation, once step() returned false.
  Generation finish();

 private:
  const text::Tokenizer& tokenizer_;
  const GenerateOptions& options_;
  Generation g_;
  bool cut_ = false;  ///< the text was cut at a stop sequence
};

/// Continues greedily from a state: `cache` holds everything read so far and
/// `next_logits` [vocab] are the logits for the next token. Extends `cache`
/// with every generated token but the last (so that cache.truncated(start + i)
/// is the state before step i, start = cache.length on entry).
Generation greedy_generate(const model::IncrementalModel& model, const text::Tokenizer& tokenizer,
                           model::KvCache& cache, at::Tensor next_logits,
                           const GenerateOptions& options);

/// A sequence to continue greedily, for greedy_generate_batch: its state (as
/// greedy_generate's arguments) and how far to go. `cache` is extended as
/// greedy_generate extends it.
struct GenerationRequest {
  model::KvCache cache;
  at::Tensor next_logits;
  GenerateOptions options;
};

/// Greedy decoding of many sequences at once (continuous batching): up to
/// `max_batch` of them step together through IncrementalModel::forward_step; a
/// sequence leaves the batch when it stops and the next waiting one takes its
/// place. Each generation equals greedy_generate() of its request alone, token
/// for token (up to floating-point reassociation at an exact tie of the top
/// two logits). Results are in request order.
std::vector<Generation> greedy_generate_batch(const model::IncrementalModel& model,
                                              const text::Tokenizer& tokenizer,
                                              std::vector<GenerationRequest>& requests,
                                              int max_batch);

}  // namespace clrp::eval
