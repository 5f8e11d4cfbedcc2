// clrp model-info: what a model file holds, as clrp reads it.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/model_path.hpp"
#include "clrp/model/load.hpp"

namespace clrp::app {

namespace {

struct ModelInfoOptions {
  std::optional<std::string> model;
  bool json = false;
};

nlohmann::json describe(const model::Checkpoint& ck) {
  const model::ModelConfig& c = ck.config();
  nlohmann::json j;
  j["path"] = ck.path();
  j["format"] = ck.format() == model::CheckpointFormat::Gguf ? "gguf" : "huggingface";
  j["family"] = model::to_string(c.family);
  j["layers"] = c.num_layers;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["heads"] = c.num_heads;
  j["kv_heads"] = c.num_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["parameters"] = c.parameter_count();
  j["storage_dtypes"] = ck.storage_types();
  j["compute_dtype"] = "float32";
  j["files"] = ck.files();
  j["switches"] = {
      {"norm", model::to_string(c.norm)},
      {"norm_eps", c.norm_eps},
      {"activation", model::to_string(c.activation)},
      {"gated_mlp", c.gated_mlp},
      {"attention_bias", c.attention_bias},
      {"mlp_bias", c.mlp_bias},
      {"positions", c.positions == model::PositionKind::Rotary ? "rotary" : "learned"},
      {"rope_theta", c.rope_theta},
      {"rotary_dim", c.positions == model::PositionKind::Rotary ? c.rotary_dim() : 0},
      {"rope_scaling", model::to_string(c.rope_scaling.kind)},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"residual", model::to_string(c.residual)},
      {"attn_pre_norm", c.attn_pre_norm},
      {"attn_post_norm", c.attn_post_norm},
      {"mlp_pre_norm", c.mlp_pre_norm},
      {"mlp_post_norm", c.mlp_post_norm},
      {"qk_norm", model::to_string(c.qk_norm)},
      {"norm_weight_offset", c.norm_weight_offset},
      {"embedding_scale", c.embedding_scale},
      {"attention_scale", c.attention_scale_or_default()},
      {"attention_out_bias", c.attention_out_bias},
  };
  if (!c.layer_window.empty()) {
    j["switches"]["layer_window"] = c.layer_window;
    std::vector<std::string> ropes;
    for (std::int64_t i = 0; i < c.num_layers; ++i)
      ropes.emplace_back(c.rope_of(i) == model::LayerRope::Local ? "local" : "global");
    j["switches"]["layer_rope"] = ropes;
    j["switches"]["local_rope_theta"] = c.local_rope_theta;
  }
  return j;
}

void run(const ModelInfoOptions& opt) {
  const auto m = model::load(resolve_model_path(opt.model), {.parts = model::Parts::Config});
  const nlohmann::json j = describe(m.checkpoint);
  if (opt.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "model       " << j["path"].get<std::string>() << " ("
            << j["format"].get<std::string>() << ")\n"
            << "family      " << j["family"].get<std::string>() << "\n"
            << "layers      " << j["layers"] << ", hidden " << j["hidden_size"] << ", MLP "
            << j["intermediate_size"] << "\n"
            << "heads       " << j["heads"] << " query, " << j["kv_heads"]
            << " key/value, head dim " << j["head_dim"] << "\n"
            << "vocabulary  " << j["vocab_size"] << ", context " << j["max_position_embeddings"]
            << "\n"
            << "parameters  " << j["parameters"] << "\n"
            << "storage     ";
  for (const auto& d : j["storage_dtypes"])
    std::cout << d.get<std::string>() << " ";
  std::cout << "-> compute float32\n";
  for (const auto& [k, v] : j["switches"].items())
    std::cout << "  " << k << " = " << v.dump() << "\n";
  std::cout << "files\n";
  for (const auto& f : j["files"])
    std::cout << "  " << f.get<std::string>() << "\n";
}

}  // namespace

void register_model_info(CLI::App& app) {
  auto opt = std::make_shared<ModelInfoOptions>();
  CLI::App* cmd =
      app.add_subcommand("model-info", "Show a model's family, shapes, switches, dtypes and files");
  add_model_option(cmd, opt->model);
  cmd->add_flag("--json", opt->json, "Print JSON instead of text");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
