// clrp explain: contrastive relevance of Δℓ = logit(wrong) − logit(correct)
// at the first token of the answer, back to the prompt tokens and layers.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/contrast.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/campaign/explain_case.hpp"
#include "clrp/eval/segment_map.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/lrp/faithfulness.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/report/explain_html.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"
#include "clrp/util/write_file.hpp"

namespace clrp::app {

namespace {

struct ExplainOptions {
  ModelOptions model_options;
  ContrastOptions contrast;
  std::string rule = lrp::to_string(lrp::Rule::AttnLRP);
  std::int64_t neurons = 10;
  std::optional<std::string> json_out, html_out;
  bool faithfulness = false;
  std::vector<std::string> removal{"delete", "zero"};
  lrp::FaithfulnessOptions faithfulness_options;
  std::int64_t evidence_top_k = 5;  ///< the outcome's evidence recovery (docs/faithfulness.md)
};

// Faithfulness curves of the explanation (lrp/faithfulness.hpp): its rule's
// most- and least-relevant-first orders and the random one, every removal
// input of every operator in packed forwards.
nlohmann::json faithfulness_json(const LoadedModel& m, const Contrast& contrast,
                                 const lrp::Explanation& ex, lrp::Rule rule,
                                 const ExplainOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::int32_t>& ids = contrast.ids;
  std::vector<std::int8_t> segment(ids.size(), 0), evidence;
  if (contrast.the_case)
    campaign::map_tokens(*contrast.the_case, contrast.rendered.text, contrast.prefix, *m.tokenizer,
                         ids, segment, evidence);
  const std::vector<char> removable = lrp::removable_tokens(
      segment, ids, [&](std::int32_t id) { return m.tokenizer->is_special(id); });
  const at::Tensor rel = ex.token_relevance[0].to(at::kCPU).to(at::kFloat).contiguous();
  const std::vector<float> relevance(rel.data_ptr<float>(), rel.data_ptr<float>() + rel.numel());
  lrp::FaithfulnessOptions fo = opt.faithfulness_options;
  fo.operators.clear();
  for (const auto& name : opt.removal)
    fo.operators.push_back(*lrp::parse_removal(name));
  const lrp::DeltaOf delta_of =
      lrp::whole_model_delta_of(*m.decoder, contrast.wrong, contrast.correct);
  const double delta = ex.target[0].item<double>();
  const lrp::FaithfulnessCurves c = lrp::faithfulness_curves(
      delta_of, ids, removable, relevance, 1,
      contrast.the_case ? contrast.the_case->id : std::string(), delta, fo);
  const std::string name = lrp::to_string(rule);
  const std::size_t S = c.steps.size();
  nlohmann::json j{
      {"candidates", c.candidates}, {"steps", c.steps}, {"single_tokens", fo.single_tokens},
      {"fractions", fo.fractions},  {"seed", fo.seed},  {"forwards", c.forwards}};
  const auto curve = [&](std::size_t o, std::size_t k) {
    return std::vector<float>(c.delta.begin() + static_cast<std::ptrdiff_t>((o * 3 + k) * S),
                              c.delta.begin() + static_cast<std::ptrdiff_t>((o * 3 + k + 1) * S));
  };
  for (std::size_t o = 0; o < fo.operators.size(); ++o) {
    const char* op = lrp::to_string(fo.operators[o]);
    j["curves"][op] = {{name + " most-relevant-first", curve(o, 0)},
                       {name + " least-relevant-first", curve(o, 1)},
                       {"random", curve(o, 2)}};
    j["area"][op] = {{"least_minus_most", c.area[o * 2]}, {"random_minus_most", c.area[o * 2 + 1]}};
    j["tokens_to_flip"][op] = {{name, c.flip[o * 2]}, {"random", c.flip[o * 2 + 1]}};
  }
  // The case's evidence spans (--cases) decide recovery and the patterns.
  if (evidence.empty()) evidence.assign(ids.size(), 0);
  const lrp::CaseOutcome outcome =
      lrp::classify(c, segment, evidence, relevance, 1, delta, opt.evidence_top_k, {});
  j["outcome"] = lrp::kCaseOutcomeNames[outcome.outcome[0] + 1];
  if (outcome.pattern[0] >= 0)
    j["pattern"] = {
        {"underweighted_relevant_tokens", (outcome.pattern[0] & lrp::kUnderweightedRelevant) != 0},
        {"overweighted_irrelevant_tokens",
         (outcome.pattern[0] & lrp::kOverweightedIrrelevant) != 0}};
  j["seconds"] = util::seconds_since(t0);
  return j;
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

std::vector<std::vector<double>> to_rows(const at::Tensor& t) {
  std::vector<std::vector<double>> rows;
  for (std::int64_t i = 0; i < t.size(0); ++i)
    rows.push_back(to_vector(t[i]));
  return rows;
}

// Per layer: relevance entering and leaving it, what its biases absorbed, and
// the rest — the share the rules do not conserve (AttnLRP's softmax rule).
nlohmann::json layer_conservation(const lrp::Explanation& ex) {
  nlohmann::json out = nlohmann::json::array();
  double in = ex.token_relevance[0].sum().item<double>();
  for (std::int64_t l = 0; l < ex.layer_relevance.size(1); ++l) {
    const double leaving = ex.layer_relevance[0][l].sum().item<double>();
    const double bias = ex.bias_absorbed[0][l].item<double>();
    out.push_back({{"layer", l},
                   {"relevance_in", in},
                   {"relevance_out", leaving},
                   {"bias_absorbed", bias},
                   {"non_conserved", leaving - in - bias}});
    in = leaving;
  }
  return out;
}

void run(const ExplainOptions& opt) {
  const lrp::Rule rule = lrp::parse_rule(opt.rule);
  if (opt.faithfulness) {
    const auto& f = opt.faithfulness_options.fractions;
    for (std::size_t i = 1; i < f.size(); ++i)
      if (f[i] <= f[i - 1])
        throw Error("--fractions must increase (" + std::to_string(f[i]) + " after " +
                    std::to_string(f[i - 1]) + ")");
    for (std::size_t i = 1; i < opt.removal.size(); ++i)
      if (std::find(opt.removal.begin(), opt.removal.begin() + static_cast<std::ptrdiff_t>(i),
                    opt.removal[i]) != opt.removal.begin() + static_cast<std::ptrdiff_t>(i))
        throw Error("--removal names '" + opt.removal[i] + "' twice");
    if (opt.faithfulness_options.single_tokens == 0 && f.empty())
      throw Error("--faithfulness needs steps: --single-tokens > 0 or some --fractions");
  }
  const LoadedModel m = load_model(opt.model_options);
  const lrp::Engine engine(*m.decoder);
  // The last forward pass serves both the model's own prediction and the
  // explanation when they read the same tokens (answers that share leading
  // tokens make the explained sequence longer than the prompt).
  std::optional<lrp::ForwardState> state;
  std::vector<std::int32_t> state_ids;
  auto forward = [&](const std::vector<std::int32_t>& ids) -> const lrp::ForwardState& {
    if (!state || state_ids != ids) {
      state = engine.forward_ids(
          at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong));
      state_ids = ids;
    }
    return *state;
  };
  const Contrast contrast =
      resolve_contrast(m, opt.contrast, [&](const std::vector<std::int32_t>& ids) {
        c10::InferenceMode inference_mode;
        const at::Tensor& out = forward(ids).output;
        return static_cast<std::int32_t>(
            m.decoder->unembed(out.narrow(1, out.size(1) - 1, 1)).argmax().item<std::int64_t>());
      });
  const std::vector<std::int32_t>& ids = contrast.ids;
  const std::int32_t wrong = contrast.wrong, correct = contrast.correct;
  const std::int64_t position = contrast.position;
  const auto& the_case = contrast.the_case;
  const auto ex = engine.explain(
      forward(ids),
      {lrp::Seed::contrastive(position, wrong, correct, m.checkpoint.config().vocab_size)}, rule,
      lrp::RecordOptions{.residual = true, .heads = true, .neurons = opt.neurons});
  const at::Tensor probs = at::softmax(ex.logits[0], -1);
  const double target = ex.target[0].item<double>();
  const double total = ex.token_relevance[0].sum().item<double>();
  const double conservation = lrp::conservation_error(total, target);

  std::vector<std::string> tokens;
  for (auto id : ids)
    tokens.push_back(m.tokenizer->token_string(id));
  auto token_json = [&](std::int32_t id) {
    return nlohmann::json{{"id", id},
                          {"token", m.tokenizer->token_string(id)},
                          {"logit", ex.logits[0][id].item<double>()},
                          {"prob", probs[id].item<double>()}};
  };
  nlohmann::json j;
  j["model"] = m.checkpoint.path();
  j["ids"] = ids;
  j["tokens"] = tokens;
  j["token_relevance"] = to_vector(ex.token_relevance[0]);
  j["wrong"] = token_json(wrong);
  j["correct"] = token_json(correct);
  j["position"] = position;
  if (contrast.shared_tokens > 0)
    j["shared_prefix"] = {{"text", contrast.prefix}, {"tokens", contrast.shared_tokens}};
  j["target"] = target;
  j["rule"] = lrp::to_string(rule);
  j["conservation"] = conservation;
  j["layer_conservation"] = layer_conservation(ex);
  j["layer_relevance"] = to_rows(ex.layer_relevance[0]);
  if (ex.mid_relevance.defined()) j["mid_relevance"] = to_rows(ex.mid_relevance[0]);
  j["head_relevance"] = to_rows(ex.head_relevance[0]);
  if (ex.neuron_ids.defined()) {
    nlohmann::json neurons = nlohmann::json::array();
    for (std::int64_t l = 0; l < ex.neuron_ids.size(1); ++l) {
      nlohmann::json layer = nlohmann::json::array();
      for (std::int64_t k = 0; k < ex.neuron_ids.size(2); ++k)
        layer.push_back({{"neuron", ex.neuron_ids[0][l][k].item<std::int64_t>()},
                         {"relevance", ex.neuron_relevance[0][l][k].item<double>()}});
      neurons.push_back(layer);
    }
    j["neurons"] = neurons;
  }
  if (opt.faithfulness) j["faithfulness"] = faithfulness_json(m, contrast, ex, rule, opt);
  std::vector<std::pair<std::string, double>> segment_sums;
  if (the_case) {
    const auto rel = to_vector(ex.token_relevance[0]);
    std::string why;
    const auto groups = eval::group_tokens(*m.tokenizer, ids, *the_case, contrast.rendered.text,
                                           contrast.prefix, &why);
    j["case"] = {{"id", the_case->id},
                 {"benchmark", the_case->benchmark},
                 {"format", std::string(cases::name(the_case->format))},
                 {"prefix", contrast.prefix},
                 {"method", std::string(cases::name(the_case->pair->method))},
                 {"delta_at_evaluation", the_case->pair->delta}};
    if (groups) {
      nlohmann::json segs = nlohmann::json::array();
      for (const auto& g : *groups) {
        double sum = 0, abs_sum = 0;
        for (auto t : g.tokens)
          sum += rel[t], abs_sum += std::abs(rel[t]);
        nlohmann::json e = {{"label", g.label},
                            {"relevance", sum},
                            {"abs_relevance", abs_sum},
                            {"tokens", g.tokens.size()}};
        if (g.segment >= 0) e["segment"] = g.segment;
        segs.push_back(e);
        segment_sums.emplace_back(
            g.segment >= 0 ? std::to_string(g.segment) + " " + g.label : g.label, sum);
      }
      j["segments"] = segs;
    } else {
      j["segments_unavailable"] = why;
    }
  }
  if (opt.json_out) write_file(*opt.json_out, j.dump() + "\n");
  if (opt.html_out) {
    report::ExplainPage page;
    page.title = "Why " +
                 nlohmann::json(tokens.empty() ? "" : m.tokenizer->token_string(wrong)).dump() +
                 " and not " + nlohmann::json(m.tokenizer->token_string(correct)).dump() + "?";
    page.model = m.checkpoint.path();
    page.rule = lrp::to_string(rule);
    page.wrong = {m.tokenizer->token_string(wrong), ex.logits[0][wrong].item<double>(),
                  probs[wrong].item<double>()};
    page.correct = {m.tokenizer->token_string(correct), ex.logits[0][correct].item<double>(),
                    probs[correct].item<double>()};
    page.target = target;
    page.conservation = conservation;
    const auto rel = to_vector(ex.token_relevance[0]);
    // Special tokens and the first position (an attention sink whether or not it
    // is BOS, e.g. SmolLM2 has none) are shown but kept out of the colour scale.
    for (std::size_t i = 0; i < ids.size(); ++i)
      page.tokens.push_back({tokens[i], rel[i], i == 0 || m.tokenizer->is_special(ids[i])});
    page.layer_relevance = to_rows(ex.layer_relevance[0]);
    page.segments = segment_sums;
    if (contrast.shared_tokens > 0)
      page.note = "Both answers start with " + nlohmann::json(contrast.prefix).dump() + " (" +
                  std::to_string(contrast.shared_tokens) +
                  " token(s)): it is read after the prompt, and the contrast is at the next token.";
    write_file(*opt.html_out, report::render_explain_html(page));
  }
  std::printf(
      "Δℓ = logit(%s) − logit(%s) = %.4f   rule %s   input-level sum %.4f (relative error %.2e)\n",
      nlohmann::json(m.tokenizer->token_string(wrong)).dump().c_str(),
      nlohmann::json(m.tokenizer->token_string(correct)).dump().c_str(), target,
      lrp::to_string(rule), total, conservation);
  if (opt.faithfulness) {
    const nlohmann::json& f = j["faithfulness"];
    for (const auto& [op, area] : f["area"].items())
      std::printf(
          "faithfulness (%s, %lld removable tokens): area between least- and "
          "most-relevant-first %.4f, random minus most-relevant-first %.4f (of |Δℓ|); "
          "tokens to flip %s, random %s\n",
          op.c_str(), static_cast<long long>(f["candidates"].get<std::int64_t>()),
          area["least_minus_most"].is_null() ? NAN : area["least_minus_most"].get<double>(),
          area["random_minus_most"].is_null() ? NAN : area["random_minus_most"].get<double>(),
          f["tokens_to_flip"][op][lrp::to_string(rule)].dump().c_str(),
          f["tokens_to_flip"][op]["random"].dump().c_str());
    std::printf("outcome: %s%s\n", f["outcome"].get<std::string>().c_str(),
                f.contains("pattern") ? (", pattern " + f["pattern"].dump()).c_str() : "");
  }
}

}  // namespace

void register_explain(CLI::App& app) {
  auto opt = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand("explain",
                                     "Contrastive LRP: relevance of logit(wrong) - logit(correct) "
                                     "for the prompt's tokens and layers");
  add_model_options(cmd, opt->model_options);
  add_contrast_options(cmd, opt->contrast);
  add_rule_option(cmd, opt->rule);
  cmd->add_option("--neurons", opt->neurons, "Top-k MLP neurons per layer to report (0: none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--json", opt->json_out, "Write the explanation as JSON to this file");
  cmd->add_option("--html", opt->html_out, "Write a standalone HTML view to this file");
  const std::string group = "Faithfulness (docs/faithfulness.md)";
  CLI::Option* faithfulness =
      cmd->add_flag("--faithfulness", opt->faithfulness,
                    "Also measure how Δℓ falls as the tokens the rule ranks highest (and lowest, "
                    "and in a random order) are removed: curves, areas, tokens to flip (JSON "
                    "'faithfulness')")
          ->group(group);
  cmd->add_option("--removal", opt->removal,
                  "Removal operators: delete (the token leaves the sequence), zero (its token "
                  "embedding becomes zeros)")
      ->delimiter(',')
      ->check(CLI::IsMember({"delete", "zero"}))
      ->capture_default_str()
      ->group(group)
      ->needs(faithfulness);
  cmd->add_option("--single-tokens", opt->faithfulness_options.single_tokens,
                  "Steps of one token each before the fractions (and the tokens-to-flip cap)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str()
      ->group(group)
      ->needs(faithfulness);
  cmd->add_option("--fractions", opt->faithfulness_options.fractions,
                  "Then remove these fractions of the removable tokens (increasing, in (0, 1])")
      ->delimiter(',')
      ->check(CLI::Range(1e-9, 1.0))
      ->group(group)
      ->needs(faithfulness);
  cmd->add_option("--seed", opt->faithfulness_options.seed, "Seed of the random removal order")
      ->capture_default_str()
      ->group(group)
      ->needs(faithfulness);
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
