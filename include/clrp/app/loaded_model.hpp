// A model ready to run for a command: the CLI's model options through the one
// loader (model::load), and what the commands do with its tokenizer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clrp/app/cli_options.hpp"
#include "clrp/model/load.hpp"

namespace clrp::app {

using model::LoadedModel;

/// Loads the whole model (path resolved with resolve_model_path) on the
/// asked device and dtype; the names are checked before any file is read.
LoadedModel load_model(const ModelOptions& options);

/// A prompt as the tokenizer sees it: the chat template applied when asked.
struct PromptText {
  std::string text;
  bool add_special_tokens = true;  ///< false when the template writes its own special tokens
};
PromptText render_prompt(const LoadedModel& m, const std::string& prompt,
                         const std::optional<text::ChatSettings>& chat);

/// The tokens of `continuation` after the prompt whose tokens are `ids`: those
/// of tokens(prompt + continuation) past the prompt's when the prompt's tokens
/// are a prefix of them, else (a merge across the seam) the continuation's own.
/// Throws clrp::Error when the continuation tokenises to nothing.
std::vector<std::int32_t> continuation_tokens(const LoadedModel& m,
                                              const std::vector<std::int32_t>& ids,
                                              const PromptText& rendered,
                                              const std::string& continuation);

/// The token ids of a prompt as the model sees it: through the model's chat
/// template when `chat` is given. Throws clrp::Error for an empty prompt
/// or one longer than the model's context.
std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const std::string& prompt,
                                     const std::optional<text::ChatSettings>& chat);
/// Same, for a prompt already rendered with render_prompt.
std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const PromptText& rendered);

}  // namespace clrp::app
