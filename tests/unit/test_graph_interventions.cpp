// Graph interventions (graph/interventions.hpp) on a hand-made graph whose
// kept share and tested nodes can be worked out on paper, with a model whose
// Δℓ is linear in every node (zeroing a node removes exactly its relevance).
// Against real models and transformers: tests/oracle/test_graph_interventions.py.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "clrp/graph/interventions.hpp"
#include "clrp/lrp/faithfulness.hpp"
#include "clrp/util/correlation.hpp"
#include "clrp/util/error.hpp"

namespace clrp::graph {
namespace {

// Three node layers (emb, mid0, out0) over three tokens, explaining position 2:
//   out0:  R = [0, 0, 4]            kept: 2
//   mid0:  R = [1, 0.5, 2]          edges into out0[2]: mid0[0] (1), mid0[2] (2)
//   emb:   R = [1, 2, 0.5]          edges into mid0[0]: emb[0] (1); into mid0[2]: emb[1] (1.5),
//   emb[2] (0.5)
// Traced down: mid0 gets [1·4/4, 0, 2·4/4] = [1, 0, 2]; emb gets
// [1·1/1, 1.5·2/2, 0.5·2/2] = [1, 1.5, 0.5]: 3 of Δℓ = 4 reach the tokens.
Graph hand_graph() {
  Graph g;
  g.layers = {
      {"emb", 0, NodeKind::Embedding}, {"mid0", 0, NodeKind::Mid}, {"out0", 0, NodeKind::Out}};
  g.position = 2;
  g.tokens = 3;
  g.target = 4;
  g.relevance = at::tensor({1.0f, 2.0f, 0.5f, 1.0f, 0.5f, 2.0f, 0.0f, 0.0f, 4.0f}).view({3, 3});
  g.transitions = {{0, 1, {{0, 0, 1.0f}, {1, 2, 1.5f}, {2, 2, 0.5f}}},
                   {1, 2, {{0, 2, 1.0f}, {2, 2, 2.0f}}}};
  g.nodes = {{0, 0, 1.0f}, {0, 1, 2.0f}, {0, 2, 0.5f}, {1, 0, 1.0f}, {1, 2, 2.0f}, {2, 2, 4.0f}};
  return g;
}

TEST(GraphInterventions, KeptShareTracesRelevanceAlongKeptEdges) {
  EXPECT_DOUBLE_EQ(kept_share(hand_graph()), 0.75);
  Graph pruned = hand_graph();
  pruned.transitions[1].edges.pop_back();  // mid0[2] -> out0[2] pruned: only emb[0]'s path is left
  EXPECT_DOUBLE_EQ(kept_share(pruned), 0.25);
  Graph flat = hand_graph();
  flat.target = 0;
  EXPECT_TRUE(std::isnan(kept_share(flat)));
}

TEST(GraphInterventions, TestsEmbeddingAndOutputNodesAwayFromTheExplainedAndFirstPosition) {
  Graph g = hand_graph();
  // Add an output layer above with nodes at every position to choose from.
  g.layers.push_back({"mid1", 1, NodeKind::Mid});
  g.layers.push_back({"out1", 1, NodeKind::Out});
  g.nodes = {{0, 1, -3.0f}, {2, 0, 9.0f}, {2, 1, 3.0f}, {3, 1, 8.0f}, {4, 1, 0.5f}, {4, 2, 7.0f}};
  const std::vector<Node> all = intervention_nodes(g, 10);
  // Position 0 (the sink), position 2 (explained) and the mid node go; |R| ties keep graph order.
  ASSERT_EQ(all.size(), 3U);
  EXPECT_EQ(all[0].layer, 0);  // emb[1], |R| = 3, lower layer first
  EXPECT_EQ(all[1].layer, 2);  // out0[1], |R| = 3
  EXPECT_EQ(all[2].layer, 4);  // out1[1], 0.5
  EXPECT_EQ(intervention_nodes(g, 1).size(), 1U);

  const std::vector<lrp::ValueInput> in = intervention_inputs(g, {7, 8, 9}, all);
  ASSERT_EQ(in.size(), 4U);
  EXPECT_TRUE(in[0].states.empty());
  ASSERT_EQ(in[3].states.size(), 1U);
  EXPECT_EQ(in[3].states[0].point, model::StatePoint::Out);
  EXPECT_EQ(in[3].states[0].layer, 1);
  EXPECT_EQ(in[3].states[0].row, 1);
  EXPECT_EQ(in[1].states[0].point, model::StatePoint::Embedding);
}

TEST(GraphInterventions, ALinearModelMeetsItsPredictionsExactly) {
  Graph g = hand_graph();
  g.layers.push_back({"mid1", 1, NodeKind::Mid});
  g.layers.push_back({"out1", 1, NodeKind::Out});
  g.transitions.push_back({2, 3, {}});
  g.transitions.push_back({3, 4, {}});
  g.relevance = at::cat({g.relevance, at::zeros({2, 3})});
  g.nodes = {{0, 1, -3.0f}, {2, 1, 2.0f}, {4, 1, 0.5f}};
  // Δℓ = 10 minus the relevance of whichever node is zeroed (by node layer).
  const std::vector<double> by_layer = {-3.0, 0, 2.0, 0, 0.5};
  auto node_layer = [](const model::ZeroedState& s) {
    return s.point == model::StatePoint::Embedding ? 0 : static_cast<int>(2 + 2 * s.layer);
  };
  std::size_t calls = 0;
  const lrp::DeltaOf linear = [&](const std::vector<lrp::ValueInput>& inputs) {
    ++calls;
    std::vector<double> out;
    for (const lrp::ValueInput& in : inputs) {
      double d = 10;
      for (const model::ZeroedState& s : in.states)
        d -= by_layer[static_cast<std::size_t>(node_layer(s))];
      out.push_back(d);
    }
    return out;
  };
  const InterventionTest t = test_interventions(g, {7, 8, 9}, linear, {.nodes = 8});
  EXPECT_EQ(calls, 1U);  // every forward in one call
  EXPECT_DOUBLE_EQ(t.baseline, 10);
  ASSERT_EQ(t.measured.size(), 3U);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_DOUBLE_EQ(t.measured[i], t.predicted[i]);
  EXPECT_DOUBLE_EQ(t.predicted[0], 3.0);  // −R of emb[1]
  EXPECT_NEAR(t.correlation, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(t.kept_share, 0.0);  // no kept edge above out0
  // The graph must explain the last token of the given ids.
  EXPECT_THROW(test_interventions(g, {7, 8}, linear, {}), clrp::Error);
  Graph broken = g;
  broken.transitions.pop_back();
  EXPECT_THROW(kept_share(broken), clrp::Error);
}

TEST(GraphInterventions, PearsonNeedsThreeFinitePairsWithSpread) {
  EXPECT_NEAR(util::pearson({1, 2, 3, 4}, {2, 4, 6, 8}), 1.0, 1e-12);
  EXPECT_NEAR(util::pearson({1, 2, 3, 4}, {8, 6, 4, 2}), -1.0, 1e-12);
  EXPECT_NEAR(util::pearson({1, 2, 3}, {1, 3, 2}), 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(util::pearson({1, 2}, {1, 2})));
  EXPECT_TRUE(std::isnan(util::pearson({1, 1, 1}, {1, 2, 3})));
  EXPECT_NEAR(util::pearson({1, 2, std::nan(""), 3}, {2, 4, 0, 6}), 1.0,
              1e-12);  // NaN pair skipped
}

TEST(GraphInterventions, TheOutcomeOfAnUninformativeInputFollowsTheGraphTest) {
  const lrp::OutcomeThresholds th;  // r >= 0.5, kept share >= 0.1
  EXPECT_TRUE(lrp::graph_passes({0.5, 0.1}, th));
  EXPECT_FALSE(lrp::graph_passes({0.49, 0.9}, th));
  EXPECT_FALSE(lrp::graph_passes({0.9, 0.05}, th));
  EXPECT_FALSE(lrp::graph_passes({std::nan(""), 0.9}, th));
}

}  // namespace
}  // namespace clrp::graph
