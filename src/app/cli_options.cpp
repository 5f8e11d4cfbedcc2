#include "clrp/app/cli_options.hpp"

#include <CLI/CLI.hpp>

#include "clrp/lrp/rules.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

CLI::Option* add_model_option(CLI::App* cmd, std::optional<std::string>& model) {
  return cmd->add_option("--model", model,
                         "Hugging Face model directory or .gguf file (default: the embedded "
                         "SmolLM2-135M-Instruct)");
}

void add_model_options(CLI::App* cmd, ModelOptions& options) {
  add_model_option(cmd, options.model);
  cmd->add_option("--device", options.device, "Where to compute: cpu, cuda or cuda:N")
      ->capture_default_str();
  cmd->add_option("--dtype", options.dtype,
                  "Compute precision: float32, or bfloat16 (faster, less exact; see "
                  "docs/performance.md for the tolerance it reaches)")
      ->capture_default_str();
}

CLI::Option* add_rule_option(CLI::App* cmd, std::string& rule) {
  std::string help = "Rule set, one of:";
  for (const lrp::Rule r : lrp::all_rules()) {
    const lrp::RuleDescription& d = lrp::describe(r);
    help += "\n  " + d.name + (d.name == rule ? " (default)" : "") + ": " + d.summary;
  }
  return cmd->add_option("--rule", rule, help)->check(CLI::IsMember(lrp::rule_names()));
}

std::optional<text::ChatSettings> ChatOptions::settings() const {
  if (!chat) {
    if (system || !options.empty() || !template_name.empty())
      throw Error(
          "--system, --chat-option and --chat-template apply to the chat template; add --chat");
    return std::nullopt;
  }
  text::ChatSettings s;
  s.system = system;
  for (const std::string& kv : options)
    text::add_chat_option(s.options, kv);
  s.template_name = template_name;
  return s;
}

void add_chat_options(CLI::App* cmd, ChatOptions& options) {
  cmd->add_flag("--chat", options.chat,
                "Read the prompt as one user message through the model's own chat template "
                "(rendered by Jinja2 as transformers' apply_chat_template does, assistant turn "
                "opened)");
  cmd->add_option("--system", options.system, "With --chat: a system message before the prompt");
  cmd->add_option("--chat-option", options.options,
                  "With --chat: a template variable KEY=VALUE, VALUE read as JSON when it is "
                  "JSON (e.g. enable_thinking=false for Qwen3); repeatable. A KEY the template "
                  "does not read is an error")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--chat-template", options.template_name,
                  "With --chat: which of the model's named chat templates (default: 'default')")
      ->type_name("NAME");
}

}  // namespace clrp::app
