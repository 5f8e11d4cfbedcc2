#include "clrp/app/cli_options.hpp"

#include <CLI/CLI.hpp>

namespace clrp::app {

CLI::Option* add_model_option(CLI::App* cmd, std::optional<std::string>& model) {
  return cmd->add_option("--model", model,
                         "Hugging Face model directory or .gguf file (default: the embedded "
                         "SmolLM2-135M-Instruct)");
}

}  // namespace clrp::app
