// Options shared by several subcommands, declared once so that their names
// and help texts stay the same everywhere.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "clrp/text/chat_template.hpp"

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

/// How prompts go through the model's chat template, as given on the command line.
struct ChatOptions {
  bool chat = false;
  std::optional<std::string> system;
  std::vector<std::string> options;  ///< "KEY=VALUE", as typed
  std::string template_name;
  /// nullopt without --chat; clrp::Error for a malformed --chat-option, or
  /// for --system / --chat-option / --chat-template given without --chat.
  std::optional<text::ChatSettings> settings() const;
};

/// `--chat`, `--system TEXT`, `--chat-option KEY=VALUE` (repeatable) and
/// `--chat-template NAME`, for the commands that read prompts.
void add_chat_options(CLI::App* cmd, ChatOptions& options);

}  // namespace clrp::app
