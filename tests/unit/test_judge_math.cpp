// MATH answers: \boxed extraction with nested braces and the Hendrycks
// normalisation (plus the documented additions), on answers shaped like the
// dataset's.
#include <gtest/gtest.h>

#include <string>

#include "clrp/judge/math_answer.hpp"

namespace {

using namespace clrp::judge;

TEST(JudgeMath, LastBoxedContent) {
  EXPECT_EQ(last_boxed_content("so $x = \\boxed{5}$."), "5");
  EXPECT_EQ(last_boxed_content("\\boxed{\\frac{\\sqrt{3}}{2}}"), "\\frac{\\sqrt{3}}{2}");
  EXPECT_EQ(last_boxed_content("first \\boxed{1}, then \\boxed{2}"), "2");
  // Nested boxes: the innermost last one.
  EXPECT_EQ(last_boxed_content("\\boxed{\\boxed{7}}"), "7");
  EXPECT_EQ(last_boxed_content("\\fbox{(1, 2)}"), "(1, 2)");
  EXPECT_EQ(last_boxed_content("The answer is $\\boxed 5$."), "5");
  EXPECT_EQ(last_boxed_content("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}"),
            "\\left( 3, \\frac{\\pi}{2} \\right)");
  EXPECT_EQ(last_boxed_content("\\boxed{unclosed {"), std::nullopt);
  EXPECT_EQ(last_boxed_content("no box here"), std::nullopt);
  EXPECT_EQ(last_boxed_content("\\boxed{}"), "");
}

TEST(JudgeMath, NormalisationSteps) {
  EXPECT_EQ(math_normalize("\\dfrac{1}{2}"), "\\frac{1}{2}");
  EXPECT_EQ(math_normalize("\\tfrac12"), "\\frac{1}{2}");
  EXPECT_EQ(math_normalize("\\frac1{72}"), "\\frac{1}{72}");
  EXPECT_EQ(math_normalize("\\left( 3, \\frac{\\pi}{2} \\right)"), "(3,\\frac{\\pi}{2})");
  EXPECT_EQ(math_normalize("90^\\circ"), "90");
  EXPECT_EQ(math_normalize("90^{\\circ}"), "90");
  EXPECT_EQ(math_normalize("\\$18.90"), "18.9");
  EXPECT_EQ(math_normalize("10\\%"), "10");
  EXPECT_EQ(math_normalize("5\\text{ inches}"), "5");
  EXPECT_EQ(math_normalize(".5"), "\\frac{1}{2}");
  EXPECT_EQ(math_normalize("0.5"), "\\frac{1}{2}");
  EXPECT_EQ(math_normalize("x = 3"), "3");
  EXPECT_EQ(math_normalize("k=-2"), "-2");
  EXPECT_EQ(math_normalize("y = 2x + 3"), "2x+3");    // "y " is short: dropped
  EXPECT_EQ(math_normalize("area = 12"), "area=12");  // a long left side stays
  EXPECT_EQ(math_normalize("\\sqrt2"), "\\sqrt{2}");
  EXPECT_EQ(math_normalize("2\\sqrt{3}"), "2\\sqrt{3}");
  EXPECT_EQ(math_normalize("3/4"), "\\frac{3}{4}");
  EXPECT_EQ(math_normalize("03/4"), "03/4");  // as the original: not int-looking
  EXPECT_EQ(math_normalize("a/b"), "a/b");
  EXPECT_EQ(math_normalize("\\frac{a}{b}\\!"), "\\frac{a}{b}");
  // Additions.
  EXPECT_EQ(math_normalize("\\text{(B)}"), "(B)");
  EXPECT_EQ(math_normalize("\\textbf{yes}"), "yes");
  EXPECT_EQ(math_normalize("3.0"), "3");
  EXPECT_EQ(math_normalize("2.50"), "2.5");
  EXPECT_EQ(math_normalize("-4.000"), "-4");
  EXPECT_EQ(math_normalize("1,000"), "1000");
  EXPECT_EQ(math_normalize("1,000,000.00"), "1000000");
  EXPECT_EQ(math_normalize("(1,2)"), "(1,2)");  // a pair, not a thousands comma
  EXPECT_EQ(math_normalize("1,2"), "1,2");
  EXPECT_EQ(math_normalize("$\\displaystyle 7$"), "7");
  EXPECT_EQ(math_normalize("10\\,000"), "10000");
  EXPECT_EQ(math_normalize("42."), "42");
  EXPECT_EQ(math_normalize("50%"), "50");
  EXPECT_EQ(math_normalize(""), "");
}

struct Pair {
  const char* a;
  const char* b;
  bool same;
};

TEST(JudgeMath, Equivalence) {
  const Pair pairs[] = {
      {"\\frac{1}{2}", "\\dfrac{1}{2}", true},
      {"\\frac{1}{2}", "1/2", true},
      {"\\frac{1}{2}", "0.5", true},
      {"\\frac12", "\\frac{1}{2}", true},
      {"3", "3.0", true},
      {"3", "3.00", true},
      {"-3", "- 3", true},
      {"\\left[ -1, 2 \\right)", "[-1,2)", true},
      {"(-\\infty, 0) \\cup (0, \\infty)", "(-\\infty,0)\\cup(0,\\infty)", true},
      {"\\text{Evelyn}", "Evelyn", true},
      {"5\\text{ cm}", "5", true},
      {"x=5", "5", true},
      {"\\$32", "32", true},
      {"16\\sqrt3", "16\\sqrt{3}", true},
      {"\\frac{\\sqrt{3}}{2}", "\\dfrac{\\sqrt3}{2}", true},
      {"2,500", "2500", true},
      {"\\frac{1}{3}", "0.33", false},
      {"\\frac{2}{4}", "\\frac{1}{2}", false},  // no algebra: the normalisation is textual
      {"3", "-3", false},
      {"x^2", "x^3", false},
      {"(1,2)", "(2,1)", false},
      {"\\sqrt{2}", "2", false},
      {"10", "100", false},
  };
  for (const Pair& p : pairs) {
    EXPECT_EQ(math_equivalent(p.a, p.b), p.same)
        << p.a << " -> " << math_normalize(p.a) << " | " << p.b << " -> " << math_normalize(p.b);
  }
}

TEST(JudgeMath, ModelOutputAgainstReferenceSolution) {
  const std::string gold =
      "If $x^2 = 4$ then $x = \\pm 2$; the positive root gives $\\boxed{\\dfrac{3}{4}}$.";
  EXPECT_TRUE(math_correct("We compute ... so the answer is $\\boxed{\\frac34}$.", gold));
  EXPECT_TRUE(
      math_correct("Therefore, the final answer is $\\frac{3}{4}$. I hope it is correct.", gold));
  EXPECT_TRUE(math_correct("The answer is 3/4", gold));
  EXPECT_TRUE(math_correct("The answer is 0.75", "\\boxed{0.75}"));
  EXPECT_FALSE(math_correct("The answer is 0.75", gold));  // decimal vs fraction: no algebra
  EXPECT_FALSE(math_correct("so \\boxed{\\frac{4}{3}}", gold));
  EXPECT_FALSE(math_correct("I am not sure.", gold));
  // A dataset that stores the bare answer.
  EXPECT_TRUE(math_correct("\\boxed{10}", "10"));
  // The last box counts, not the first.
  EXPECT_TRUE(math_correct("Try \\boxed{2}... no, it is \\boxed{10}.", "\\boxed{10}"));
  EXPECT_FALSE(math_correct("It is \\boxed{10}, no wait, \\boxed{2}.", "\\boxed{10}"));
}

TEST(JudgeMath, ExtractWithoutBox) {
  EXPECT_EQ(math_extract("Thus the answer is $2\\pi$."), "2\\pi");
  EXPECT_EQ(math_extract("The final answer is 3.5. Done."), "3.5");
  EXPECT_EQ(math_extract("Answer is: 12\nmore text"), "12");
  EXPECT_EQ(math_extract("nothing"), std::nullopt);
}

}  // namespace
