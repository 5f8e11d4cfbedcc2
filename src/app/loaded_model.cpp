#include "clrp/app/loaded_model.hpp"

#include "clrp/app/model_path.hpp"
#include "clrp/text/chat_template.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

LoadedModel load_model(const std::optional<std::string>& path) {
  const std::string resolved = resolve_model_path(path);
  LoadedModel m{model::Checkpoint::open(resolved), nullptr, nullptr};
  m.tokenizer = m.checkpoint.gguf() != nullptr ? text::Tokenizer::from_gguf(*m.checkpoint.gguf())
                                               : text::load_tokenizer(resolved);
  if (m.tokenizer->vocab_size() > m.checkpoint.config().vocab_size)
    throw Error(Where{m.tokenizer->source()}, "tokenizer has " +
                                                  std::to_string(m.tokenizer->vocab_size()) +
                                                  " tokens but the model's embedding only " +
                                                  std::to_string(m.checkpoint.config().vocab_size));
  m.decoder = std::make_unique<model::DecoderModel>(m.checkpoint);
  return m;
}

std::vector<std::int32_t> prompt_ids(const LoadedModel& m, const std::string& prompt, bool chat) {
  if (prompt.empty()) throw Error("the prompt is empty");
  std::vector<std::int32_t> ids;
  if (chat) {
    const auto tmpl = m.checkpoint.gguf() != nullptr
                          ? text::load_chat_template(*m.checkpoint.gguf())
                          : text::load_chat_template(m.checkpoint.path());
    // The rendered template carries its own special tokens (bos where it wants one).
    ids = m.tokenizer->encode(tmpl.render_user_prompt(prompt), /*add_special_tokens=*/false);
  } else {
    ids = m.tokenizer->encode(prompt);
  }
  if (ids.empty()) throw Error("the prompt tokenises to no tokens");
  const auto context = m.checkpoint.config().max_position_embeddings;
  if (static_cast<std::int64_t>(ids.size()) > context)
    throw Error("the prompt is " + std::to_string(ids.size()) +
                " tokens, longer than the model's context of " + std::to_string(context));
  return ids;
}

}  // namespace clrp::app
