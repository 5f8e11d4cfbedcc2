// Chat templates, recognised rather than interpreted.
//
// A model's chat template is a Jinja program (GGUF `tokenizer.chat_template`,
// or `chat_template` in a Hugging Face tokenizer_config.json /
// chat_template.jinja). clrp embeds no Jinja engine: it compares the template,
// after normalising whitespace inside the tags the way Jinja parses them
// (trim_blocks and lstrip_blocks on, as transformers compiles templates), with
// the templates it knows, and renders those in C++ exactly as
// `tokenizer.apply_chat_template(messages, tokenize=False,
// add_generation_prompt=...)` does. Known:
//   - "chatml-default-system": ChatML that inserts a default system message
//     when the conversation has none (SmolLM2-Instruct; the message text is
//     read from the template);
//   - "chatml": plain ChatML;
//   - "llama3": Meta-Llama-3-Instruct's template (bos, header ids, trimmed content);
//   - "gemma3": Gemma 3's template (bos, then <start_of_turn>user\n...<end_of_turn>\n
//     turns with trimmed content, "assistant" called "model", a system message
//     put in front of the first user message; roles must alternate). The
//     published separator after the system message is "\n\n"; GGUF copies
//     with "\n" are recognised too.
// Anything else is a clrp::Error naming where the template came from.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "clrp/util/error.hpp"

namespace clrp::io {
class GgufFile;
}

namespace clrp::text {

struct ChatMessage {
  std::string role;  ///< "system", "user", "assistant"
  std::string content;
};

class ChatTemplate {
 public:
  /// Recognises the Jinja `source`; `where` names its origin in errors.
  /// `bos_token` is the text of the model's bos token (used by "llama3" and
  /// "gemma3"; the rendered prompt holds it as text, which encoding without
  /// special tokens turns into the bos id, as apply_chat_template does).
  static ChatTemplate recognise(std::string_view source, const Where& where,
                                std::string bos_token = {});

  /// The prompt for `messages` (add_generation_prompt opens the assistant's turn).
  std::string render(std::span<const ChatMessage> messages,
                     bool add_generation_prompt = true) const;
  /// The prompt for one user message, assistant turn opened.
  std::string render_user_prompt(std::string_view user_message) const;

  /// "chatml-default-system", "chatml", "llama3" or "gemma3".
  const std::string& name() const { return name_; }
  /// The system message inserted when none is given (empty when the template has none).
  const std::string& default_system() const { return default_system_; }

 private:
  ChatTemplate() = default;
  std::string render_gemma3(std::span<const ChatMessage> messages,
                            bool add_generation_prompt) const;
  std::string name_;
  std::string default_system_;
  std::string system_separator_;  ///< "gemma3": written after the system message
  std::string bos_token_;
};

/// The chat template of a model: a .gguf file's `tokenizer.chat_template`, or a
/// Hugging Face directory's tokenizer_config.json `chat_template` (string, or
/// the entry named "default"), chat_template.jinja or chat_template.json.
ChatTemplate load_chat_template(const std::string& model_path);
ChatTemplate load_chat_template(const io::GgufFile& gguf);

/// The template text the way Jinja (trim_blocks, lstrip_blocks) parses it,
/// whitespace inside tags dropped and string literals re-quoted; exposed for tests.
std::string canonical_jinja(std::string_view source);

}  // namespace clrp::text
