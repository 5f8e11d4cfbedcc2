// The contrastive pair of a failure: where the model went wrong, the token it
// preferred there and a correct one (docs/cases.md, "The contrastive pair").
//
// The explained sequence is tokens(prompt + prefix) — the prompt rendered as
// it was evaluated (`chat`: through the chat template, with which settings), then `prefix`, the
// teacher-forced text between the prompt and the contrast position ("" for letter multiple choice).
// The contrast is at the last position of that sequence: Δℓ = logit(wrong) − logit(correct). `clrp
// evaluate` writes pairs into its failure file; `clrp explain --cases FILE --id ID` explains them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "clrp/text/chat_settings.hpp"

namespace clrp::cases {

/// How the pair was found.
enum class PairMethod {
  letter,           ///< mc_letter: the model's top letter vs the gold letter
  cloze,            ///< mc_cloze: first token where the top wrong option and the gold one differ
  gold_divergence,  ///< generative: first token where the greedy output leaves the gold text
  counterfactual,   ///< checked answers: first position where an alternative token passes
  imported,         ///< given from outside (validated against the model's tokens)
};
std::string_view name(PairMethod m);
std::optional<PairMethod> parse_pair_method(std::string_view s);

/// One side of the contrast.
struct PairToken {
  std::int32_t id = 0;  ///< token id in the model's vocabulary
  std::string token;    ///< its surface text (for people; the id is what counts)
  double logit = 0.0;   ///< its logit at the contrast position
  /// The text from this token on, as far as the search knew it (the rest of
  /// an option, of the generated answer, of the gold text; at most
  /// kContinuationTokens tokens): what carries the pair to a model with
  /// another tokenizer (campaign/carry_pair.hpp). Empty: the token alone.
  std::string continuation;
};

/// How many tokens of each side's continuation a pair keeps.
inline constexpr std::size_t kContinuationTokens = 32;

struct Pair {
  std::string prefix;  ///< text appended to the (rendered) prompt before the contrast position
  PairToken wrong;     ///< what the model preferred
  PairToken correct;   ///< a token on a correct path
  double delta = 0.0;  ///< wrong.logit − correct.logit
  PairMethod method = PairMethod::letter;
  std::string model;  ///< the model the pair was found with (its path)
  /// The prompt went through the model's chat template with these settings;
  /// nullopt: the raw prompt.
  std::optional<text::ChatSettings> chat;
};

}  // namespace clrp::cases
