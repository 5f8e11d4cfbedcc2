#include "clrp/app/cli_options.hpp"

#include <CLI/CLI.hpp>

#include "clrp/lrp/rules.hpp"

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

}  // namespace clrp::app
