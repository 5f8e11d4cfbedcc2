// clrp predict: the model's next-token distribution after a prompt.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

namespace {

struct PredictOptions {
  ModelOptions model_options;
  std::string prompt;
  int top_k = 5;
  ChatOptions chat;
  bool json = false;
};

void run(const PredictOptions& opt) {
  c10::InferenceMode inference_mode;
  const LoadedModel m = load_model(opt.model_options);
  const std::vector<std::int32_t> ids = prompt_ids(m, opt.prompt, opt.chat.settings());
  const at::Tensor input =
      at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
  const at::Tensor logits = m.decoder->forward(input)[0][-1];
  if (!at::isfinite(logits).all().item<bool>())
    throw Error(
        "non-finite values (NaN/Inf) in the model's logits: the weights overflow the activations");
  const at::Tensor probs = at::softmax(logits, -1);
  const auto k = std::min<std::int64_t>(opt.top_k, logits.size(0));
  const auto [top_logits, top_ids] = at::topk(logits, k);

  nlohmann::json j;
  j["ids"] = ids;
  j["top"] = nlohmann::json::array();
  for (std::int64_t i = 0; i < k; ++i) {
    const auto id = static_cast<std::int32_t>(top_ids[i].item<std::int64_t>());
    j["top"].push_back({{"id", id},
                        {"token", m.tokenizer->token_string(id)},
                        {"logit", top_logits[i].item<float>()},
                        {"prob", probs[id].item<float>()}});
  }
  if (opt.json) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << "prompt: " << ids.size() << " tokens\nnext token (top " << k << "):\n";
  for (const auto& t : j["top"]) {
    std::printf("  %6.2f%%  logit %8.3f  id %6d  %s\n", 100.0 * t["prob"].get<double>(),
                t["logit"].get<double>(), t["id"].get<int>(),
                nlohmann::json(t["token"]).dump().c_str());
  }
}

}  // namespace

void register_predict(CLI::App& app) {
  auto opt = std::make_shared<PredictOptions>();
  CLI::App* cmd =
      app.add_subcommand("predict", "Show the model's most likely next tokens after a prompt");
  add_model_options(cmd, opt->model_options);
  cmd->add_option("--prompt", opt->prompt, "The prompt text")->required();
  cmd->add_option("--top-k", opt->top_k, "How many candidates to show")->check(CLI::PositiveNumber);
  add_chat_options(cmd, opt->chat);
  cmd->add_flag("--json", opt->json,
                R"(Print {"ids": [...], "top": [{"id", "token", "logit", "prob"}, ...]})");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
