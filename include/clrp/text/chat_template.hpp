// A model's chat template, found where transformers finds it and rendered the
// way `tokenizer.apply_chat_template(messages, tokenize=False,
// add_generation_prompt=True, **options)` renders it.
//
// A chat template is a Jinja program. clrp does not interpret it in C++: it
// hands it to Jinja2, the engine transformers uses, configured as transformers
// configures it (src/text/jinja_service.py; docs/architecture.md says why).
// What transformers adds around the engine is here: which file the template
// comes from, which of several named templates is used, and the variables the
// template sees — the messages, add_generation_prompt, the tokenizer's special
// tokens (bos_token, eos_token, ...) and the caller's switches.
//
// Where the template comes from (the first that exists):
//   - a .gguf file: `tokenizer.chat_template`, or `tokenizer.chat_template.NAME`;
//   - a Hugging Face folder: chat_template.jinja (and additional_chat_templates/
//     NAME.jinja), which transformers prefers to the tokenizer_config.json
//     field `chat_template` (a string, or a list of {name, template});
//     chat_template.json (a processor's template) last.
// Of several named templates the one called "default" is used unless a name
// is asked for.
//
// The rendered text holds the template's special tokens as text; encoding it
// without adding special tokens gives the ids apply_chat_template(tokenize=True)
// gives.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "clrp/text/chat_settings.hpp"
#include "clrp/util/error.hpp"

namespace clrp::io {
class GgufFile;
}

namespace clrp::text {

struct ChatMessage {
  std::string role;  ///< "system", "user", "assistant", or whatever the template knows
  std::string content;
};

class ChatTemplate {
 public:
  /// `source`: the Jinja text; `origin`: where it was read (errors name it);
  /// `special_tokens`: the variables transformers passes from the tokenizer's
  /// special tokens map (bos_token, eos_token, unk_token, pad_token, ...: name
  /// → text, or list of texts for additional_special_tokens); `name`: which
  /// named template this is ("default" when there is one).
  ChatTemplate(std::string source, Where origin, nlohmann::json special_tokens,
               std::string name = "default");

  /// The text for `messages`; add_generation_prompt opens the assistant's turn.
  /// clrp::Error naming the template's origin and line when the template does
  /// not parse, raises (a conversation it refuses), fails, or (with
  /// `strict_options`) does not read one of the options; without it such
  /// options are left out.
  std::string render(std::span<const ChatMessage> messages, const nlohmann::json& options,
                     bool add_generation_prompt = true, bool strict_options = true) const;
  /// The prompt for one user message: settings.system first when given, the
  /// assistant turn opened.
  std::string render_prompt(std::string_view user_message, const ChatSettings& settings) const;
  /// The variables the template reads (messages, bos_token, its switches...),
  /// sorted. clrp::Error when it does not parse.
  std::vector<std::string> variables() const;

  const std::string& source() const { return source_; }
  const Where& origin() const { return origin_; }
  const nlohmann::json& special_tokens() const { return special_tokens_; }
  const std::string& name() const { return name_; }

 private:
  std::string source_;
  Where origin_;
  nlohmann::json special_tokens_;
  std::string name_;
};

/// The chat template of a model: a .gguf file, or a Hugging Face folder (or a
/// file in one), as described above. `name` selects a named template (empty:
/// "default", or the only one). clrp::Error naming the files looked at when
/// there is none, or the names there are when `name` (or "default") is not one.
ChatTemplate load_chat_template(const std::string& model_path, std::string_view name = {});
ChatTemplate load_chat_template(const io::GgufFile& gguf, std::string_view name = {});

/// The Jinja engine in use, e.g. "jinja2 3.1.6 (/path/.venv/bin/python)" (starts it).
std::string chat_template_engine();

}  // namespace clrp::text
