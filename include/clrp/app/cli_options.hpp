// Options shared by several subcommands, declared once so that their names
// and help texts stay the same everywhere.
#pragma once

#include <optional>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace clrp::app {

/// `--model PATH`: a Hugging Face model directory or a .gguf file; unset means
/// the embedded default model (resolve_model_path).
CLI::Option* add_model_option(CLI::App* cmd, std::optional<std::string>& model);

}  // namespace clrp::app
