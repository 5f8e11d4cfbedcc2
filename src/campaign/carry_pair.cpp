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

// The bytes `ids` spell (special tokens spell nothing).
std::string spelled(const std::vector<std::int32_t>& ids, std::size_t count,
                    const text::Tokenizer& tok) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i)
    if (!tok.is_special(ids[i])) out += tok.token_bytes(ids[i]);
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
                  "the pair's prompt was rendered with the finding model's "
                  "chat template");
  const std::string context = c.prompt + pair.prefix;
  const std::string wrong = side_text(pair.wrong, from), correct = side_text(pair.correct, from);
  if (wrong == correct)
    return refuse(not_carried::same_text, "both sides continue with '" + wrong + "'");
  std::vector<std::int32_t> w, g;
  try {
    w = to.encode(context + wrong, true);
    g = to.encode(context + correct, true);
  } catch (const Error& e) {  // a byte-level token that ends inside a character
    return refuse(not_carried::not_text, e.what());
  }
  const auto [wi, gi] = std::mismatch(w.begin(), w.end(), g.begin(), g.end());
  if (wi == w.end() || gi == g.end())
    return refuse(not_carried::prefix_of_other, "'" + wrong + "' and '" + correct +
                                                    "' tokenize so that one side's tokens are a " +
                                                    "prefix of the other's");
  if (to.is_special(*wi) || to.is_special(*gi))  // e.g. an end-of-sequence token appended
    return refuse(not_carried::prefix_of_other,
                  "the sides differ first at a special token, not at a token of the text");
  const auto d = static_cast<std::size_t>(wi - w.begin());
  // The shared tokens must spell the start of both texts, up to a point at
  // or past the prompt's end: from there on it is the new prefix.
  const std::string shared = spelled(w, d, to);
  for (const std::string* side : {&wrong, &correct})
    if ((context + *side).compare(0, shared.size(), shared) != 0)
      return refuse(not_carried::not_spelled, "the " + std::to_string(d) +
                                                  " tokens before the contrast do not spell the "
                                                  "prompt followed by '" +
                                                  *side + "' (a normaliser changed the text)");
  if (shared.size() < c.prompt.size())
    return refuse(not_carried::inside_prompt,
                  "the two sides share only " + std::to_string(shared.size()) +
                      " of the prompt's " + std::to_string(c.prompt.size()) + " bytes as tokens");
  cases::Pair out = pair;
  out.prefix = shared.substr(c.prompt.size());
  if (to.encode(c.prompt + out.prefix, true) != std::vector<std::int32_t>(w.begin(), wi))
    return refuse(not_carried::retokenized, "prompt + '" + out.prefix +
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
