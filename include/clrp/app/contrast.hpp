// What `explain` and `graph` explain: a contrast of two tokens at the end of a
// token sequence, given either as --prompt/--correct[/--wrong] or as a case
// with its pair (--cases FILE --id ID, written by `clrp evaluate --failures`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "clrp/app/loaded_model.hpp"
#include "clrp/cases/case.hpp"

namespace CLI {
class App;
}

namespace clrp::app {

struct ContrastOptions {
  std::string prompt, correct;
  std::optional<std::string> wrong;
  ChatOptions chat;
  std::optional<std::string> cases, id;
};

/// --prompt, --correct, --wrong, the chat options (--chat, ...), --cases, --id.
void add_contrast_options(CLI::App* cmd, ContrastOptions& options);

struct Contrast {
  std::vector<std::int32_t> ids;  ///< tokens(rendered prompt + the pair's prefix)
  std::int32_t wrong = 0, correct = 0;
  std::int64_t position = 0;  ///< the last token: the logits there are contrasted
  PromptText rendered;
  /// The answer so far, read after the prompt: a case pair's prefix, or (for
  /// --prompt) the tokens the correct and the wrong answer both start with.
  std::string prefix;
  std::size_t shared_tokens = 0;  ///< --prompt: how many tokens the answers share
  std::optional<cases::Case> the_case;
};

/// Resolves the options into token ids and the two token ids. With --prompt
/// the contrast is at the first token where the two answers differ (" 5" and
/// " 7" share " " under digit-splitting tokenizers): the shared tokens are
/// appended to the prompt. Without --wrong the wrong answer is the model's
/// own: `top1(ids)` is asked for its next token after each shared one.
Contrast resolve_contrast(
    const LoadedModel& m, const ContrastOptions& options,
    const std::function<std::int32_t(const std::vector<std::int32_t>&)>& top1);

}  // namespace clrp::app
