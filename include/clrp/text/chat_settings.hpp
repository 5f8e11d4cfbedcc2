// How a prompt goes through a model's chat template: the conversation around
// it and the template's switches. A value type with no dependency on the
// template engine, so that case files (a pair found under a template) and
// campaign specs can carry it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "clrp/util/error.hpp"

namespace clrp::text {

/// How a prompt goes through a chat template: the conversation around it and
/// the template's switches. Recorded with every pair found under a template,
/// so that explaining it renders the same tokens again.
struct ChatSettings {
  /// A system message before the user's; nullopt: none (the template may add its own).
  std::optional<std::string> system;
  /// Template variables, e.g. {"enable_thinking": false} (Qwen3). A name the
  /// template never reads is an error, not silently ignored.
  nlohmann::json options = nlohmann::json::object();
  /// Which of a model's named templates; empty: the default one.
  std::string template_name;
  /// An option the template never reads is an error (a typed --chat-option),
  /// or is left out (settings from a pair or a campaign spec, which apply to
  /// several models' templates, each reading its own; not stored).
  bool strict_options = true;

  /// {"system"?, "options"?, "template"?}: only what differs from the defaults.
  nlohmann::json to_json() const;
  /// The inverse of to_json() (strict_options off); clrp::Error at `where`
  /// (plus the field) when malformed.
  static ChatSettings from_json(const nlohmann::json& j, const Where& where);
  /// Equal settings render equal prompts (strict_options aside).
  bool operator==(const ChatSettings& o) const {
    return system == o.system && options == o.options && template_name == o.template_name;
  }
};

/// Parses "KEY=VALUE" (a --chat-option): VALUE as JSON when it is JSON (true,
/// false, 3, "text", [..]), else as the string itself. clrp::Error naming the
/// argument when there is no '=' or the key is empty.
void add_chat_option(nlohmann::json& options, std::string_view key_value);

}  // namespace clrp::text
