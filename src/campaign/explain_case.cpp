#include "clrp/campaign/explain_case.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include "clrp/eval/segment_map.hpp"
#include "clrp/graph/export.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

template <class T>
std::vector<T> flat(const at::Tensor& t, c10::ScalarType type) {
  const at::Tensor c = t.to(at::kCPU).to(type).contiguous();
  return {c.data_ptr<T>(), c.data_ptr<T>() + c.numel()};
}

}  // namespace

std::string tokenizer_fingerprint(const text::Tokenizer& tok) {
  std::uint64_t h = 1469598103934665603ull;
  const auto mix = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  const auto n = tok.vocab_size();
  mix(std::to_string(n));
  for (std::int64_t i = 0; i < n; ++i)
    mix(tok.id_to_token(static_cast<std::int32_t>(i)).value_or("\x01<none>"));
  for (const auto& id : {tok.bos_id(), tok.eos_id()})
    mix(id ? std::to_string(*id) : "-");
  return std::to_string(h);
}

void map_tokens(const cases::Case& c, const std::string& rendered_text, const std::string& prefix,
                const text::Tokenizer& tokenizer, const std::vector<std::int32_t>& ids,
                std::vector<std::int8_t>& segment, std::vector<std::int8_t>& evidence) {
  segment.assign(ids.size(), -1);
  evidence.assign(ids.size(), 0);
  const auto places = eval::place_tokens(tokenizer, ids, c, rendered_text, prefix, nullptr);
  if (!places) return;  // the bytes do not spell the text: unknown, not wrong
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const eval::TokenPlace& p = (*places)[i];
    switch (p.kind) {
      case eval::TokenPlace::Kind::segment:
        segment[i] = static_cast<std::int8_t>(c.segments[static_cast<std::size_t>(p.segment)].kind);
        for (const auto& ev : c.evidence)
          if (p.begin < ev.bytes.end && p.end > ev.bytes.begin) evidence[i] = 1;
        break;
      case eval::TokenPlace::Kind::template_text:
        segment[i] = store::kTemplateColumn;
        break;
      case eval::TokenPlace::Kind::thinking:
        segment[i] = store::kThinkingColumn;
        break;
      case eval::TokenPlace::Kind::prefix:
        segment[i] = store::kPrefixColumn;
        break;
      case eval::TokenPlace::Kind::special:
        break;
    }
  }
}

store::CaseRecord prepare_case(const FailureCase& fc, const eval::RenderedPrompt& prompt,
                               const model::ModelConfig& config, const text::Tokenizer& tokenizer,
                               std::uint32_t table, at::Tensor& ids_out) {
  const auto t0 = std::chrono::steady_clock::now();
  store::CaseRecord r;
  r.table = table;
  r.case_id = fc.c.id;
  r.case_index = static_cast<std::uint32_t>(fc.line - 1);
  r.wrong_id = static_cast<std::int32_t>(fc.pair.wrong.id);
  r.correct_id = static_cast<std::int32_t>(fc.pair.correct.id);
  r.pair_delta = fc.pair.delta;
  const Where where{fc.c.id};
  require(fc.pair.wrong.id < config.vocab_size && fc.pair.correct.id < config.vocab_size, where,
          "pair token ids outside the model's vocabulary");
  require(fc.pair.wrong.id != fc.pair.correct.id, where,
          "the pair's wrong and correct tokens are the same (id " +
              std::to_string(fc.pair.wrong.id) + ")");
  const std::vector<std::int32_t> ids =
      tokenizer.encode(prompt.text + fc.pair.prefix, prompt.add_special_tokens);
  require(!ids.empty(), where, "the prompt tokenises to no tokens");
  require(static_cast<std::int64_t>(ids.size()) <= config.max_position_embeddings, where,
          std::to_string(ids.size()) + " tokens, longer than the model's context of " +
              std::to_string(config.max_position_embeddings));
  r.tokens = ids;
  map_tokens(fc.c, prompt.text, fc.pair.prefix, tokenizer, ids, r.token_segment, r.token_evidence);
  r.prompt_tokens = 0;
  for (auto s : r.token_segment)
    if (s != store::kPrefixColumn && s != store::kThinkingColumn) ++r.prompt_tokens;
  ids_out = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong);
  r.seconds_tokenize = util::seconds_since(t0);
  return r;
}

lrp::Seed case_seed(const store::CaseRecord& r, std::int64_t vocab) {
  return lrp::Seed::contrastive(static_cast<std::int64_t>(r.tokens.size()) - 1, r.wrong_id,
                                r.correct_id, vocab);
}

void record_relevance(store::CaseRecord& r, const std::vector<lrp::Explanation>& per_rule,
                      const CampaignSpec& spec, std::int64_t L) {
  const auto T = static_cast<std::int64_t>(r.tokens.size());
  const auto R = static_cast<std::int64_t>(spec.rules.size());
  require(static_cast<std::int64_t>(per_rule.size()) == R, Where{r.case_id},
          "an explanation per rule expected");
  r.token_relevance.assign(static_cast<std::size_t>(T * R), 0.f);
  if (spec.record.residual) {
    r.layer_relevance.assign(static_cast<std::size_t>(T * R * L), 0.f);
    r.mid_relevance.assign(static_cast<std::size_t>(T * R * L), std::nanf(""));
  }
  r.segment_relevance.assign(static_cast<std::size_t>(R * store::kSegmentColumns), 0.0);
  for (std::int64_t ri = 0; ri < R; ++ri) {
    const lrp::Explanation& ex = per_rule[static_cast<std::size_t>(ri)];
    if (ri == 0) {
      r.delta = ex.target[0].item<double>();
      r.wrong_logit = ex.logits[0][r.wrong_id].item<double>();
      r.correct_logit = ex.logits[0][r.correct_id].item<double>();
    }
    const auto tok = flat<float>(ex.token_relevance[0], at::kFloat);
    double total = 0;
    for (std::int64_t t = 0; t < T; ++t) {
      r.token_relevance[t * R + ri] = tok[t];
      total += tok[t];
      if (r.token_segment[t] >= 0)
        r.segment_relevance[ri * store::kSegmentColumns + r.token_segment[t]] += tok[t];
    }
    r.conservation.push_back(lrp::conservation_error(total, r.delta));
    if (spec.record.residual) {
      // [L, T] -> rows of [T, R, L]
      const auto layer = flat<float>(ex.layer_relevance[0], at::kFloat);
      for (std::int64_t l = 0; l < L; ++l)
        for (std::int64_t t = 0; t < T; ++t)
          r.layer_relevance[(t * R + ri) * L + l] = layer[l * T + t];
      if (ex.mid_relevance.defined()) {
        const auto mid = flat<float>(ex.mid_relevance[0], at::kFloat);
        for (std::int64_t l = 0; l < L; ++l)
          for (std::int64_t t = 0; t < T; ++t)
            r.mid_relevance[(t * R + ri) * L + l] = mid[l * T + t];
      }
    }
    const auto bias = flat<float>(ex.bias_absorbed[0], at::kFloat);
    r.bias_absorbed.insert(r.bias_absorbed.end(), bias.begin(), bias.end());
    if (spec.record.heads) {
      const auto heads = flat<float>(ex.head_relevance[0], at::kFloat);
      r.head_relevance.insert(r.head_relevance.end(), heads.begin(), heads.end());
    }
    if (spec.record.neurons > 0) {
      const auto nid = flat<std::int32_t>(ex.neuron_ids[0], at::kInt);
      const auto nrel = flat<float>(ex.neuron_relevance[0], at::kFloat);
      r.neuron_ids.insert(r.neuron_ids.end(), nid.begin(), nid.end());
      r.neuron_relevance.insert(r.neuron_relevance.end(), nrel.begin(), nrel.end());
    }
  }
}

void record_deletion(store::CaseRecord& r, const CampaignSpec& spec,
                     const std::vector<char>& removable, const lrp::DeltaOf& delta_of,
                     std::int64_t chunk) {
  if (spec.record.deletion_max_tokens <= 0) return;
  const auto orders = lrp::deletion_orders(r.case_id, removable, r.token_relevance,
                                           spec.rules.size(), spec.faithfulness.options.seed);
  for (const auto& order : orders)
    r.deletion_tokens.push_back(lrp::tokens_to_flip(delta_of, r.tokens, order, r.delta,
                                                    spec.record.deletion_max_tokens,
                                                    lrp::Removal::remove, chunk));
}

void record_faithfulness(store::CaseRecord& r, const CampaignSpec& spec,
                         const std::vector<char>& removable, const lrp::DeltaOf& delta_of,
                         const std::optional<lrp::GraphScores>& graph) {
  if (!spec.faithfulness.enabled) return;
  lrp::FaithfulnessCurves c =
      lrp::faithfulness_curves(delta_of, r.tokens, removable, r.token_relevance, spec.rules.size(),
                               r.case_id, r.delta, spec.faithfulness.options);
  require(std::all_of(c.delta.begin(), c.delta.end(), [](float x) { return std::isfinite(x); }),
          Where{r.case_id}, "a faithfulness forward failed (non-finite values)");
  lrp::CaseOutcome outcome =
      lrp::classify(c, r.token_segment, r.token_evidence, r.token_relevance, spec.rules.size(),
                    r.delta, spec.record.evidence_top_k, spec.faithfulness.thresholds, graph);
  r.outcome = std::move(outcome.outcome);
  r.pattern = std::move(outcome.pattern);
  r.faithfulness_candidates = {static_cast<std::int32_t>(c.candidates)};
  r.faithfulness_steps = std::move(c.steps);
  r.faithfulness_delta = std::move(c.delta);
  r.faithfulness_area = std::move(c.area);
  r.faithfulness_flip = std::move(c.flip);
}

graph::GraphOptions graph_options(const GraphSpec& gs) {
  graph::GraphOptions opt;
  opt.rule = gs.rule;
  opt.max_memory = gs.max_memory;
  opt.mass_fraction = gs.mass;
  opt.node_threshold = gs.node_threshold;
  return opt;
}

// The case's pruned attribution graph into the record's graph_* fields: kept
// nodes numbered in the builder's order, edges between them, the summary row.
void record_graph(store::CaseRecord& r, const graph::Graph& g,
                  const std::optional<graph::InterventionTest>& tested) {
  std::map<std::pair<std::int32_t, std::int32_t>, std::int32_t> index;
  const auto remainder = g.remainder.accessor<float, 2>();
  for (const graph::Node& n : g.nodes) {
    index[{n.layer, n.position}] = static_cast<std::int32_t>(r.graph_node_layer.size());
    r.graph_node_layer.push_back(static_cast<std::int16_t>(n.layer));
    r.graph_node_position.push_back(n.position);
    r.graph_node_relevance.push_back(n.relevance);
    r.graph_node_remainder.push_back(remainder[n.layer][n.position]);
  }
  r.graph_node_ablation.assign(g.nodes.size(), std::nanf(""));
  if (tested)
    for (std::size_t i = 0; i < tested->nodes.size(); ++i)
      r.graph_node_ablation[static_cast<std::size_t>(
          index.at({tested->nodes[i].layer, tested->nodes[i].position}))] =
          static_cast<float>(tested->measured[i]);
  for (const graph::Transition& tr : g.transitions)
    for (const graph::Edge& e : tr.edges) {
      r.graph_edge_source.push_back(index.at({static_cast<std::int32_t>(tr.source), e.source}));
      r.graph_edge_target.push_back(index.at({static_cast<std::int32_t>(tr.target), e.target}));
      r.graph_edge_weight.push_back(e.weight);
    }
  const graph::GraphSummary s = graph::summarize(g);
  r.graph_summary = {static_cast<double>(s.nodes),
                     static_cast<double>(s.edges),
                     g.target,
                     s.first_token_share,
                     s.other_tokens_share,
                     s.self_bias_share,
                     s.mean_fan_in,
                     tested ? tested->correlation : std::nan(""),
                     tested ? tested->kept_share : std::nan(""),
                     g.seconds};
}

}  // namespace clrp::campaign
