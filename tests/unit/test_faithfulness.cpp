// Removal tests (lrp/faithfulness.hpp) on a model whose answer we know: Δℓ is
// the sum of a weight per kept token, so removing a token (deleting it or
// zeroing it) lowers Δℓ by exactly its weight, and the weights themselves are
// a perfect explanation. The curves, areas and flips then have closed forms.
// Against transformers: tests/oracle/test_faithfulness.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "clrp/lrp/faithfulness.hpp"

namespace clrp::lrp {
namespace {

// Token ids are positions; Δℓ = Σ weight[id] over kept, unzeroed tokens.
struct AdditiveModel {
  std::vector<double> weight;
  std::size_t calls = 0, inputs = 0;

  DeltaOf delta_of() {
    return [this](const std::vector<ValueInput>& batch) {
      ++calls;
      inputs += batch.size();
      std::vector<double> out;
      for (const ValueInput& in : batch) {
        double d = 0;
        for (std::size_t p = 0; p < in.ids.size(); ++p)
          if (std::find(in.zeroed.begin(), in.zeroed.end(), static_cast<std::int64_t>(p)) ==
              in.zeroed.end())
            d += weight[static_cast<std::size_t>(in.ids[p])];
        out.push_back(d);
      }
      return out;
    };
  }
};

TEST(Faithfulness, StepsAreSinglesThenCeilingFractionsClippedToN) {
  FaithfulnessOptions opt;
  opt.single_tokens = 3;
  opt.fractions = {0.1, 0.3, 0.5, 1.0};
  EXPECT_EQ(removal_steps(opt, 10), (std::vector<std::int32_t>{0, 1, 2, 3, 1, 3, 5, 10}));
  EXPECT_EQ(removal_steps(opt, 2), (std::vector<std::int32_t>{0, 1, 2, 2, 1, 1, 1, 2}));
  EXPECT_EQ(removal_steps(opt, 0), (std::vector<std::int32_t>{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(opt.steps(), 8);
}

TEST(Faithfulness, CandidatesSkipSpecialTokensAndTheExplainedPosition) {
  const std::vector<std::int8_t> segment{-1, 0, 1, 8, 2, 2};
  const std::vector<std::int32_t> ids{1, 10, 11, 7, 12, 13};
  const auto removable = removable_tokens(segment, ids, [](std::int32_t id) { return id == 7; });
  EXPECT_EQ(removal_candidates(removable), (std::vector<std::int64_t>{1, 2, 4}));
}

TEST(Faithfulness, OperatorsDeleteOrZeroTheSameTokens) {
  const std::vector<std::int32_t> ids{5, 6, 7, 8};
  const std::vector<std::int64_t> order{2, 0, 1};
  const ValueInput del = remove_tokens(ids, order, 2, Removal::remove);
  EXPECT_EQ(del.ids, (std::vector<std::int64_t>{6, 8}));
  EXPECT_TRUE(del.zeroed.empty());
  const ValueInput zero = remove_tokens(ids, order, 2, Removal::zero);
  EXPECT_EQ(zero.ids, (std::vector<std::int64_t>{5, 6, 7, 8}));
  EXPECT_EQ(zero.zeroed, (std::vector<std::int64_t>{0, 2}));
}

TEST(Faithfulness, AdditiveModelGivesClosedFormCurvesAreasAndFlips) {
  // Eight candidates and the explained position; weights toward the wrong token.
  AdditiveModel model{{3.0, -1.0, 0.5, 2.0, -0.5, 1.0, 0.25, -2.0, 0.0}};
  const std::size_t T = model.weight.size();
  std::vector<std::int32_t> ids(T);
  std::iota(ids.begin(), ids.end(), 0);
  const std::vector<char> removable(T, 1);
  // Rule 0: the weights themselves (perfect); rule 1: their negation (backwards).
  std::vector<float> relevance;
  for (const double w : model.weight) {
    relevance.push_back(static_cast<float>(w));
    relevance.push_back(static_cast<float>(-w));
  }
  const double delta = std::accumulate(model.weight.begin(), model.weight.end(), 0.0);  // 3.25
  FaithfulnessOptions opt;
  opt.single_tokens = 3;
  opt.fractions = {0.25, 0.5, 0.75, 1.0};
  const FaithfulnessCurves c =
      faithfulness_curves(model.delta_of(), ids, removable, relevance, 2, "case", delta, opt);
  EXPECT_EQ(model.calls, 1u);  // every input in one call
  const std::size_t O = 2, C = 5, S = 8;
  ASSERT_EQ(c.delta.size(), O * C * S);
  EXPECT_EQ(c.candidates, 8);
  EXPECT_EQ(c.steps, (std::vector<std::int32_t>{0, 1, 2, 3, 2, 4, 6, 8}));
  // Most-relevant-first under the perfect rule removes 3, 2, 1, 0.5, 0.25, −0.5, −1, −2 (the
  // explained position's 0 stays).
  const std::vector<double> sorted{3.0, 2.0, 1.0, 0.5, 0.25, -0.5, -1.0, -2.0};
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t s = 0; s < S; ++s) {
      double want = delta;
      for (std::int32_t k = 0; k < c.steps[s]; ++k)
        want -= sorted[static_cast<std::size_t>(k)];
      EXPECT_NEAR(c.delta[(o * C + 0) * S + s], want, 1e-6) << o << " " << s;
      // The backwards rule's most-relevant-first is the perfect rule's least-relevant-first.
      EXPECT_FLOAT_EQ(c.delta[(o * C + 2) * S + s], c.delta[(o * C + 1) * S + s]);
    }
  // Δℓ 3.25 → 0.25 → −0.75: the perfect rule flips at the second token, its reverse never.
  EXPECT_EQ(c.flip[0], 2);
  EXPECT_EQ(c.flip[1], -1);
  // Areas: trapezoids over x = k / 8 of (least − most), divided by |Δℓ|; antisymmetric in the
  // rules.
  double area = 0;
  const std::vector<std::int32_t> ks{0, 1, 2, 3, 4, 6, 8};
  const auto most = [&](std::int32_t k) {
    double d = delta;
    for (std::int32_t j = 0; j < k; ++j)
      d -= sorted[static_cast<std::size_t>(j)];
    return d;
  };
  const auto least = [&](std::int32_t k) {
    double d = delta;
    for (std::int32_t j = 0; j < k; ++j)
      d -= sorted[sorted.size() - 1 - static_cast<std::size_t>(j)];
    return d;
  };
  for (std::size_t i = 1; i < ks.size(); ++i)
    area += (ks[i] - ks[i - 1]) / 8.0 *
            ((least(ks[i]) - most(ks[i])) + (least(ks[i - 1]) - most(ks[i - 1]))) / 2;
  EXPECT_NEAR(c.area[0], area / delta, 1e-6);
  EXPECT_NEAR(c.area[2], -area / delta, 1e-6);
  // Equal inputs once: per operator every order reaches the same input at k = 8.
  EXPECT_LT(c.forwards, O * C * (S - 1));
}

TEST(Faithfulness, TokensToFlipDoesNotDependOnTheChunk) {
  AdditiveModel model{{1.0, 1.0, 1.0, 1.0, 1.0, -2.5, 0.0}};
  std::vector<std::int32_t> ids(model.weight.size());
  std::iota(ids.begin(), ids.end(), 0);
  const std::vector<std::int64_t> order{0, 1, 2, 3, 4, 5};
  const double delta = 2.5;
  for (const std::int64_t chunk : {1, 2, 4, 16})
    EXPECT_EQ(tokens_to_flip(model.delta_of(), ids, order, delta, 6, Removal::remove, chunk), 3);
  EXPECT_EQ(tokens_to_flip(model.delta_of(), ids, order, delta, 2, Removal::zero, 2), -1);
  EXPECT_EQ(tokens_to_flip(model.delta_of(), ids, order, -1.0, 6, Removal::remove), 0);
}

TEST(Faithfulness, RandomOrderIsAPermutationFixedByCaseAndSeed) {
  const std::vector<std::int64_t> candidates{0, 1, 2, 4, 5, 9};
  const auto a = random_order("x", candidates, 0);
  EXPECT_EQ(a, random_order("x", candidates, 0));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, candidates);
  EXPECT_NE(a, random_order("x", candidates, 7));
  EXPECT_NE(a, random_order("y", candidates, 0));
}

TEST(Faithfulness, OutcomesAndPatternsFollowTheirDefinitions) {
  // Δℓ = 2.5 from weights (1, 1, 1, 1, 1, −2.5 | explained position 0): two of the five
  // ones must go before Δℓ <= 0.
  AdditiveModel model{{1.0, 1.0, 1.0, 1.0, 1.0, -2.5, 0.0}};
  std::vector<std::int32_t> ids(model.weight.size());
  std::iota(ids.begin(), ids.end(), 0);
  const std::vector<char> removable(ids.size(), 1);
  const std::vector<std::int8_t> segment(ids.size(), 0);
  std::vector<float> relevance(model.weight.begin(), model.weight.end());
  FaithfulnessOptions opt;
  opt.operators = {Removal::remove};
  opt.single_tokens = 3;
  opt.fractions = {};
  const FaithfulnessCurves c =
      faithfulness_curves(model.delta_of(), ids, removable, relevance, 1, "c", 2.5, opt);
  // No evidence: informative by the curves alone (the random order flips later or not at all).
  std::vector<std::int8_t> none(ids.size(), 0);
  CaseOutcome o = classify(c, segment, none, relevance, 1, 2.5, 2, {});
  const bool random_flipped_as_early =
      c.delta[2 * 4 + 3] <= 0;  // the random curve at 3 tokens (C = 3, S = 4)
  EXPECT_EQ(o.outcome[0],
            static_cast<std::int8_t>(random_flipped_as_early ? Outcome::graph_not_tested
                                                             : Outcome::input_informative));
  EXPECT_EQ(o.pattern[0], -1);
  // Not a failure: Δℓ <= 0.
  EXPECT_EQ(classify(c, segment, none, relevance, 1, -1.0, 2, {}).outcome[0],
            static_cast<std::int8_t>(Outcome::not_a_failure));
  // Evidence on the −2.5 token (toward the correct one) with the most |relevance|: recovered in
  // the top 2, no URT (it pushes toward the correct token and holds 2.5 / 7.5 of |R| on
  // 1 / 6 of the tokens); the ones outside carry all the relevance toward the wrong token: OIT.
  std::vector<std::int8_t> evidence(ids.size(), 0);
  evidence[5] = 1;
  o = classify(c, segment, evidence, relevance, 1, 2.5, 2, {});
  EXPECT_EQ(o.outcome[0], static_cast<std::int8_t>(Outcome::input_informative));
  EXPECT_EQ(o.pattern[0], kOverweightedIrrelevant);
  // Evidence on a +1 token: it pushes toward the wrong token (URT) and the other four ones still
  // carry 4 / 5 of that relevance (OIT).
  evidence.assign(ids.size(), 0);
  evidence[0] = 1;
  o = classify(c, segment, evidence, relevance, 1, 2.5, 1, {});
  EXPECT_EQ(o.pattern[0], kUnderweightedRelevant | kOverweightedIrrelevant);

  // The opposite explanation: its "top" tokens push toward the correct token, so removing them
  // never undoes the failure. Input attribution is then not informative, and the graph test, when
  // the case has one, decides between graph informative and neither.
  std::vector<float> reversed(relevance.size());
  std::transform(relevance.begin(), relevance.end(), reversed.begin(), [](float x) { return -x; });
  const FaithfulnessCurves rc =
      faithfulness_curves(model.delta_of(), ids, removable, reversed, 1, "c", 2.5, opt);
  EXPECT_EQ(classify(rc, segment, none, reversed, 1, 2.5, 2, {}).outcome[0],
            static_cast<std::int8_t>(Outcome::graph_not_tested));
  EXPECT_EQ(classify(rc, segment, none, reversed, 1, 2.5, 2, {}, GraphScores{0.9, 0.5}).outcome[0],
            static_cast<std::int8_t>(Outcome::graph_informative));
  EXPECT_EQ(classify(rc, segment, none, reversed, 1, 2.5, 2, {}, GraphScores{0.2, 0.5}).outcome[0],
            static_cast<std::int8_t>(Outcome::neither));
  // An informative input attribution stays so whatever the graph says.
  EXPECT_EQ(
      classify(c, segment, evidence, relevance, 1, 2.5, 2, {}, GraphScores{0.2, 0.5}).outcome[0],
      static_cast<std::int8_t>(Outcome::input_informative));
}

}  // namespace
}  // namespace clrp::lrp
