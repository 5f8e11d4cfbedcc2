// The searches behind contrastive pairs, without a model: the counterfactual
// walk (order, budgets, which alternative wins), first divergence, stop
// sequences, and the answer judges as evaluate applies them.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "clrp/eval/answer_judge.hpp"
#include "clrp/eval/generate.hpp"
#include "clrp/eval/pairs.hpp"

namespace {

using namespace clrp::eval;

TEST(EvalCounterfactual, FindsTheFirstDecisivePositionAndBestAlternative) {
  const std::vector<std::int32_t> generated{10, 11, 12, 13};
  // Ranked alternatives per position; the generated token sits among them.
  const std::vector<std::vector<std::int32_t>> top{
      {10, 20, 21}, {11, 30, 31}, {40, 12, 41, 42}, {13, 50}};
  // Passing: (2, 41) and (2, 42) and (3, 50); position 2 decides, and 41
  // outranks 42.
  const std::set<std::pair<std::size_t, std::int32_t>> passing{{2, 41}, {2, 42}, {3, 50}};
  std::vector<std::pair<std::size_t, std::int32_t>> tried;
  const auto r =
      counterfactual_search(generated, top, {16, 5, 64}, [&](std::size_t p, std::int32_t a) {
        tried.emplace_back(p, a);
        return passing.count({p, a}) > 0;
      });
  ASSERT_TRUE(r.hit.has_value());
  EXPECT_EQ(r.hit->position, 2u);
  EXPECT_EQ(r.hit->wrong, 12);
  EXPECT_EQ(r.hit->correct, 41);
  EXPECT_EQ(r.hit->rank, 2);
  // In order, the generated token never tried: 20 21 | 30 31 | 40 41.
  const std::vector<std::pair<std::size_t, std::int32_t>> expected{{0, 20}, {0, 21}, {1, 30},
                                                                   {1, 31}, {2, 40}, {2, 41}};
  EXPECT_EQ(tried, expected);
  EXPECT_EQ(r.tried, 6);
}

TEST(EvalCounterfactual, RespectsBudgets) {
  const std::vector<std::int32_t> generated{1, 2, 3};
  const std::vector<std::vector<std::int32_t>> top{{1, 5, 6, 7}, {2, 8, 9}, {3, 10}};
  int calls = 0;
  // k = 1: only the best alternative per position; positions = 2: position 2 never reached.
  auto r = counterfactual_search(generated, top, {2, 1, 8}, [&](std::size_t p, std::int32_t a) {
    ++calls;
    return p == 2 && a == 10;
  });
  EXPECT_FALSE(r.hit.has_value());
  EXPECT_EQ(calls, 2);
  EXPECT_NE(r.reason.find("2 positions"), std::string::npos) << r.reason;
  r = counterfactual_search(generated, top, {3, 1, 8},
                            [&](std::size_t p, std::int32_t a) { return p == 2 && a == 10; });
  ASSERT_TRUE(r.hit.has_value());
  EXPECT_EQ(r.hit->position, 2u);
  EXPECT_EQ(r.hit->correct, 10);
}

TEST(EvalCounterfactual, RoundsFindWhatTheWalkFinds) {
  // Random searches: tried in rounds of 1 to 12 tries, the pair is the walk's
  // (earliest position, best-ranked passing alternative), and the rounds hold
  // the walk's tries in walk order.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = 1 + rng() % 8;
    std::vector<std::int32_t> generated;
    std::vector<std::vector<std::int32_t>> top(n);
    std::set<std::pair<std::size_t, std::int32_t>> passing;
    for (std::size_t p = 0; p < n; ++p) {
      generated.push_back(static_cast<std::int32_t>(1000 + p));
      for (int r = 0; r < 6; ++r)
        top[p].push_back(r == static_cast<int>(rng() % 6) ? generated[p]
                                                          : static_cast<std::int32_t>(10 * p + r));
      for (auto t : top[p])
        if (t != generated[p] && rng() % 9 == 0) passing.insert({p, t});
    }
    const CounterfactualBudget budget{static_cast<int>(1 + rng() % 8),
                                      static_cast<int>(1 + rng() % 5), 0};
    std::vector<Try> walked;
    const auto walk =
        counterfactual_search(generated, top, budget, [&](std::size_t p, std::int32_t a) {
          walked.emplace_back(p, a);
          return passing.count({p, a}) > 0;
        });
    const std::size_t per_round = 1 + rng() % 12;
    std::vector<Try> batched;
    const auto rounds = counterfactual_search(
        generated, top, budget,
        [&](const std::vector<Try>& tries) {
          EXPECT_LE(tries.size(), per_round);
          std::vector<bool> out;
          for (const auto& t : tries) {
            batched.push_back(t);
            out.push_back(passing.count(t) > 0);
          }
          return out;
        },
        per_round);
    ASSERT_EQ(walk.hit.has_value(), rounds.hit.has_value());
    if (walk.hit) {
      EXPECT_EQ(walk.hit->position, rounds.hit->position);
      EXPECT_EQ(walk.hit->correct, rounds.hit->correct);
      EXPECT_EQ(walk.hit->rank, rounds.hit->rank);
    }
    ASSERT_GE(batched.size(), walked.size());
    EXPECT_TRUE(std::equal(walked.begin(), walked.end(), batched.begin()));
    EXPECT_LT(batched.size(), walked.size() + per_round);
    EXPECT_EQ(rounds.run, static_cast<int>(batched.size()));
    EXPECT_EQ(rounds.tried, walk.tried);
    EXPECT_EQ(walk.run, walk.tried);
  }
}

TEST(EvalDivergence, FirstDifferentToken) {
  EXPECT_EQ(first_divergence({1, 2, 3}, {1, 2, 4, 5}), std::optional<std::size_t>(2));
  EXPECT_EQ(first_divergence({7}, {8}), std::optional<std::size_t>(0));
  EXPECT_FALSE(first_divergence({1, 2}, {1, 2, 3}).has_value());  // stopped early, on the path
  EXPECT_FALSE(first_divergence({1, 2, 3}, {1, 2}).has_value());
}

TEST(EvalGenerate, StopSequences) {
  EXPECT_EQ(find_stop("18.\n\nQuestion: next", {"Question:", "\n\n"}), 3u);
  EXPECT_EQ(find_stop("no stop here", {"Question:", ""}), std::string::npos);
}

TEST(EvalJudge, AnswersByJudge) {
  clrp::cases::AnswerGold g;
  g.answer = "18";
  g.judge = clrp::cases::Judge::number;
  EXPECT_TRUE(
      judge_answer(g, " She sells 16 - 3 - 4 = 9 eggs, 9 * 2 = 18. So the answer is 18.").correct);
  EXPECT_FALSE(judge_answer(g, " So the answer is 17.").correct);
  EXPECT_FALSE(judge_answer(g, " I do not know").correct);

  g.answer = "Paris";
  g.aliases = {"City of Paris"};
  g.judge = clrp::cases::Judge::squad;
  EXPECT_TRUE(judge_answer(g, " the city of Paris.\nMore text").correct);
  EXPECT_FALSE(judge_answer(g, " Lyon").correct);

  g.judge = clrp::cases::Judge::contains;
  EXPECT_TRUE(judge_answer(g, " I think it is Paris, in France").correct);
  EXPECT_FALSE(judge_answer(g, " Marseille").correct);

  g.answer = "dog";
  g.aliases = {};
  g.judge = clrp::cases::Judge::first_word;
  EXPECT_TRUE(judge_answer(g, " dog, said he").correct);
  EXPECT_FALSE(judge_answer(g, " Dog").correct);

  g.answer = "\\frac{1}{2}";
  g.judge = clrp::cases::Judge::math;
  EXPECT_TRUE(judge_answer(g, "so the result is $\\boxed{\\frac12}$.").correct);
  EXPECT_FALSE(judge_answer(g, "$\\boxed{2}$").correct);
}

}  // namespace
