// Running one case: ask the model as the case's format says, judge the
// answer, and for a failure find its contrastive pair.
//
//   mc_letter   the prompt lists the options; the prediction is the option
//               whose letter token (first token of " A", " B", ...) has the
//               highest logit at the answer slot. Pair: that letter vs the gold
//               letter, prefix "".
//   mc_cloze    each option's continuation is scored by its summed
//               log-likelihood (acc, what decides by default) and by the sum
//               divided by its length in characters (acc_per_char, oe-eval's
//               length normalisation; decides with decide_per_char). Pair: the
//               first token where the top-scored wrong option and the gold one
//               differ; the shared tokens before it are the prefix.
//   generative  greedy decoding to max_new_tokens / stop sequences / EOS, then
//               the case's judge. Pair: the first token where the greedy
//               output leaves gold.reference (gold_divergence), or the
//               counterfactual search when asked.
//   code        as generative, judged by running the tests in the sandbox.
//               Pair: counterfactual search.
//   instructions
//               as generative, judged by IFEval's instruction checkers
//               (strict: every instruction followed). Pair: counterfactual
//               search (there is no reference response to diverge from).
//
// A pair is kept only when tokens(prompt + prefix) are the tokens the model
// read on the way there, and Δℓ ≥ min_delta; otherwise the failure carries
// the reason (pairs.hpp, namespace no_pair) and is counted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/eval/generate.hpp"
#include "clrp/eval/pair_method.hpp"
#include "clrp/eval/pairs.hpp"
#include "clrp/eval/prompt_state.hpp"
#include "clrp/judge/code_judge.hpp"
#include "clrp/judge/instruction_judge.hpp"
#include "clrp/model/incremental.hpp"
#include "clrp/text/chat_settings.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::eval {

/// A pair given from outside for one case: the contrast at generated token
/// `position` (0 = the first token after the prompt; always 0 for multiple
/// choice), with `token` as the correct side.
struct ImportedPair {
  std::size_t position = 0;
  std::int32_t token = 0;
};

struct EvalOptions {
  int max_new_tokens = 0;        ///< cap on every case's own budget (0: none)
  bool decide_per_char = false;  ///< mc_cloze: the length-normalised score decides
  bool find_pairs = true;
  double min_delta = 1.0;  ///< Δℓ below this: a weak preference, no pair (the reference study's 1)
  GenerativePairs generative_pairs = GenerativePairs::automatic;
  CounterfactualBudget budget;
  judge::CodeJudgeOptions code;
  judge::InstructionJudgeOptions instructions;
  std::map<std::string, ImportedPair> imported;  ///< by case id
  bool record_ids = false;     ///< put prompt/continuation/generated token ids into the record
  int batch = 16;              ///< answers decoded together (greedy_generate_batch)
  bool reuse_prefixes = true;  ///< start prompts from the cache of a shared prefix (PrefixCache)
};

struct Outcome {
  bool correct = false;
  bool correct_per_char = false;  ///< mc_cloze: by the per-character score (else = correct)
  std::optional<cases::Pair> pair;
  std::string no_pair_reason;  ///< set for a failure without a pair
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;  ///< greedy tokens, the counterfactual search's included
  /// instructions cases: IFEval's verdict per instruction on the model's answer.
  std::optional<judge::InstructionVerdict> followed;
  nlohmann::json record;  ///< what was asked and answered (for --records)
};

/// A case's outcome, or the message saying why it could not be evaluated.
struct Evaluated {
  std::optional<Outcome> outcome;
  std::string error;
};

class Evaluator {
 public:
  using Render = std::function<RenderedPrompt(const std::string& prompt)>;
  Evaluator(const model::IncrementalModel& model, const text::Tokenizer& tokenizer, Render render,
            std::string model_path, std::optional<text::ChatSettings> chat, EvalOptions options);

  /// Evaluates one case. clrp::Error when it cannot be asked (the prompt is
  /// longer than the context, a continuation adds no token, ...).
  Outcome evaluate(const cases::Case& c) const;
  /// Evaluates several cases: the answers to generate decode together
  /// (greedy_generate_batch, EvalOptions::batch at a time). Each result equals
  /// evaluate() of its case alone; a case that cannot be asked gets its
  /// message instead of an outcome, and the others go on.
  std::vector<Evaluated> evaluate(const std::vector<const cases::Case*>& batch) const;

 private:
  struct Candidate;
  struct Pending;
  /// Renders and reads the prompt into `p` (its state, the record's first fields).
  void read_prompt(const cases::Case& c, Pending& p) const;
  /// The record's last fields (verdict, Δℓ or why there is no pair).
  Outcome conclude(const cases::Case& c, Outcome out) const;
  /// How an answer is generated; `counterfactual`: its pair is searched so.
  GenerateOptions generation_options(const cases::Case& c, bool& counterfactual) const;
  /// Judges a generated answer and finds its pair. `cache` holds the prompt
  /// and the answer but its last token (greedy_generate's).
  void generated(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
                 const GenerateOptions& g, bool counterfactual, const Generation& gen,
                 model::KvCache& cache, Outcome& out) const;
  void letter(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
              Outcome& out) const;
  void cloze(const cases::Case& c, const RenderedPrompt& r, const PromptState& s,
             Outcome& out) const;
  void settle_pair(const Candidate& candidate, const RenderedPrompt& r, const PromptState& s,
                   Outcome& out) const;

  const model::IncrementalModel& model_;
  const text::Tokenizer& tokenizer_;
  Render render_;
  std::string model_path_;
  std::optional<text::ChatSettings> chat_;  ///< recorded in the pairs it finds
  EvalOptions options_;
  /// IFEval's checker process, started at the first instructions case.
  std::shared_ptr<judge::InstructionJudge> instructions_;
  /// The caches of recent prompts, for the next prompts' shared prefixes.
  std::shared_ptr<PrefixCache> prefixes_;
};

}  // namespace clrp::eval
