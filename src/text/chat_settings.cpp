#include "clrp/text/chat_settings.hpp"

namespace clrp::text {

using nlohmann::json;

json ChatSettings::to_json() const {
  json j = json::object();
  if (system) j["system"] = *system;
  if (!options.empty()) j["options"] = options;
  if (!template_name.empty()) j["template"] = template_name;
  return j;
}

ChatSettings ChatSettings::from_json(const json& j, const Where& where) {
  const auto at = [&where](const std::string& field) {
    Where w = where;
    w.field = w.field.empty() ? field : w.field + "." + field;
    return w;
  };
  if (!j.is_object()) throw Error(where, "expected an object {system, options, template}");
  ChatSettings s;
  s.strict_options = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "system") {
      if (!value.is_string()) throw Error(at(key), "expected a string");
      s.system = value.get<std::string>();
    } else if (key == "options") {
      if (!value.is_object()) throw Error(at(key), "expected an object of template variables");
      s.options = value;
    } else if (key == "template") {
      if (!value.is_string()) throw Error(at(key), "expected a template name");
      s.template_name = value.get<std::string>();
    } else {
      throw Error(at(key), "unknown field (known: system, options, template)");
    }
  }
  return s;
}

void add_chat_option(json& options, std::string_view key_value) {
  const auto eq = key_value.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw Error("--chat-option '" + std::string(key_value) +
                "': expected KEY=VALUE, e.g. enable_thinking=false");
  const std::string key(key_value.substr(0, eq));
  const std::string value(key_value.substr(eq + 1));
  json parsed = json::parse(value, nullptr, /*allow_exceptions=*/false);
  options[key] = parsed.is_discarded() ? json(value) : std::move(parsed);
}

}  // namespace clrp::text
