// Numbers in free text and GSM8K answer extraction: commas, currency,
// units, negative numbers, fractions, "3.0 == 3", and the extraction order
// (#### > "the answer is" > \boxed > last number).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clrp/judge/gsm8k.hpp"
#include "clrp/judge/numbers.hpp"

namespace {

using namespace clrp::judge;

std::vector<std::string> texts(std::string_view s) {
  std::vector<std::string> out;
  for (const NumberMatch& m : find_numbers(s))
    out.push_back(m.text);
  return out;
}

TEST(JudgeNumbers, FindsNumbersAsWritten) {
  using V = std::vector<std::string>;
  EXPECT_EQ(texts("She paid $1,234.50 for 3 items."), (V{"1,234.50", "3"}));
  EXPECT_EQ(texts("Temperatures fell to -7 and then \xE2\x88\x92"
                  "12 degrees"),
            (V{"-7",
               "\xE2\x88\x92"
               "12"}));
  EXPECT_EQ(texts("COVID-19 cases"), (V{"19"}));  // a hyphen, not a sign
  EXPECT_EQ(texts("3/4 of the cake"), (V{"3/4"}));
  EXPECT_EQ(texts("a list: 1,2,3"), (V{"1", "2", "3"}));  // commas not thousands groups
  EXPECT_EQ(texts("It is 1,0000 wide"), (V{"1", "0000"}));
  EXPECT_EQ(texts("Growth of 12% over .5 years"), (V{"12", ".5"}));
  EXPECT_EQ(texts("Avogadro: 6.02e23; 3 eggs"), (V{"6.02e23", "3"}));
  EXPECT_EQ(texts("The end."), V{});
  EXPECT_EQ(texts("Total: 42."), (V{"42"}));
}

TEST(JudgeNumbers, Values) {
  const auto m = find_numbers(
      "-1,234.5 and 3/4 and \xE2\x88\x92"
      "2");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_DOUBLE_EQ(m[0].value, -1234.5);
  EXPECT_DOUBLE_EQ(m[1].value, 0.75);
  EXPECT_DOUBLE_EQ(m[2].value, -2.0);
  EXPECT_EQ(m[1].pos, 13u);
}

TEST(JudgeNumbers, ParseWholeString) {
  EXPECT_EQ(parse_number("$18.00"), 18.0);
  EXPECT_EQ(parse_number(" 1,000 "), 1000.0);
  EXPECT_EQ(parse_number("25%"), 25.0);
  EXPECT_EQ(parse_number("\\$5"), 5.0);
  EXPECT_EQ(parse_number("-3"), -3.0);
  EXPECT_EQ(parse_number("7."), 7.0);
  EXPECT_EQ(parse_number("1/8"), 0.125);
  EXPECT_EQ(parse_number("18 dollars"), std::nullopt);
  EXPECT_EQ(parse_number("x = 3"), std::nullopt);
  EXPECT_EQ(parse_number(""), std::nullopt);
  EXPECT_EQ(parse_number("1 2"), std::nullopt);
}

TEST(JudgeNumbers, EqualityAndCanonicalForm) {
  EXPECT_TRUE(numbers_equal(3.0, 3));
  EXPECT_TRUE(numbers_equal(0.1 + 0.2, 0.3));
  EXPECT_TRUE(numbers_equal(1e9, 1e9 + 0.5));
  EXPECT_FALSE(numbers_equal(3, 3.01));
  EXPECT_FALSE(numbers_equal(-5, 5));
  EXPECT_FALSE(numbers_equal(0, 1e-3));
  EXPECT_EQ(canonical_number(3.0), "3");
  EXPECT_EQ(canonical_number(2.50), "2.5");
  EXPECT_EQ(canonical_number(-0.0), "0");
  EXPECT_EQ(canonical_number(-12.125), "-12.125");
  EXPECT_EQ(canonical_number(1234567), "1234567");
}

TEST(JudgeGsm8k, GoldAnswer) {
  EXPECT_EQ(gsm8k_gold("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                       "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n"
                       "#### 72"),
            72.0);
  EXPECT_EQ(gsm8k_gold("... #### 1,080"), 1080.0);
  EXPECT_EQ(gsm8k_gold("... #### -3"), -3.0);
  EXPECT_EQ(gsm8k_gold("no marker 5"), std::nullopt);
}

struct Case {
  const char* output;
  const char* gold;
  bool correct;
};

TEST(JudgeGsm8k, ModelOutputs) {
  const Case cases[] = {
      {"Natalia sold 24 clips in May, so 48 + 24 = 72.\n#### 72", "#### 72", true},
      {"48 + 24 = 72. The answer is 72.", "#### 72", true},
      {"The answer is $1,080.", "#### 1080", true},
      {"So he earns 18 dollars per day. The answer is 18 dollars.", "#### 18", true},
      {"The answer is 3.0", "#### 3", true},
      {"The answer is 3.50", "#### 3.5", true},
      {"He lost 5 pounds, so the change is -5.", "#### -5", true},
      {"The answer is \xE2\x88\x92"
       "5.",
       "#### -5", true},
      // "the answer is" wins over a later number.
      {"The answer is 12. (I double-checked with 3 * 4 and 6 + 6.)", "#### 12", true},
      // The last "answer is" wins over an earlier one.
      {"I first thought the answer is 10, but the answer is 14.", "#### 14", true},
      // Final answer markers used by chat models.
      {"Step 1: 5 * 4 = 20\nFinal answer: 20", "#### 20", true},
      {"Therefore the total is $\\boxed{42}$.", "#### 42", true},
      // Last number fallback.
      {"5 + 7 = 12 apples", "#### 12", true},
      {"She has 12 apples left, after eating 3", "#### 12", false},
      {"The answer is 71.", "#### 72", false},
      {"I cannot solve this.", "#### 72", false},
      {"The answer is 1/2", "#### 0.5", true},
      {"It costs 5,000,000 dollars", "#### 5000000", true},
      {"#### 7\n\nThe answer is 8", "#### 7", true},  // an explicit #### beats prose
      {"The answer is: 625", "#### 625", true},
      {"", "#### 1", false},
      {"The answer is 6", "no gold marker", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(gsm8k_correct(c.output, c.gold), c.correct) << c.output << " vs " << c.gold;
  }
}

}  // namespace
