#include "clrp/text/chat_template.hpp"

#include <array>
#include <filesystem>
#include <map>
#include <utility>

#include "clrp/io/gguf.hpp"
#include "clrp/io/json.hpp"
#include "clrp/io/read_file.hpp"
#include "jinja_service.hpp"

namespace clrp::text {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The special-token attributes transformers passes to every template
// (PreTrainedTokenizerBase.SPECIAL_TOKENS_ATTRIBUTES), in its order.
constexpr std::array<const char*, 8> kSpecialTokenNames = {
    "bos_token", "eos_token", "unk_token",  "sep_token",
    "pad_token", "cls_token", "mask_token", "additional_special_tokens"};

// A token as tokenizer_config.json / special_tokens_map.json write it: a
// string, or an AddedToken object {"content": ...}.
std::optional<std::string> token_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object())
    if (const auto c = v.find("content"); c != v.end() && c->is_string())
      return c->get<std::string>();
  return std::nullopt;
}

// What transformers' special_tokens_map holds: attributes that are set and
// not empty (a list for additional_special_tokens).
void add_special_token(json& out, const std::string& name, const json& value) {
  if (name == "additional_special_tokens") {
    if (!value.is_array()) return;
    json list = json::array();
    for (const json& t : value)
      if (auto text = token_text(t)) list.push_back(*text);
    if (!list.empty())
      out[name] = std::move(list);
    else
      out.erase(name);
    return;
  }
  if (value.is_null()) {
    out.erase(name);
    return;
  }
  if (auto text = token_text(value); text && !text->empty()) out[name] = *text;
}

// tokenizer_config.json's special tokens; special_tokens_map.json fills them
// in only for a legacy folder whose config has no added_tokens_decoder (as
// transformers' from_pretrained reads them).
json folder_special_tokens(const fs::path& dir, const std::optional<json>& config) {
  json out = json::object();
  if (config && config->is_object())
    for (const char* name : kSpecialTokenNames)
      if (const auto it = config->find(name); it != config->end())
        add_special_token(out, name, *it);
  const bool legacy = !config || !config->is_object() || !config->contains("added_tokens_decoder");
  const fs::path map_file = dir / "special_tokens_map.json";
  if (legacy && io::regular_file_or_none(map_file.string())) {
    const json map = io::read_json_file(map_file.string());
    if (map.is_object())
      for (const char* name : kSpecialTokenNames)
        if (const auto it = map.find(name); it != map.end()) add_special_token(out, name, *it);
  }
  return out;
}

struct NamedSource {
  std::string text;
  Where where;
};
using NamedSources = std::map<std::string, NamedSource>;

// Picks `name` among named templates; empty: "default" (transformers'
// get_chat_template without tools).
const NamedSources::value_type& pick(const NamedSources& named, std::string_view name,
                                     const Where& where) {
  const std::string wanted(name.empty() ? "default" : name);
  if (const auto it = named.find(wanted); it != named.end()) return *it;
  std::string names;
  for (const auto& [n, _] : named)
    names += (names.empty() ? "" : ", ") + n;
  throw Error(where, name.empty() ? "the model has several chat templates and none is named "
                                    "'default'; choose one with --chat-template NAME (there are: " +
                                        names + ")"
                                  : "the model has no chat template named '" + excerpt(wanted) +
                                        "' (there are: " + names + ")");
}

// The template's failure, in words naming where it came from.
[[noreturn]] void fail(const Where& origin, const detail::JinjaReply& reply) {
  const std::string at = reply.line ? " (line " + std::to_string(*reply.line) + ")" : "";
  if (reply.kind == "syntax")
    throw Error(origin, "the chat template is not valid Jinja" + at + ": " + reply.error);
  if (reply.kind == "raised")
    throw Error(origin, "the chat template refused the conversation" + at + ": " + reply.error);
  if (reply.kind == "option")
    throw Error(origin, "a chat option the template does not know: " + reply.error);
  throw Error(origin, "the chat template failed" + at + ": " + reply.error);
}

ChatTemplate make(const NamedSources::value_type& chosen, json special_tokens) {
  return ChatTemplate(chosen.second.text, chosen.second.where, std::move(special_tokens),
                      chosen.first);
}

}  // namespace

ChatTemplate::ChatTemplate(std::string source, Where origin, json special_tokens, std::string name)
    : source_(std::move(source)),
      origin_(std::move(origin)),
      special_tokens_(std::move(special_tokens)),
      name_(std::move(name)) {}

std::string ChatTemplate::render(std::span<const ChatMessage> messages, const json& options,
                                 bool add_generation_prompt, bool strict_options) const {
  json list = json::array();
  for (const ChatMessage& m : messages)
    list.push_back({{"role", m.role}, {"content", m.content}});
  const json request = {{"template", source_},
                        {"messages", std::move(list)},
                        {"add_generation_prompt", add_generation_prompt},
                        {"special_tokens", special_tokens_},
                        {"options", options.is_null() ? json::object() : options},
                        {"unread_options", strict_options ? "error" : "ignore"}};
  const detail::JinjaReply reply = detail::JinjaService::instance().render(request);
  if (reply.text) return *reply.text;
  fail(origin_, reply);
}

std::string ChatTemplate::render_prompt(std::string_view user_message,
                                        const ChatSettings& settings) const {
  std::vector<ChatMessage> messages;
  if (settings.system) messages.push_back({"system", *settings.system});
  messages.push_back({"user", std::string(user_message)});
  return render(messages, settings.options, true, settings.strict_options);
}

std::vector<std::string> ChatTemplate::variables() const {
  const detail::JinjaReply reply =
      detail::JinjaService::instance().render({{"template", source_}, {"variables", true}});
  if (reply.reads) return *reply.reads;
  fail(origin_, reply);
}

ChatTemplate load_chat_template(const io::GgufFile& gguf, std::string_view name) {
  const std::string key = "tokenizer.chat_template";
  NamedSources named;
  if (auto source = gguf.get_string_opt(key))
    named["default"] = {std::move(*source), Where{gguf.path(), key, std::nullopt}};
  if (gguf.has("tokenizer.chat_templates"))
    for (const std::string& n : gguf.get_string_array("tokenizer.chat_templates")) {
      const std::string named_key = key + '.' + n;
      if (auto source = gguf.get_string_opt(named_key))
        named[n] = {std::move(*source), Where{gguf.path(), named_key, std::nullopt}};
    }
  if (named.empty())
    throw Error(Where{gguf.path(), key, std::nullopt}, "the model has no chat template");
  const auto& chosen = pick(named, name, Where{gguf.path(), key, std::nullopt});

  // The special tokens transformers sets from a GGUF (integrations/ggml.py).
  json special = json::object();
  const auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const std::pair<const char*, const char*> ids[] = {
      {"tokenizer.ggml.bos_token_id", "bos_token"},
      {"tokenizer.ggml.eos_token_id", "eos_token"},
      {"tokenizer.ggml.unknown_token_id", "unk_token"},
      {"tokenizer.ggml.padding_token_id", "pad_token"}};
  for (const auto& [id_key, token_name] : ids)
    if (auto id = gguf.get_int_opt(id_key);
        id && *id >= 0 && static_cast<std::uint64_t>(*id) < tokens.size())
      special[token_name] = tokens[static_cast<std::size_t>(*id)];
  return make(chosen, std::move(special));
}

ChatTemplate load_chat_template(const std::string& model_path, std::string_view name) {
  std::error_code ec;
  fs::path dir(model_path);
  if (!fs::is_directory(dir, ec)) {
    if (fs::path(model_path).extension() != ".json") {
      const io::GgufFile gguf(model_path);
      return load_chat_template(gguf, name);
    }
    dir = dir.parent_path();
  }
  const fs::path config_file = dir / "tokenizer_config.json";
  std::optional<json> config;
  if (io::regular_file_or_none(config_file.string()))
    config = io::read_json_file(config_file.string());
  json special = folder_special_tokens(dir, config);

  // transformers: chat_template.jinja and additional_chat_templates/*.jinja
  // take priority over the templates in tokenizer_config.json.
  NamedSources named;
  const fs::path jinja = dir / "chat_template.jinja";
  if (io::regular_file_or_none(jinja.string()))
    named["default"] = {io::read_text_file(jinja.string()), Where{jinja.string()}};
  const fs::path extra = dir / "additional_chat_templates";
  if (fs::is_directory(extra, ec))
    for (const auto& entry : fs::directory_iterator(extra, ec))
      if (entry.path().extension() == ".jinja" && io::regular_file_or_none(entry.path().string()))
        named[entry.path().stem().string()] = {io::read_text_file(entry.path().string()),
                                               Where{entry.path().string()}};
  if (named.empty() && config && config->is_object() && config->contains("chat_template")) {
    const json& ct = (*config)["chat_template"];
    const Where where{config_file.string(), "chat_template", std::nullopt};
    if (ct.is_string()) {
      named["default"] = {ct.get<std::string>(), where};
    } else if (ct.is_array()) {
      for (std::size_t k = 0; k < ct.size(); ++k) {
        const json& e = ct[k];
        const Where at{config_file.string(), "chat_template[" + std::to_string(k) + "]",
                       std::nullopt};
        if (!e.is_object() || !e.contains("name") || !e["name"].is_string() ||
            !e.contains("template") || !e["template"].is_string())
          throw Error(at, "expected {\"name\": string, \"template\": string}");
        named[e["name"].get<std::string>()] = {
            e["template"].get<std::string>(),
            Where{config_file.string(), at.field + ".template", std::nullopt}};
      }
    } else {
      throw Error(where, "expected a template string or a list of {name, template}");
    }
  }
  const fs::path json_file = dir / "chat_template.json";
  if (named.empty() && io::regular_file_or_none(json_file.string())) {
    const json j = io::read_json_file(json_file.string());
    const Where where{json_file.string(), "chat_template", std::nullopt};
    if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
      throw Error(where, "missing or not a string");
    named["default"] = {j["chat_template"].get<std::string>(), where};
  }
  if (named.empty())
    throw Error(Where{dir.string()},
                "the model has no chat template (looked for chat_template.jinja, "
                "additional_chat_templates/, chat_template in tokenizer_config.json, "
                "chat_template.json)");
  return make(pick(named, name, Where{dir.string()}), std::move(special));
}

std::string chat_template_engine() {
  return detail::JinjaService::instance().engine();
}

}  // namespace clrp::text
