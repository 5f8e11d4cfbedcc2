// The per-transition pruning of attribution-graph edges (src/graph/prune.cpp)
// on hand-computed cases, the memory planner's choices and its refusal, and the
// node-layer naming.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>

#include "../../src/graph/prune.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/error.hpp"

namespace {

using clrp::graph::Edge;
using clrp::graph::EdgeBlock;
using clrp::graph::PruneMode;
using clrp::graph::detail::EdgePruner;

std::vector<Edge> prune(const std::vector<EdgeBlock>& blocks, PruneMode mode, double p,
                        double threshold = 0) {
  EdgePruner pruner(mode, p, threshold);
  if (pruner.needs_histogram()) {
    for (const auto& b : blocks)
      pruner.observe(b);
    pruner.locate_cut();
  }
  for (const auto& b : blocks)
    pruner.select(b);
  return pruner.finish();
}

EdgeBlock dense(std::vector<std::int64_t> targets, std::vector<std::vector<float>> rows) {
  const auto cols = static_cast<std::int64_t>(rows[0].size());
  at::Tensor v = at::zeros({static_cast<std::int64_t>(rows.size()), cols}, at::kFloat);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      v[static_cast<std::int64_t>(r)][c] = rows[r][static_cast<std::size_t>(c)];
  return {std::move(targets), v, false};
}

// |w| = 4, 3, 2, 1 (mass 10). 85% = 8.5: 4 + 3 = 7 < 8.5 ≤ 9 = 4 + 3 + 2, so
// the cut is |w| = 2 and three edges stay, signs kept.
TEST(GraphPrune, MassKeepsTheSmallestSetReachingTheFraction) {
  const auto kept = prune({dense({1, 2}, {{4, -3, 0}, {2, 0, -1}})}, PruneMode::Mass, 0.85);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].target, 1);
  EXPECT_EQ(kept[0].source, 0);
  EXPECT_FLOAT_EQ(kept[0].weight, 4);
  EXPECT_EQ(kept[1].source, 1);
  EXPECT_FLOAT_EQ(kept[1].weight, -3);
  EXPECT_EQ(kept[2].target, 2);
  EXPECT_FLOAT_EQ(kept[2].weight, 2);
}

TEST(GraphPrune, ExactReachIsEnoughAndTiesAreKept) {
  // 70% of 10 = 7 = 4 + 3 exactly: two edges; then a tie at the cut keeps both.
  EXPECT_EQ(prune({dense({0}, {{4, 3, 2, 1}})}, PruneMode::Mass, 0.7).size(), 2u);
  EXPECT_EQ(prune({dense({0}, {{4, 2, 2, 2}})}, PruneMode::Mass, 0.5).size(), 4u);
  EXPECT_EQ(prune({dense({0}, {{4, 2, 2, 2}})}, PruneMode::Mass, 0.4).size(), 1u);
}

TEST(GraphPrune, DiagonalBlocksAndSplitBlocksGiveTheSameSet) {
  const EdgeBlock diag{{0, 3, 5}, at::tensor({0.5f, -2.0f, 1.0f}), true};
  const auto kept = prune({diag}, PruneMode::Mass, 0.6);  // 2 < 2.1 ≤ 3
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].target, 3);
  EXPECT_EQ(kept[0].source, 3);
  EXPECT_EQ(kept[1].target, 5);

  // Random weights: one block or many blocks, the same kept set, which equals
  // a plain sort-and-cumulate over all weights.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> rows(40, std::vector<float>(50));
  std::vector<float> all;
  for (auto& r : rows)
    for (auto& w : r)
      all.push_back(std::fabs(w = normal(rng) * normal(rng)));
  std::vector<std::int64_t> targets(40);
  for (int i = 0; i < 40; ++i)
    targets[static_cast<std::size_t>(i)] = i;
  const auto one = prune({dense(targets, rows)}, PruneMode::Mass, 0.85);
  std::vector<EdgeBlock> parts;
  for (int start = 0; start < 40; start += 7) {
    const int end = std::min(40, start + 7);
    parts.push_back(
        dense(std::vector<std::int64_t>(targets.begin() + start, targets.begin() + end),
              std::vector<std::vector<float>>(rows.begin() + start, rows.begin() + end)));
  }
  const auto many = prune(parts, PruneMode::Mass, 0.85);
  ASSERT_EQ(one.size(), many.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].source, many[i].source);
    EXPECT_EQ(one[i].target, many[i].target);
  }
  std::sort(all.begin(), all.end(), std::greater<>());
  double total = 0, cum = 0;
  for (float w : all)
    total += w;
  std::size_t k = 0;
  while (cum + all[k] < 0.85 * total)
    cum += all[k++];
  const float cut = all[k];
  const auto expected = static_cast<std::size_t>(
      std::count_if(all.begin(), all.end(), [&](float w) { return w >= cut; }));
  EXPECT_EQ(one.size(), expected);
}

TEST(GraphPrune, ThresholdModeAndEmptyMass) {
  EXPECT_EQ(prune({dense({0}, {{0.5f, -0.2f, 0.05f}})}, PruneMode::Threshold, 0, 0.1).size(), 2u);
  EXPECT_TRUE(prune({dense({0}, {{0, 0, 0}})}, PruneMode::Mass, 0.85).empty());
  EXPECT_TRUE(prune({}, PruneMode::Mass, 0.85).empty());
}

clrp::model::ModelConfig smollm2_shape() {
  clrp::model::ModelConfig c;
  c.hidden_size = 576, c.intermediate_size = 1536, c.num_layers = 30, c.num_heads = 9,
  c.num_kv_heads = 3, c.head_dim = 64, c.vocab_size = 49152, c.gated_mlp = true;
  return c;
}

TEST(GraphPlan, KeepsEverythingWithoutABudgetAndSavesUnderOne) {
  clrp::graph::GraphOptions opt;
  const auto c = smollm2_shape();
  const auto fast = clrp::graph::plan_graph(c, 8192, opt, at::kFloat);
  EXPECT_TRUE(fast.keep_tapes);
  EXPECT_TRUE(fast.dense_transitions);
  opt.max_memory = 4LL << 30;
  const auto lean = clrp::graph::plan_graph(c, 8192, opt, at::kFloat);
  EXPECT_FALSE(lean.keep_tapes);
  EXPECT_LE(lean.estimate_bytes, opt.max_memory);
  opt.max_memory = 64LL << 20;
  try {
    clrp::graph::plan_graph(c, 8192, opt, at::kFloat);
    FAIL() << "a 64 MiB budget for 8192 tokens was accepted";
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--max-memory is 64 MiB"), std::string::npos) << e.what();
  }
}

TEST(GraphLayers, SequentialFamiliesHaveMidStates) {
  auto c = smollm2_shape();
  c.num_layers = 2;
  auto names = clrp::graph::node_layers(c);
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0].name, "emb");
  EXPECT_EQ(names[1].name, "mid0");
  EXPECT_EQ(names[4].name, "out1");
  c.residual = clrp::model::ResidualLayout::Parallel;
  names = clrp::graph::node_layers(c);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[2].name, "out1");
}

TEST(ByteSize, UnitsAndErrors) {
  EXPECT_EQ(clrp::parse_byte_size("4G"), 4LL << 30);
  EXPECT_EQ(clrp::parse_byte_size("512MiB"), 512LL << 20);
  EXPECT_EQ(clrp::parse_byte_size("1.5gb"), 3LL << 29);
  EXPECT_EQ(clrp::parse_byte_size("1048576"), 1LL << 20);
  for (const char* bad : {"", "-1G", "4X", "G", "0", "nan"})
    EXPECT_THROW(clrp::parse_byte_size(bad), clrp::Error) << bad;
}

}  // namespace
