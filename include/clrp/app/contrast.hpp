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
  bool chat = false;
  std::optional<std::string> cases, id;
};

/// --prompt, --correct, --wrong, --chat, --cases, --id.
void add_contrast_options(CLI::App* cmd, ContrastOptions& options);

struct Contrast {
  std::vector<std::int32_t> ids;  ///< tokens(rendered prompt + the pair's prefix)
  std::int32_t wrong = 0, correct = 0;
  std::int64_t position = 0;  ///< the last token: the logits there are contrasted
  PromptText rendered;
  std::string prefix;  ///< the pair's answer-so-far (empty for --prompt)
  std::optional<cases::Case> the_case;
};

/// Resolves the options into token ids and the two token ids. `top1(ids)` is
/// asked for the model's own next token when no wrong answer is given.
Contrast resolve_contrast(
    const LoadedModel& m, const ContrastOptions& options,
    const std::function<std::int32_t(const std::vector<std::int32_t>&)>& top1);

}  // namespace clrp::app
