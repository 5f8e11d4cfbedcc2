// Carrying a pair to another tokenizer by its text (campaign/carry_pair.hpp),
// between the hand-written tiny BPE tokenizer (tests/data/tokenizers) and the
// same vocabulary without merges (every character its own token). Expected
// ids are read off the vocabulary: <s> 1, h 3, e 4, l 5, o 6, Ġ 7, w 8, r 9,
// d 10, ! 11, hell 14, hello 15, Ġworld 20, 1 21, 2 22, 12 23.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "clrp/campaign/carry_pair.hpp"
#include "clrp/cases/case.hpp"
#include "clrp/text/tokenizer.hpp"

namespace {

using clrp::campaign::carry_pair;
using clrp::text::Tokenizer;
namespace not_carried = clrp::campaign::not_carried;

// The tiny tokenizer adding <s> only (its template also appends </s>); without
// its merges when `chars`.
std::unique_ptr<Tokenizer> tiny(bool chars) {
  std::ifstream in(std::string(CLRP_TEST_DATA_DIR) + "/tokenizers/tiny_bpe.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str());
  j["post_processor"]["single"] =
      nlohmann::json::array({j["post_processor"]["single"][0], j["post_processor"]["single"][1]});
  if (chars) j["model"]["merges"] = nlohmann::json::array();
  return Tokenizer::from_tokenizer_json_text(j.dump(), chars ? "chars.json" : "whole.json");
}

clrp::cases::Case with_prompt(const std::string& prompt) {
  clrp::cases::Case c;
  c.id = "c1";
  c.segments.push_back({clrp::cases::SegmentKind::question, prompt, {}});
  clrp::cases::finalize(c);
  return c;
}

clrp::cases::Pair pair(std::int32_t wrong, std::int32_t correct, std::string wrong_rest = "",
                       std::string correct_rest = "") {
  clrp::cases::Pair p;
  p.wrong = {wrong, "", 3.0, std::move(wrong_rest)};
  p.correct = {correct, "", 1.0, std::move(correct_rest)};
  p.delta = 2.0;
  p.method = clrp::cases::PairMethod::gold_divergence;
  p.model = "finder";
  return p;
}

TEST(CarryPair, ContrastsAtTheFirstDifferingTokenOfTheOtherTokenizer) {
  const auto whole = tiny(false), chars = tiny(true);
  ASSERT_EQ(whole->encode("hello world"), (std::vector<std::int32_t>{1, 15, 20}));
  // " world" (one token) against "12!" (the correct side's continuation).
  const auto r = carry_pair(with_prompt("hello"), pair(20, 21, "", "12!"), *whole, *chars);
  ASSERT_TRUE(r.pair) << r.reason;
  EXPECT_EQ(r.pair->prefix, "");
  EXPECT_EQ(r.pair->wrong.id, 7);     // Ġ
  EXPECT_EQ(r.pair->correct.id, 21);  // 1
  EXPECT_EQ(r.pair->wrong.continuation, " world");
  EXPECT_EQ(r.pair->correct.continuation, "12!");
  EXPECT_EQ(r.pair->delta, 2.0);  // the finding model's, until explained
  EXPECT_EQ(r.pair->model, "finder");
}

TEST(CarryPair, SharedCharactersBecomeThePrefix) {
  const auto whole = tiny(false), chars = tiny(true);
  // " world" against " word": the characters agree up to " wor".
  const auto r = carry_pair(with_prompt("hello"), pair(20, 7, "", " word"), *whole, *chars);
  ASSERT_TRUE(r.pair) << r.reason;
  EXPECT_EQ(r.pair->prefix, " wor");
  EXPECT_EQ(r.pair->wrong.id, 5);     // l
  EXPECT_EQ(r.pair->correct.id, 10);  // d
  EXPECT_EQ(r.pair->wrong.continuation, "ld");
  EXPECT_EQ(r.pair->correct.continuation, "d");
  // The explained sequence is tokens(prompt + prefix), as on the way to the contrast.
  EXPECT_EQ(chars->encode("hello wor"), (std::vector<std::int32_t>{1, 3, 4, 5, 5, 6, 7, 8, 6, 9}));
}

TEST(CarryPair, TheSameTokenizerKeepsThePair) {
  const auto whole = tiny(false);
  const auto r = carry_pair(with_prompt("hello"), pair(20, 23), *whole, *whole);
  ASSERT_TRUE(r.pair) << r.reason;
  EXPECT_EQ(r.pair->prefix, "");
  EXPECT_EQ(r.pair->wrong.id, 20);
  EXPECT_EQ(r.pair->correct.id, 23);
}

TEST(CarryPair, RefusalsSayWhy) {
  const auto whole = tiny(false), chars = tiny(true);
  const auto kind = [](const clrp::campaign::CarriedPair& r) {
    EXPECT_FALSE(r.pair);
    return r.reason.substr(0, r.reason.find(':'));
  };
  // "1" and "12": one token each under the merges, "1" a prefix of "1 2" without.
  EXPECT_EQ(kind(carry_pair(with_prompt("hello"), pair(21, 23), *whole, *chars)),
            not_carried::prefix_of_other);
  // "hell" + "o" is one token "hello" under the merges: the sides part inside the prompt.
  EXPECT_EQ(kind(carry_pair(with_prompt("hell"), pair(6, 11), *chars, *whole)),
            not_carried::inside_prompt);
  EXPECT_EQ(kind(carry_pair(with_prompt("hello"), pair(20, 21, "!", "!"), *whole, *chars)),
            not_carried::same_text);
  // A byte-level token ending inside a character ("\xe2" of "→") is no text of its own.
  EXPECT_EQ(kind(carry_pair(with_prompt("hello"), pair(20, 21, "\xe2", "!"), *whole, *chars)),
            not_carried::not_text);
  auto chat = pair(20, 21);
  chat.chat = clrp::text::ChatSettings{};
  EXPECT_EQ(kind(carry_pair(with_prompt("hello"), chat, *whole, *chars)), not_carried::chat);
}

TEST(CarryPair, ChatPairsCarryAfterTheTargetsRenderedPrompt) {
  const auto whole = tiny(false), chars = tiny(true);
  auto chat = pair(20, 21, "", "12!");
  chat.chat = clrp::text::ChatSettings{};
  // The target's template writes its own <s> before the message: the rendered
  // text is encoded as it is (no special token added), its <s> is spelled in
  // it, and the new prefix starts after the whole rendering.
  const clrp::eval::RenderedPrompt rendered{"<s>hello", false};
  const auto r = carry_pair(with_prompt("hello"), chat, *whole, *chars, rendered);
  ASSERT_TRUE(r.pair) << r.reason;
  EXPECT_EQ(r.pair->prefix, "");
  EXPECT_EQ(r.pair->wrong.id, 7);     // Ġ
  EXPECT_EQ(r.pair->correct.id, 21);  // 1
  EXPECT_TRUE(r.pair->chat.has_value());
  // Rendered with special tokens added, "<s>" would be counted twice: the
  // tokens no longer spell the text.
  const auto twice = carry_pair(with_prompt("hello"), chat, *whole, *chars,
                                clrp::eval::RenderedPrompt{"<s>hello", true});
  ASSERT_FALSE(twice.pair);
  EXPECT_EQ(twice.reason.substr(0, twice.reason.find(':')), not_carried::not_spelled);
}

}  // namespace
