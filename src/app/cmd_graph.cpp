// clrp graph: a cross-layer attribution graph of Δℓ over hidden states,
// pruned, as circuit-tracer / Neuronpedia JSON and a standalone HTML view.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/contrast.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/graph/export.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/graph/interventions.hpp"
#include "clrp/lrp/stage_work.hpp"
#include "clrp/report/graph_html.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/error.hpp"
#include "clrp/util/write_file.hpp"

namespace clrp::app {

namespace {

struct GraphCommandOptions {
  ModelOptions model_options;
  ContrastOptions contrast;
  std::string rule = lrp::to_string(lrp::Rule::AttnLRP), method = "structured";
  std::optional<std::string> max_memory;
  double mass = 0.85, node_threshold = 0.01;
  std::optional<double> edge_threshold;
  std::int64_t batch = 32, block = 0;
  std::int64_t interventions = 0;
  std::optional<std::string> json_out, html_out;
};

// The intervention test's nodes and scores, for the JSON's "clrp" section.
nlohmann::json intervention_json(const graph::Graph& g, const graph::InterventionTest& t) {
  nlohmann::json nodes = nlohmann::json::array();
  for (std::size_t i = 0; i < t.nodes.size(); ++i)
    nodes.push_back({{"layer", g.layers[static_cast<std::size_t>(t.nodes[i].layer)].name},
                     {"position", t.nodes[i].position},
                     {"relevance", t.nodes[i].relevance},
                     {"predicted", t.predicted[i]},
                     {"measured", t.measured[i]}});
  return {{"operator", "zero"},         {"baseline", t.baseline}, {"correlation", t.correlation},
          {"kept_share", t.kept_share}, {"seconds", t.seconds},   {"nodes", nodes}};
}

void run(const GraphCommandOptions& opt) {
  graph::GraphOptions go;
  go.rule = lrp::parse_rule(opt.rule);
  go.method = opt.method == "packed" ? graph::EdgeMethod::Packed : graph::EdgeMethod::Structured;
  go.node_threshold = opt.node_threshold;
  go.mass_fraction = opt.mass;
  if (opt.edge_threshold) {
    go.prune = graph::PruneMode::Threshold;
    go.edge_threshold = *opt.edge_threshold;
  }
  go.batch = opt.batch;
  go.query_block = opt.block;
  if (opt.max_memory) go.max_memory = parse_byte_size(*opt.max_memory);

  const LoadedModel m = load_model(opt.model_options);
  const Contrast contrast =
      resolve_contrast(m, opt.contrast, [&](const std::vector<std::int32_t>& ids) {
        // Only the last position's logits: a [T, vocab] matrix is large on long inputs.
        c10::InferenceMode inference_mode;
        const at::Tensor batch =
            at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
        const at::Tensor h =
            m.decoder->run_layers(m.decoder->embed(batch), at::arange(batch.size(1), at::kLong));
        return static_cast<std::int32_t>(
            m.decoder->unembed(h.narrow(1, h.size(1) - 1, 1)).argmax().item<std::int64_t>());
      });
  const at::Tensor ids =
      at::tensor(std::vector<std::int64_t>(contrast.ids.begin(), contrast.ids.end()), at::kLong);
  std::fprintf(stderr, "clrp graph: %zu tokens, explaining position %lld\n", contrast.ids.size(),
               static_cast<long long>(contrast.position));
  const graph::Graph g =
      graph::build_graph(*m.decoder, ids, contrast.position, contrast.wrong, contrast.correct, go);

  std::optional<graph::InterventionTest> tested;
  if (opt.interventions > 0) {
    const std::vector<std::int64_t> id_list(contrast.ids.begin(), contrast.ids.end());
    tested = graph::test_interventions(
        g, id_list, lrp::whole_model_delta_of(*m.decoder, contrast.wrong, contrast.correct),
        {.nodes = opt.interventions});
  }

  graph::GraphContext ctx;
  ctx.model = m.checkpoint.path();
  ctx.prompt = contrast.rendered.text + contrast.prefix;
  ctx.ids = contrast.ids;
  for (auto id : contrast.ids)
    ctx.tokens.push_back(m.tokenizer->token_string(id));
  ctx.wrong_token = m.tokenizer->token_string(contrast.wrong);
  ctx.correct_token = m.tokenizer->token_string(contrast.correct);
  ctx.wrong_id = contrast.wrong;
  ctx.correct_id = contrast.correct;
  const at::Tensor probs = at::softmax(g.logits, -1);
  ctx.wrong_prob = probs[contrast.wrong].item<double>();
  ctx.correct_prob = probs[contrast.correct].item<double>();
  ctx.slug = contrast.the_case ? contrast.the_case->id : "clrp-graph";
  const graph::GraphSummary summary = graph::summarize(g);
  if (summary.edges == 0)
    std::fprintf(stderr,
                 "clrp graph: note: no edge between hidden states survived pruning; the graph "
                 "is the target and its last-layer state alone (lower --node-threshold, raise "
                 "--mass or lower --edge-threshold)\n");
  if (opt.json_out || opt.html_out) {
    nlohmann::json j = graph::graph_json(g, ctx);
    if (contrast.shared_tokens > 0)
      j["clrp"]["shared_prefix"] = {{"text", contrast.prefix}, {"tokens", contrast.shared_tokens}};
    if (tested) j["clrp"]["interventions"] = intervention_json(g, *tested);
    if (contrast.the_case)
      j["clrp"]["case"] = {{"id", contrast.the_case->id},
                           {"benchmark", contrast.the_case->benchmark},
                           {"prefix", contrast.prefix}};
    if (opt.json_out) write_file(*opt.json_out, j.dump() + "\n");
    if (opt.html_out) write_file(*opt.html_out, report::render_graph_html(j));
  }
  std::printf(
      "Δℓ = logit(%s) − logit(%s) = %.4f   rule %s\n"
      "graph: %lld nodes, %lld edges over %zu node layers × %lld tokens in %.1f s (%s)\n"
      "final relevance: first token %.1f%%, other tokens %.1f%%, self bias %.1f%%\n",
      nlohmann::json(ctx.wrong_token).dump().c_str(),
      nlohmann::json(ctx.correct_token).dump().c_str(), g.target, lrp::to_string(g.rule),
      static_cast<long long>(summary.nodes), static_cast<long long>(summary.edges), g.layers.size(),
      static_cast<long long>(g.tokens), g.seconds, g.plan.describe().c_str(),
      100 * summary.first_token_share, 100 * summary.other_tokens_share,
      100 * summary.self_bias_share);
  if (tested)
    std::printf(
        "interventions: %zu nodes zeroed one at a time, measured vs predicted change of Δℓ: "
        "r = %.3f; the kept graph traces %.1f%% of Δℓ to the tokens (%.1f s)\n",
        tested->nodes.size(), tested->correlation, 100 * tested->kept_share, tested->seconds);
}

}  // namespace

void register_graph(CLI::App& app) {
  auto opt = std::make_shared<GraphCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "graph",
      "Cross-layer attribution graph of logit(wrong) - logit(correct) over hidden states "
      "(circuit-tracer JSON, HTML)");
  add_model_options(cmd, opt->model_options);
  add_contrast_options(cmd, opt->contrast);
  add_rule_option(cmd, opt->rule);
  cmd->add_option("--max-memory", opt->max_memory,
                  "Memory budget above the model's weights (e.g. 4G); the plan must fit it");
  cmd->add_option("--mass", opt->mass,
                  "Per transition, keep the smallest edge set holding this share of the "
                  "absolute edge mass (default 0.85)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--edge-threshold", opt->edge_threshold,
                  "Keep edges with |weight| above this instead of the mass rule")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--node-threshold", opt->node_threshold,
                  "Nodes with |relevance| below this get no edges and are dropped (default 0.01)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--method", opt->method,
                  "structured (closed-form attention, diagonal MLP edges; default) or packed "
                  "(one backward per --batch targets, the reference study's method)")
      ->check(CLI::IsMember({"structured", "packed"}));
  cmd->add_option("--batch", opt->batch, "Targets per backward pass with --method packed")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--block", opt->block,
                  "Target rows per attention block (default: chosen to fit --max-memory)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--interventions", opt->interventions,
                  "Test the graph against the model: zero the N kept nodes of largest relevance "
                  "one at a time in the real forward and correlate the change of the difference "
                  "with the graph's prediction (docs/graphs.md)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--json", opt->json_out, "Write the graph (circuit-tracer format) to this file");
  cmd->add_option("--html", opt->html_out, "Write a standalone HTML view to this file");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
