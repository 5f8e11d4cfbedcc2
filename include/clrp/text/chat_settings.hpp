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

  /// {"system"?, "options"?, "template"?}: only what differs from the defaults.
  nlohmann::json to_json() const;
  /// The inverse of to_json(); clrp::Error at `where` (plus the field) when malformed.
  static ChatSettings from_json(const nlohmann::json& j, const Where& where);
  bool operator==(const ChatSettings&) const = default;
};

/// Parses "KEY=VALUE" (a --chat-option): VALUE as JSON when it is JSON (true,
/// false, 3, "text", [..]), else as the string itself. clrp::Error naming the
/// argument when there is no '=' or the key is empty.
void add_chat_option(nlohmann::json& options, std::string_view key_value);

}  // namespace clrp::text
