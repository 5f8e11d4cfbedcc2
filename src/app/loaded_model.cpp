#include "clrp/app/loaded_model.hpp"

#include <algorithm>

#include "clrp/app/model_path.hpp"
#include "clrp/eval/prompt_state.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

LoadedModel load_model(const ModelOptions& options) {
  model::LoadOptions load;
  load.compute = {model::parse_compute_device(options.device),
                  model::parse_compute_dtype(options.dtype)};
  return model::load(resolve_model_path(options.model), load);
}

PromptText render_prompt(const LoadedModel& m, const std::string& prompt,
                         const std::optional<text::ChatSettings>& chat) {
  const eval::RenderedPrompt r = eval::render_prompt(m, prompt, chat);
  return {r.text, r.add_special_tokens};
}

std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const std::string& prompt,
                                     const std::optional<text::ChatSettings>& chat) {
  return prompt_ids(m, render_prompt(m, prompt, chat));
}

std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const PromptText& rendered) {
  const std::vector<std::int32_t> ids =
      m.tokenizer->encode(rendered.text, rendered.add_special_tokens);
  if (ids.empty()) throw Error("the prompt tokenises to no tokens");
  const auto context = m.checkpoint.config().max_position_embeddings;
  if (static_cast<std::int64_t>(ids.size()) > context)
    throw Error("the prompt is " + std::to_string(ids.size()) +
                " tokens, longer than the model's context of " + std::to_string(context));
  return ids;
}

std::vector<std::int32_t> continuation_tokens(const LoadedModel& m,
                                              const std::vector<std::int32_t>& ids,
                                              const PromptText& rendered,
                                              const std::string& continuation) {
  if (continuation.empty()) throw Error("the continuation is empty");
  // Tokenised in context, a continuation may merge differently than alone (a
  // leading space, a word split): in context when the prompt's tokens stay a
  // prefix, else alone.
  const auto whole = m.tokenizer->encode(rendered.text + continuation, rendered.add_special_tokens);
  if (whole.size() > ids.size() && std::equal(ids.begin(), ids.end(), whole.begin()))
    return {whole.begin() + static_cast<std::ptrdiff_t>(ids.size()), whole.end()};
  auto alone = m.tokenizer->encode(continuation, /*add_special_tokens=*/false);
  if (alone.empty()) throw Error("the continuation '" + continuation + "' tokenises to no tokens");
  return alone;
}

}  // namespace clrp::app
