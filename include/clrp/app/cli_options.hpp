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

/// Which model to run, where and in which precision.
struct ModelOptions {
  std::optional<std::string> model;
  std::string device = "cpu";     ///< cpu, cuda, cuda:N
  std::string dtype = "float32";  ///< float32 or bfloat16
};

/// `--model`, `--device` and `--dtype`, for the commands that run a model.
void add_model_options(CLI::App* cmd, ModelOptions& options);

/// `--rule NAME`: one of the table of rules (lrp/rules.hpp), each named and
/// summarised in the help text; `rule` holds the default (AttnLRP's name).
CLI::Option* add_rule_option(CLI::App* cmd, std::string& rule);

}  // namespace clrp::app
