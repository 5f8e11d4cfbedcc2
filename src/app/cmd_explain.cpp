// clrp explain: contrastive relevance of Δℓ = logit(wrong) − logit(correct)
// at the first token of the answer, back to the prompt tokens and layers.
#include <ATen/ATen.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "clrp/app/commands.hpp"
#include "clrp/app/loaded_model.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

namespace {

struct ExplainOptions {
  std::optional<std::string> model;
  std::string prompt, correct;
  std::optional<std::string> wrong;
  std::string rule = "attnlrp";
  bool chat = false;
  std::optional<std::string> json_out;
};

// The first token of an answer continuation, tokenised after the prompt (so
// that a leading space merges as it would in generation).
std::int32_t first_answer_token(const LoadedModel& m, const std::vector<std::int32_t>& prompt,
                                const std::string& prompt_text, const std::string& answer,
                                const char* flag) {
  if (answer.empty()) throw Error(std::string(flag) + " is empty");
  const auto whole = m.tokenizer->encode(prompt_text + answer, /*add_special_tokens=*/false);
  const auto alone = m.tokenizer->encode(answer, /*add_special_tokens=*/false);
  (void)prompt;
  if (alone.empty()) throw Error(std::string(flag) + " '" + answer + "' tokenises to nothing");
  return alone.front();
  (void)whole;
}

std::vector<float> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

void run(const ExplainOptions& opt) {
  const lrp::Rule rule = lrp::parse_rule(opt.rule);
  const LoadedModel m = load_model(opt.model);
  const std::vector<std::int32_t> ids = prompt_ids(m, opt.prompt, opt.chat);
  const std::int64_t vocab = m.checkpoint.config().vocab_size;
  const at::Tensor input = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong);
  const std::int32_t correct = first_answer_token(m, ids, opt.prompt, opt.correct, "--correct");
  std::int32_t wrong;
  if (opt.wrong) {
    wrong = first_answer_token(m, ids, opt.prompt, *opt.wrong, "--wrong");
  } else {
    const at::Tensor logits = m.decoder->forward(input.unsqueeze(0))[0][-1];
    wrong = static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
  }
  if (wrong == correct)
    throw Error("the correct and the wrong answer start with the same token ('" +
                m.tokenizer->token_string(wrong) + "'); there is nothing to contrast");
  const std::int64_t position = static_cast<std::int64_t>(ids.size()) - 1;
  const lrp::Engine engine(*m.decoder);
  const auto ex = engine.explain(input, {lrp::Seed::contrastive(position, wrong, correct, vocab)},
                                 rule, lrp::RecordOptions{.residual = true, .heads = false});
  const double target = ex.target[0].item<double>();
  const double total = ex.token_relevance[0].sum().item<double>();

  nlohmann::json j;
  j["ids"] = ids;
  std::vector<std::string> tokens;
  for (auto id : ids)
    tokens.push_back(m.tokenizer->token_string(id));
  j["tokens"] = tokens;
  j["token_relevance"] = to_vector(ex.token_relevance[0]);
  j["wrong"] = {{"id", wrong},
                {"token", m.tokenizer->token_string(wrong)},
                {"logit", ex.logits[0][wrong].item<float>()}};
  j["correct"] = {{"id", correct},
                  {"token", m.tokenizer->token_string(correct)},
                  {"logit", ex.logits[0][correct].item<float>()}};
  j["target"] = target;
  j["rule"] = lrp::to_string(rule);
  j["conservation"] = target != 0 ? (total - target) / std::abs(target) : total;
  nlohmann::json layers = nlohmann::json::array(), mids = nlohmann::json::array();
  for (std::int64_t l = 0; l < ex.layer_relevance.size(1); ++l) {
    layers.push_back(to_vector(ex.layer_relevance[0][l]));
    mids.push_back(to_vector(ex.mid_relevance[0][l]));
  }
  j["layer_relevance"] = layers;
  j["mid_relevance"] = mids;
  if (opt.json_out) {
    std::ofstream f(*opt.json_out);
    if (!f) throw Error(Where{*opt.json_out}, "cannot write");
    f << j.dump() << "\n";
  }
  std::printf(
      "Δℓ = logit(%s) − logit(%s) = %.4f   rule %s   input-level sum %.4f (relative error %.2e)\n",
      nlohmann::json(m.tokenizer->token_string(wrong)).dump().c_str(),
      nlohmann::json(m.tokenizer->token_string(correct)).dump().c_str(), target,
      lrp::to_string(rule), total, j["conservation"].get<double>());
}

}  // namespace

void register_explain(CLI::App& app) {
  auto opt = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand("explain",
                                     "Contrastive LRP: relevance of logit(wrong) - logit(correct) "
                                     "for the prompt's tokens and layers");
  cmd->add_option(
      "--model", opt->model,
      "Hugging Face model directory or .gguf file (default: the embedded SmolLM2-135M-Instruct)");
  cmd->add_option("--prompt", opt->prompt, "The prompt text")->required();
  cmd->add_option("--correct", opt->correct,
                  "A correct continuation; the contrast is at its first token")
      ->required();
  cmd->add_option("--wrong", opt->wrong,
                  "The wrong continuation (default: the model's own top-1 token)");
  cmd->add_option("--rule", opt->rule, "attnlrp, cp-lrp or grad-x-input")
      ->check(CLI::IsMember({"attnlrp", "cp-lrp", "grad-x-input"}));
  cmd->add_flag("--chat", opt->chat,
                "Wrap the prompt in the model's chat template (one user turn)");
  cmd->add_option("--json", opt->json_out, "Write the explanation as JSON to this file");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace clrp::app
