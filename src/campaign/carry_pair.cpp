#include "clrp/campaign/carry_pair.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

// The text a side of the pair continues with: its recorded continuation, or
// the bytes of its token under the finding tokenizer.
std::string side_text(const cases::PairToken& t, const text::Tokenizer& from) {
  return t.continuation.empty() ? from.token_bytes(t.id) : t.continuation;
}

// The bytes the first `count` of `ids` spell. Encoded with special tokens
// added, a special token is one the tokenizer put there and spells nothing;
// encoded without (a chat template's text), every token is spelled in the
// text, special ones (<|im_start|>) included.
std::string spelled(const std::vector<std::int32_t>& ids, std::size_t count,
                    const text::Tokenizer& tok, bool specials_added) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i)
    if (!specials_added || !tok.is_special(ids[i])) out += tok.token_bytes(ids[i]);
  return out;
}

CarriedPair refuse(const char* kind, const std::string& why) {
  return {std::nullopt, std::string(kind) + ": " + why};
}

}  // namespace

CarriedPair carry_pair(const cases::Case& c, const cases::Pair& pair, const text::Tokenizer& from,
                       const text::Tokenizer& to) {
  if (pair.chat)
    return refuse(not_carried::chat,
                  "the pair's prompt was rendered with a chat template, and the target's is "
                  "not given");
  return carry_pair(c, pair, from, to, eval::RenderedPrompt{c.prompt, true});
}

CarriedPair carry_pair(const cases::Case& c, const cases::Pair& pair, const text::Tokenizer& from,
                       const text::Tokenizer& to, const eval::RenderedPrompt& prompt) {
  const bool add_special = prompt.add_special_tokens;
  const std::string context = prompt.text + pair.prefix;
  const std::string wrong = side_text(pair.wrong, from), correct = side_text(pair.correct, from);
  if (wrong == correct)
    return refuse(not_carried::same_text, "both sides continue with '" + excerpt(wrong) + "'");
  std::vector<std::int32_t> w, g;
  try {
    w = to.encode(context + wrong, add_special);
    g = to.encode(context + correct, add_special);
  } catch (const Error& e) {  // a byte-level token that ends inside a character
    return refuse(not_carried::not_text, e.what());
  }
  const auto [wi, gi] = std::mismatch(w.begin(), w.end(), g.begin(), g.end());
  if (wi == w.end() || gi == g.end())
    return refuse(not_carried::prefix_of_other,
                  "'" + excerpt(wrong) + "' and '" + excerpt(correct) +
                      "' tokenize so that one side's tokens are a " + "prefix of the other's");
  if (to.is_special(*wi) || to.is_special(*gi))  // e.g. an end-of-sequence token appended
    return refuse(not_carried::prefix_of_other,
                  "the sides differ first at a special token, not at a token of the text");
  const auto d = static_cast<std::size_t>(wi - w.begin());
  // The shared tokens must spell the start of both texts, up to a point at
  // or past the prompt's end: from there on it is the new prefix.
  const std::string shared = spelled(w, d, to, add_special);
  for (const std::string* side : {&wrong, &correct})
    if ((context + *side).compare(0, shared.size(), shared) != 0)
      return refuse(not_carried::not_spelled, "the " + std::to_string(d) +
                                                  " tokens before the contrast do not spell the "
                                                  "prompt followed by '" +
                                                  excerpt(*side) +
                                                  "' (a normaliser changed the text)");
  if (shared.size() < prompt.text.size())
    return refuse(not_carried::inside_prompt,
                  "the two sides share only " + std::to_string(shared.size()) +
                      " of the prompt's " + std::to_string(prompt.text.size()) +
                      " bytes as tokens");
  cases::Pair out = pair;
  out.prefix = shared.substr(prompt.text.size());
  if (to.encode(prompt.text + out.prefix, add_special) != std::vector<std::int32_t>(w.begin(), wi))
    return refuse(not_carried::retokenized, "prompt + '" + excerpt(out.prefix) +
                                                "' alone tokenizes to other tokens than on the "
                                                "way to the contrast");
  const auto side = [&](std::int32_t id, const std::string& text) {
    cases::PairToken t;
    t.id = id;
    t.token = to.token_string(id);
    t.continuation = (context + text).substr(shared.size());
    return t;
  };
  out.wrong = side(*wi, wrong);
  out.correct = side(*gi, correct);
  return {std::move(out), {}};
}

}  // namespace clrp::campaign
