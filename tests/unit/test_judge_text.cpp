// SQuAD normalisation, exact match and token F1; TriviaQA / NQ-open alias
// matching; DROP spans and numbers; LAMBADA's last word. Expected F1 values
// are worked out by hand from the official scripts' definitions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clrp/judge/drop.hpp"
#include "clrp/judge/text_match.hpp"

namespace {

using namespace clrp::judge;
using Strings = std::vector<std::string>;

TEST(JudgeSquad, Normalisation) {
  EXPECT_EQ(squad_normalize("The Eiffel Tower"), "eiffel tower");
  EXPECT_EQ(squad_normalize("  An  apple, a   day!  "), "apple day");
  EXPECT_EQ(squad_normalize("the-end"), "theend");   // punctuation goes before articles
  EXPECT_EQ(squad_normalize("Theater"), "theater");  // only whole words are articles
  EXPECT_EQ(squad_normalize("\"Denver Broncos\"."), "denver broncos");
  EXPECT_EQ(squad_normalize("1,000"), "1000");
  EXPECT_EQ(squad_normalize("A"), "");
  EXPECT_EQ(squad_normalize("Caf\xC3\xA9"), "caf\xC3\xA9");  // non-ASCII kept
  EXPECT_EQ(squad_normalize("tab\tand\nnewline"), "tab and newline");
}

TEST(JudgeSquad, ExactMatchAndF1) {
  EXPECT_EQ(exact_match("the Denver Broncos", "Denver Broncos"), 1.0);
  EXPECT_EQ(exact_match("Denver", "Denver Broncos"), 0.0);
  EXPECT_DOUBLE_EQ(token_f1("Denver", "Denver Broncos"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(token_f1("the Broncos of Denver", "Denver Broncos"), 0.8);
  EXPECT_DOUBLE_EQ(token_f1("Broncos", "Carolina Panthers"), 0.0);
  // Multiset counting: a repeated word counts as often as it is in both.
  EXPECT_DOUBLE_EQ(token_f1("new new york", "new york"), 0.8);
  // Empty answers (SQuAD 2.0 convention).
  EXPECT_DOUBLE_EQ(token_f1("", ""), 1.0);
  EXPECT_DOUBLE_EQ(token_f1("the", ""), 1.0);  // both normalise to nothing
  EXPECT_DOUBLE_EQ(token_f1("", "Denver"), 0.0);
  const Strings golds = {"Denver Broncos", "The Denver Broncos", "Broncos"};
  EXPECT_EQ(max_exact_match("broncos!", golds), 1.0);
  EXPECT_DOUBLE_EQ(max_token_f1("Denver's Broncos", golds), 2.0 / 3.0);  // "denvers" != "denver"
  EXPECT_EQ(max_exact_match("x", {}), 0.0);
}

TEST(JudgeTriviaQa, AliasMatch) {
  const Strings aliases = {"Sinclair Lewis", "Harry Sinclair Lewis", "Lewis, Sinclair"};
  EXPECT_TRUE(alias_match("Sinclair Lewis", aliases));
  EXPECT_TRUE(alias_match("harry sinclair lewis.", aliases));
  EXPECT_TRUE(alias_match("Lewis Sinclair", aliases));  // the comma is punctuation
  EXPECT_FALSE(alias_match("Upton Sinclair", aliases));
  EXPECT_FALSE(alias_match("Sinclair Lewis wrote it", aliases));  // exact, not containment
  EXPECT_FALSE(alias_match("", aliases));
  EXPECT_FALSE(alias_match("anything", {}));
  // NQ-open: the answer line of a chatty generation.
  const std::string generation = "\n  The Beatles\nThey were formed in Liverpool in 1960.";
  EXPECT_EQ(first_line(generation), "The Beatles");
  EXPECT_TRUE(alias_match(first_line(generation), {"Beatles", "the Beatles"}));
  EXPECT_EQ(first_line("   \n\n"), "");
}

TEST(JudgeDrop, Normalisation) {
  EXPECT_EQ(drop_normalize("The 3-yard run!"), "3 yard run");
  EXPECT_EQ(drop_normalize("5"), drop_normalize("5.0"));
  EXPECT_EQ(drop_normalize("5"), "5");
  EXPECT_EQ(drop_normalize("2.50"), "2.5");
  EXPECT_EQ(drop_normalize("$20"), "20");  // "$20" is not a number: punctuation goes
  EXPECT_EQ(drop_normalize("-7"), "7");    // the hyphen splits, as in the original
  EXPECT_EQ(drop_normalize("Tom Brady's"), "tom bradys");
  EXPECT_EQ(drop_normalize("an  apple"), "apple");
  EXPECT_EQ(drop_normalize(""), "");
}

TEST(JudgeDrop, NumbersAndSpans) {
  // Numbers.
  EXPECT_EQ(drop_score({"4"}, {"4"}).exact_match, 1.0);
  EXPECT_EQ(drop_score({"4.0"}, {"4"}).f1, 1.0);
  EXPECT_EQ(drop_score({"5"}, {"4"}).f1, 0.0);
  // A number in the gold span must be in the predicted one.
  EXPECT_EQ(drop_score({"4 yards"}, {"3 yards"}).f1, 0.0);
  EXPECT_EQ(drop_score({"4 yards"}, {"4"}).f1, 0.67);
  EXPECT_EQ(drop_score({"4 yards"}, {"4"}).exact_match, 0.0);
  // Single spans.
  const DropScore s = drop_score({"Tom Brady"}, {"Brady"});
  EXPECT_EQ(s.exact_match, 0.0);
  EXPECT_EQ(s.f1, 0.67);
  // Multi-span answers: order does not matter for either metric.
  EXPECT_EQ(drop_score({"Chicago", "Boston"}, {"Boston", "Chicago"}).exact_match, 1.0);
  EXPECT_EQ(drop_score({"Chicago", "Boston"}, {"Boston", "Chicago"}).f1, 1.0);
  // One of two spans found: the other gold span scores 0, mean 0.5.
  EXPECT_EQ(drop_score({"Boston"}, {"Boston", "Chicago"}).f1, 0.5);
  // An extra predicted span costs as much as a missing one.
  EXPECT_EQ(drop_score({"Boston", "Denver", "Chicago"}, {"Boston", "Chicago"}).f1, 0.67);
  // The best pairing, not the first: greedy row-by-row would pair
  // "new york city" with "new york" and lose the exact pair.
  EXPECT_EQ(drop_score({"new york", "york city"}, {"new york city", "new york"}).f1, 0.9);
  // Bags are sets: repeated tokens count once.
  EXPECT_EQ(drop_score({"the the Patriots Patriots"}, {"Patriots"}).f1, 1.0);
  // A single generated string is one span.
  EXPECT_EQ(drop_max_score(std::string_view("Boston and Chicago"), {{"Boston", "Chicago"}}).f1,
            0.25);
}

TEST(JudgeDrop, SeveralGoldAnswers) {
  const std::vector<Strings> golds = {{"1988"}, {"in 1988"}, {"February 1988"}};
  const DropScore s = drop_max_score(std::string_view("1988"), golds);
  EXPECT_EQ(s.exact_match, 1.0);
  EXPECT_EQ(s.f1, 1.0);
  const DropScore t = drop_max_score(std::string_view("March 1988"), golds);
  EXPECT_EQ(t.exact_match, 0.0);
  EXPECT_EQ(t.f1, 0.67);  // {1988} vs {march, 1988}
  EXPECT_EQ(drop_max_score(std::string_view("x"), {}).f1, 0.0);
}

TEST(JudgeLambada, LastWord) {
  const std::string passage =
      "\"Give me the key,\" she said. He looked at her, then reached into his pocket and "
      "handed over the key";
  EXPECT_EQ(lambada_last_word(passage), "key");
  EXPECT_EQ(lambada_last_word("He said \xE2\x80\x9Cgoodbye.\xE2\x80\x9D"), "goodbye");
  EXPECT_EQ(lambada_last_word(""), "");
  EXPECT_TRUE(lambada_correct(" key.", "key"));
  EXPECT_TRUE(lambada_correct("key and left", "key"));
  EXPECT_TRUE(lambada_correct("\nkey\xE2\x80\x9D", "key"));
  EXPECT_FALSE(lambada_correct(" Key", "key"));      // exact: case counts
  EXPECT_FALSE(lambada_correct(" keys", "key"));     // no stemming
  EXPECT_FALSE(lambada_correct(" the key", "key"));  // the first word is the prediction
  EXPECT_FALSE(lambada_correct("", "key"));
  EXPECT_FALSE(lambada_correct("...", ""));
  EXPECT_TRUE(lambada_correct("don't", "don't"));  // inner apostrophes stay
}

}  // namespace
