// Carrying a contrastive pair to a model with another tokenizer, by its text.
//
// A pair is found under one tokenizer: token ids at the end of tokens(prompt +
// prefix). A fixed-set campaign explains the reference model's failures under
// every other model too; where a model tokenizes differently, the ids mean
// nothing to it, but the text does. The pair is carried by re-tokenizing,
// under the other tokenizer, the prompt and prefix followed by each side's
// continuation (cases::PairToken::continuation, or the token's own bytes), and
// contrasting the two at their first differing token: the tokens they share
// become the new sequence, its text beyond the prompt the new prefix. A pair
// found under a chat template is carried the same way after the prompt as the
// other model's own template renders it.
//
// The text does not always carry over; then the pair is refused for that
// model with the reason (namespace not_carried), and the campaign records it
// (`pairs_not_carried` in the store, docs/store.md).
#pragma once

#include <optional>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/cases/pair.hpp"
#include "clrp/eval/prompt_state.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::campaign {

/// Why a pair does not carry to a tokenizer (the first words of every reason).
namespace not_carried {
inline constexpr const char* chat =
    "chat_prompt";  ///< the target's chat template cannot render the prompt (or is missing)
inline constexpr const char* same_text = "same_text";  ///< both sides spell the same text
inline constexpr const char* not_text =
    "not_whole_text";  ///< a side's text is not valid UTF-8 (its token splits a character)
inline constexpr const char* prefix_of_other =
    "no_differing_token";  ///< one side's tokens are a prefix of the other's
inline constexpr const char* not_spelled =
    "tokens_do_not_spell_text";  ///< a normaliser changed the text (its tokens do not spell it)
inline constexpr const char* inside_prompt =
    "diverges_inside_prompt";  ///< the prompt's last token merges with the answer
inline constexpr const char* retokenized =
    "prefix_retokenizes";  ///< the shared text alone tokenizes to other tokens
}  // namespace not_carried

/// The pair under `to`, or why it does not carry.
struct CarriedPair {
  std::optional<cases::Pair> pair;  ///< ids of `to`; logits 0 (unknown until explained)
  std::string reason;               ///< a not_carried kind, ": ", and the particulars
};

/// Carries `pair`, found on `c`'s prompt under tokenizer `from`, to tokenizer
/// `to`, whose model reads the prompt as `prompt` (the raw prompt, or its own
/// chat template's rendering of it, eval::render_prompt with pair.chat). Δℓ,
/// method and model stay the finding model's.
CarriedPair carry_pair(const cases::Case& c, const cases::Pair& pair, const text::Tokenizer& from,
                       const text::Tokenizer& to, const eval::RenderedPrompt& prompt);
/// The same for a raw prompt; a pair found under a chat template is refused
/// (not_carried::chat): its target's template is needed.
CarriedPair carry_pair(const cases::Case& c, const cases::Pair& pair, const text::Tokenizer& from,
                       const text::Tokenizer& to);

}  // namespace clrp::campaign
