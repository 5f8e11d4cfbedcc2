// The table of rules (lrp/rules.hpp): names round-trip, and a rule registered
// at run time reaches the engine and the graph builder with no other change.
//
// The second part runs on tiny models that tests/oracle/test_rule_registration.py
// builds and names in CLRP_RULE_MODELS (a colon-separated list); without it
// that part is skipped. Its references are clrp's own, already checked
// against LXT and the Python graph reference by the oracle tests:
//   - a copy of AttnLRP's description under another name must give AttnLRP's
//     relevance and graph bit for bit (the description is all that is read);
//   - "AttnLRP with v-share 1" must change the relevance (the engine reads the
//     shares), and its structured (closed-form) graph must equal the graph of
//     the generic backward under the same rule (Packed, one backward per
//     target through the engine), as test_graph_oracle.py checks for the
//     built-in rules: the closed form reads the new shares too.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "clrp/graph/graph.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/rules.hpp"
#include "clrp/model/checkpoint.hpp"
#include "clrp/model/decoder.hpp"
#include "clrp/util/error.hpp"
#include "paths_from_env.hpp"

namespace {

using namespace clrp;

// The test-only rules, registered once per process (the table refuses a name twice).
struct TestRules {
  lrp::Rule copy, v_one;
};
const TestRules& test_rules() {
  static const TestRules rules = [] {
    lrp::RuleDescription copy = lrp::describe(lrp::Rule::AttnLRP);
    copy.name = "test-attnlrp-copy";
    lrp::RuleDescription v_one = lrp::describe(lrp::Rule::AttnLRP);
    v_one.name = "test-attnlrp-v1";
    v_one.summary = "AttnLRP with the whole gradient to v";
    v_one.attention.v = 1;
    return TestRules{lrp::register_rule(copy), lrp::register_rule(v_one)};
  }();
  return rules;
}

std::vector<std::string> models() {
  return clrp::test::paths_from_env("CLRP_RULE_MODELS");
}

TEST(RuleTable, BuiltInNamesRoundTrip) {
  // Stores and graphs hold these names: they must never change.
  EXPECT_STREQ(lrp::to_string(lrp::Rule::AttnLRP), "attnlrp");
  EXPECT_STREQ(lrp::to_string(lrp::Rule::CPLRP), "cp-lrp");
  EXPECT_STREQ(lrp::to_string(lrp::Rule::GradXInput), "grad-x-input");
  for (const lrp::Rule r : lrp::all_rules())
    EXPECT_EQ(lrp::parse_rule(lrp::to_string(r)), r);
  EXPECT_EQ(lrp::Rule(), lrp::Rule::AttnLRP);
  try {
    lrp::parse_rule("lrp-eps");
    FAIL() << "an unknown rule was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attnlrp, cp-lrp or grad-x-input"), std::string::npos)
        << e.what();
  }
}

TEST(RuleTable, RegistrationAddsOneEntryAndRefusesATakenName) {
  const TestRules& t = test_rules();
  EXPECT_EQ(lrp::parse_rule("test-attnlrp-v1"), t.v_one);
  EXPECT_EQ(lrp::describe(t.v_one).attention.v, 1.0);
  EXPECT_NE(t.v_one, lrp::Rule::AttnLRP);
  EXPECT_THROW(lrp::register_rule(lrp::describe(lrp::Rule::CPLRP)), Error);
  lrp::RuleDescription nonlinear = lrp::describe(lrp::Rule::GradXInput);
  nonlinear.name = "test-nonlinear-structured";
  nonlinear.structured_graph = true;  // a closed form needs constant norms
  EXPECT_THROW(lrp::register_rule(nonlinear), Error);
}

// Every unpruned edge of a graph, densely: [transition] -> [T, T] (rows: targets).
struct DenseGraph {
  graph::Graph graph;
  std::vector<at::Tensor> edges;
};

DenseGraph build(const model::DecoderModel& model, const at::Tensor& ids, std::int64_t wrong,
                 std::int64_t correct, lrp::Rule rule, graph::EdgeMethod method) {
  const std::int64_t t = ids.size(0);
  DenseGraph out;
  const std::size_t transitions = graph::node_layers(model.config()).size() - 1;
  for (std::size_t k = 0; k < transitions; ++k)
    out.edges.push_back(at::zeros({t, t}, at::kFloat));
  graph::GraphOptions opt;
  opt.rule = rule;
  opt.method = method;
  opt.batch = 8;
  opt.node_threshold = 0;  // every target row gets its edges
  opt.on_block = [&](std::size_t k, const graph::EdgeBlock& b) {
    for (std::size_t r = 0; r < b.targets.size(); ++r) {
      const auto row = static_cast<std::int64_t>(r);
      if (b.diagonal)
        out.edges[k][b.targets[r]][b.targets[r]] = b.values[row];
      else
        out.edges[k][b.targets[r]].narrow(0, 0, b.values.size(1)).copy_(b.values[row]);
    }
  };
  out.graph = graph::build_graph(model, ids, t - 1, wrong, correct, opt);
  return out;
}

// max |a − b| relative to max |b|.
double relative_max_diff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / std::max(scale, 1e-30);
}

TEST(RuleTable, RegisteredRuleReachesEngineAndGraph) {
  const auto paths = models();
  if (paths.empty()) GTEST_SKIP() << "CLRP_RULE_MODELS not set (run the oracle test)";
  const TestRules& rules = test_rules();
  c10::InferenceMode guard;
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    const model::Checkpoint ck = model::Checkpoint::open(path);
    const model::DecoderModel model(ck);
    const std::int64_t t = 20;
    at::manual_seed(11);
    const std::int64_t vocab = std::min<std::int64_t>(ck.config().vocab_size, 300);
    const at::Tensor ids = at::randint(1, vocab, {t}, at::kLong);
    // The model's own top-2 at the last token: wrong = top-1, correct = top-2.
    const at::Tensor top = std::get<1>(model.forward(ids.unsqueeze(0))[0][t - 1].topk(2));
    const std::int64_t wrong = top[0].item<std::int64_t>(), correct = top[1].item<std::int64_t>();

    const lrp::Engine engine(model);
    const std::vector<lrp::Seed> seeds{
        lrp::Seed::contrastive(t - 1, wrong, correct, ck.config().vocab_size)};
    const lrp::RecordOptions record{.residual = true, .heads = true};
    const lrp::Explanation attn = engine.explain(ids, seeds, lrp::Rule::AttnLRP, record);
    const lrp::Explanation copy = engine.explain(ids, seeds, rules.copy, record);
    const lrp::Explanation v_one = engine.explain(ids, seeds, rules.v_one, record);
    EXPECT_TRUE(at::equal(copy.token_relevance, attn.token_relevance));
    EXPECT_TRUE(at::equal(copy.layer_relevance, attn.layer_relevance));
    EXPECT_TRUE(at::equal(copy.head_relevance, attn.head_relevance));
    EXPECT_TRUE(at::equal(copy.input_gradient, attn.input_gradient));
    // v's share doubles: the value path carries twice the relevance it did.
    EXPECT_GT(relative_max_diff(v_one.token_relevance, attn.token_relevance), 1e-2);

    const DenseGraph g_attn =
        build(model, ids, wrong, correct, lrp::Rule::AttnLRP, graph::EdgeMethod::Structured);
    const DenseGraph g_copy =
        build(model, ids, wrong, correct, rules.copy, graph::EdgeMethod::Structured);
    EXPECT_TRUE(at::equal(g_copy.graph.relevance, g_attn.graph.relevance));
    for (std::size_t k = 0; k < g_attn.edges.size(); ++k)
      EXPECT_TRUE(at::equal(g_copy.edges[k], g_attn.edges[k])) << "transition " << k;
    EXPECT_EQ(g_copy.graph.nodes.size(), g_attn.graph.nodes.size());
    EXPECT_STREQ(lrp::to_string(g_copy.graph.rule), "test-attnlrp-copy");

    const DenseGraph structured =
        build(model, ids, wrong, correct, rules.v_one, graph::EdgeMethod::Structured);
    const DenseGraph packed =
        build(model, ids, wrong, correct, rules.v_one, graph::EdgeMethod::Packed);
    // Node relevance comes from the same main pass in both methods.
    EXPECT_TRUE(at::equal(structured.graph.relevance, packed.graph.relevance));
    EXPECT_GT(relative_max_diff(structured.graph.relevance, g_attn.graph.relevance), 1e-2);
    bool attention_differs = false;
    for (std::size_t k = 0; k < packed.edges.size(); ++k) {
      // 1e-5: test_graph_oracle.py's tolerance between the two methods.
      EXPECT_LE(relative_max_diff(structured.edges[k], packed.edges[k]), 1e-5)
          << "transition " << k;
      attention_differs |= relative_max_diff(structured.edges[k], g_attn.edges[k]) > 1e-2;
    }
    EXPECT_TRUE(attention_differs) << "the v-share-1 graph's edges equal AttnLRP's";
  }
}

}  // namespace
