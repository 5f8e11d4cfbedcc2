// eval::place_tokens: where each token of tokens(rendered prompt + prefix)
// lies — a case segment (with its raw-prompt bytes), the chat template's text,
// generated thinking, the rest of the prefix, or a special token the
// tokenizer added. Over the tiny tokenizer of tests/data (h e l o w r d 1 2 !
// and the byte-level space Ġ, merges up to "hello" and " world"), which cannot
// spell "<think>": thinking is checked in tests/oracle/test_campaign_chat.py.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/eval/segment_map.hpp"
#include "clrp/text/tokenizer.hpp"

namespace {

using clrp::eval::TokenPlace;
using Kind = clrp::eval::TokenPlace::Kind;

std::unique_ptr<clrp::text::Tokenizer> tiny() {
  return clrp::text::Tokenizer::from_tokenizer_json(std::string(CLRP_TEST_DATA_DIR) +
                                                    "/tokenizers/tiny_bpe.json");
}

// Two segments: "hello" (question) and " world" (answer_prefix).
clrp::cases::Case two_segments(const std::string& first = "hello") {
  clrp::cases::Case c;
  c.id = "c";
  c.segments.push_back({clrp::cases::SegmentKind::question, first, {}});
  c.segments.push_back({clrp::cases::SegmentKind::answer_prefix, " world", {}});
  clrp::cases::finalize(c);
  return c;
}

std::vector<Kind> kinds(const std::vector<TokenPlace>& places) {
  std::vector<Kind> out;
  for (const auto& p : places)
    out.push_back(p.kind);
  return out;
}

TEST(PlaceTokens, RawPromptAddedSpecialAndPrefix) {
  const auto tok = tiny();
  const auto c = two_segments();
  const auto ids = tok->encode(c.prompt + "!", true);  // <s> hello Ġworld ! </s>
  std::string why;
  const auto places = clrp::eval::place_tokens(*tok, ids, c, c.prompt, "!", &why);
  ASSERT_TRUE(places) << why;
  ASSERT_EQ(places->size(), ids.size());
  EXPECT_EQ((*places)[0].kind, Kind::special);  // <s>: added, not spelled
  EXPECT_EQ((*places)[1].kind, Kind::segment);
  EXPECT_EQ((*places)[1].segment, 0);
  EXPECT_EQ((*places)[2].segment, 1);
  EXPECT_EQ((*places)[2].begin, 5u);
  EXPECT_EQ((*places)[2].end, 11u);
  EXPECT_EQ((*places)[3].kind, Kind::prefix);
}

TEST(PlaceTokens, TemplateTextAndATrimmedMessage) {
  const auto tok = tiny();
  // The template wrote its own <s> and </s>, and trimmed the message's outer blanks.
  const auto c = two_segments(" hello");
  const std::string rendered = "<s>hello world</s>";
  const auto ids = tok->encode(rendered, false);
  std::string why;
  const auto places = clrp::eval::place_tokens(*tok, ids, c, rendered, "", &why);
  ASSERT_TRUE(places) << why;
  EXPECT_EQ(kinds(*places), (std::vector<Kind>{Kind::template_text, Kind::segment, Kind::segment,
                                               Kind::template_text}));
  // Raw-prompt bytes: "hello" is bytes 1..6 of " hello world".
  EXPECT_EQ((*places)[1].begin, 1u);
  EXPECT_EQ((*places)[1].segment, 0);
  EXPECT_EQ((*places)[2].segment, 1);
  // A message the template changed otherwise is not found.
  EXPECT_FALSE(clrp::eval::place_tokens(*tok, tok->encode("<s>hello</s>", false), c, "<s>hello</s>",
                                        "", &why));
  EXPECT_EQ(why, "the raw prompt does not occur in the rendered prompt");
}

}  // namespace
