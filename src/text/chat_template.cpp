#include "clrp/text/chat_template.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "clrp/io/gguf.hpp"
#include "clrp/io/json.hpp"
#include "clrp/io/mapped_file.hpp"
#include "unicode.hpp"

namespace clrp::text {

namespace {

namespace fs = std::filesystem;

// The templates clrp knows, as published. "@@SYSTEM@@" stands for the default
// system message, which may be any text.
constexpr std::string_view kChatMlDefaultSystem =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\n@@SYSTEM@@<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
constexpr std::string_view kChatMl =
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
constexpr std::string_view kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}";

// Gemma 3's template (google/gemma-3-*-it tokenizer_config.json). "@@SEP@@"
// stands for what follows the system message: "\n\n" as published, "\n" in
// some GGUF conversions.
constexpr std::string_view kGemma3 = R"({{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '@@SEP@@' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '@@SEP@@' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
)";

std::string replace_marker(std::string_view s, std::string_view marker, std::string_view with) {
  std::string out(s);
  for (std::size_t at; (at = out.find(marker)) != std::string::npos;)
    out.replace(at, marker.size(), with);
  return out;
}

std::string normalize_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A Jinja string literal's body decoded as Python's unicode-escape does.
std::string decode_literal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    const char e = s[++i];
    auto hex_escape = [&](std::size_t digits) {
      char32_t cp = 0;
      for (std::size_t k = 1; k <= digits; ++k) {
        if (i + k >= s.size() || hex_value(s[i + k]) < 0) return false;
        cp = cp * 16 + static_cast<char32_t>(hex_value(s[i + k]));
      }
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      detail::append_utf8(out, cp);
      i += digits;
      return true;
    };
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case '\n':
        break;  // line continuation
      case 'x':
        if (!hex_escape(2)) out += "\\x";
        break;
      case 'u':
        if (!hex_escape(4)) out += "\\u";
        break;
      case 'U':
        if (!hex_escape(8)) out += "\\U";
        break;
      default:
        out += '\\';
        out += e;
    }
  }
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

// Tag body without whitespace outside string literals, literals re-quoted.
std::string canonical_tag(std::string_view body) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '\'' || c == '"') {
      std::size_t j = i + 1;
      while (j < body.size() && body[j] != c)
        j += body[j] == '\\' ? 2 : 1;
      const std::size_t end = std::min(j, body.size());
      out += quote(decode_literal(body.substr(i + 1, end - i - 1)));
      i = end;
      continue;
    }
    out += c;
  }
  return out;
}

// Python's str.strip() (Jinja's `trim` filter) on valid UTF-8.
std::string py_strip(std::string_view s) {
  std::size_t begin = 0, end = s.size();
  while (begin < end) {
    char32_t cp = 0;
    const std::size_t n = detail::utf8_decode(s, begin, cp);
    if (!detail::is_python_space(cp)) break;
    begin += n;
  }
  while (end > begin) {
    std::size_t k = end - 1;
    while (k > begin && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80)
      --k;
    char32_t cp = 0;
    detail::utf8_decode(s, k, cp);
    if (!detail::is_python_space(cp)) break;
    end = k;
  }
  return std::string(s.substr(begin, end - begin));
}

}  // namespace

std::string canonical_jinja(std::string_view source_in) {
  const std::string source = normalize_newlines(source_in);
  std::string out;
  std::size_t i = 0;
  bool strip_ws = false;  // previous tag closed with '-'
  bool trim_nl = false;   // previous tag was a block or comment (trim_blocks)
  bool at_start = true;
  while (i <= source.size()) {
    std::size_t pos = std::string::npos;
    for (std::size_t k = i; k + 1 < source.size(); ++k) {
      if (source[k] == '{' &&
          (source[k + 1] == '{' || source[k + 1] == '%' || source[k + 1] == '#')) {
        pos = k;
        break;
      }
    }
    std::string raw = source.substr(i, (pos == std::string::npos ? source.size() : pos) - i);
    if (strip_ws) {
      const auto first = raw.find_first_not_of(" \t\n");
      raw = first == std::string::npos ? "" : raw.substr(first);
    } else if (trim_nl && !raw.empty() && raw[0] == '\n') {
      raw.erase(0, 1);
    }
    if (pos == std::string::npos) {
      // keep_trailing_newline is off: one final newline goes.
      if (!raw.empty() && raw.back() == '\n') raw.pop_back();
      if (!raw.empty()) out += "\x01T" + raw;
      break;
    }
    const char kind = source[pos + 1];
    std::size_t body_begin = pos + 2;
    bool left_minus = false;
    if (body_begin < source.size() && (source[body_begin] == '-' || source[body_begin] == '+')) {
      left_minus = source[body_begin] == '-';
      ++body_begin;
    }
    if (left_minus) {
      const auto last = raw.find_last_not_of(" \t\n");
      raw = last == std::string::npos ? "" : raw.substr(0, last + 1);
    } else if (kind != '{') {
      // lstrip_blocks: spaces and tabs between a line start and a block tag go.
      const auto nl = raw.rfind('\n');
      const std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
      if ((nl != std::string::npos || (at_start && out.empty())) &&
          raw.find_first_not_of(" \t", line_start) == std::string::npos)
        raw.erase(line_start);
    }
    if (!raw.empty()) out += "\x01T" + raw;
    at_start = false;
    // Find the closing delimiter outside string literals.
    const char close0 = kind == '{' ? '}' : kind;
    std::size_t j = body_begin;
    char in_quote = 0;
    for (; j + 1 < source.size(); ++j) {
      const char c = source[j];
      if (in_quote) {
        if (c == '\\')
          ++j;
        else if (c == in_quote)
          in_quote = 0;
      } else if (kind != '#' && (c == '\'' || c == '"')) {
        in_quote = c;
      } else if (c == close0 && source[j + 1] == '}') {
        break;
      }
    }
    if (j + 1 >= source.size()) {  // unterminated tag: keep the rest as is
      out += "\x01?" + source.substr(pos);
      break;
    }
    std::size_t body_end = j;
    bool right_minus = false;
    if (body_end > body_begin && (source[body_end - 1] == '-' || source[body_end - 1] == '+')) {
      right_minus = source[body_end - 1] == '-';
      --body_end;
    }
    if (kind != '#') {
      out += kind == '{' ? "\x01E" : "\x01S";
      out += canonical_tag(std::string_view(source).substr(body_begin, body_end - body_begin));
    }
    strip_ws = right_minus;
    trim_nl = kind != '{';
    i = j + 2;
  }
  return out;
}

ChatTemplate ChatTemplate::recognise(std::string_view source, const Where& where,
                                     std::string bos_token) {
  if (auto bad = detail::find_invalid_utf8(source))
    throw Error(where, "chat template is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
  const std::string canon = canonical_jinja(source);
  ChatTemplate t;
  t.bos_token_ = std::move(bos_token);
  if (canon == canonical_jinja(kChatMl)) {
    t.name_ = "chatml";
    return t;
  }
  if (canon == canonical_jinja(kLlama3)) {
    t.name_ = "llama3";
    return t;
  }
  for (std::string_view sep : {"\n\n", "\n"}) {
    // The separator sits in a Jinja string literal: written escaped there.
    if (canon ==
        canonical_jinja(replace_marker(kGemma3, "@@SEP@@", sep == "\n" ? "\\n" : "\\n\\n"))) {
      t.name_ = "gemma3";
      t.system_separator_ = std::string(sep);
      return t;
    }
  }
  {
    const std::string ref = canonical_jinja(kChatMlDefaultSystem);
    const std::string marker = "@@SYSTEM@@";
    const auto at = ref.find(marker);
    const std::string prefix = ref.substr(0, at), suffix = ref.substr(at + marker.size());
    if (canon.size() >= prefix.size() + suffix.size() &&
        canon.compare(0, prefix.size(), prefix) == 0 &&
        canon.compare(canon.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string middle =
          canon.substr(prefix.size(), canon.size() - prefix.size() - suffix.size());
      // The middle is the inside of one re-quoted literal: only escaped quotes allowed.
      std::string system;
      bool ok = true;
      for (std::size_t k = 0; k < middle.size(); ++k) {
        if (middle[k] == '\\' && k + 1 < middle.size()) {
          system += middle[++k];
        } else if (middle[k] == '\'' || middle[k] == '\\' || middle[k] == '\x01') {
          ok = false;
          break;
        } else {
          system += middle[k];
        }
      }
      if (ok) {
        t.name_ = "chatml-default-system";
        t.default_system_ = std::move(system);
        return t;
      }
    }
  }
  std::string excerpt(source.substr(0, 160));
  for (auto& c : excerpt)
    if (c == '\n') c = ' ';
  throw Error(where,
              "unsupported chat template (clrp recognises ChatML, ChatML with a default "
              "system message as in SmolLM2, Llama-3's and Gemma-3's templates); it begins: " +
                  excerpt + (source.size() > 160 ? "..." : ""));
}

std::string ChatTemplate::render(std::span<const ChatMessage> messages,
                                 bool add_generation_prompt) const {
  std::string out;
  if (name_ == "gemma3") return render_gemma3(messages, add_generation_prompt);
  if (name_ == "llama3") {
    for (std::size_t k = 0; k < messages.size(); ++k) {
      if (k == 0) out += bos_token_;
      out += "<|start_header_id|>" + messages[k].role + "<|end_header_id|>\n\n" +
             py_strip(messages[k].content) + "<|eot_id|>";
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }
  for (std::size_t k = 0; k < messages.size(); ++k) {
    if (k == 0 && name_ == "chatml-default-system" && messages[0].role != "system")
      out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
    out += "<|im_start|>" + messages[k].role + "\n" + messages[k].content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string ChatTemplate::render_gemma3(std::span<const ChatMessage> messages,
                                        bool add_generation_prompt) const {
  if (messages.empty()) throw Error(Where{}, "Gemma's chat template needs at least one message");
  std::string out = bos_token_;
  std::string first_user_prefix;
  std::size_t first = 0;
  if (messages[0].role == "system") {
    first_user_prefix = messages[0].content + system_separator_;
    first = 1;
  }
  for (std::size_t k = first; k < messages.size(); ++k) {
    const std::size_t index0 = k - first;
    // The template's raise_exception: user at even positions, anything else at odd ones.
    if ((messages[k].role == "user") != (index0 % 2 == 0))
      throw Error(Where{},
                  "Conversation roles must alternate user/assistant/user/assistant/... "
                  "(Gemma's chat template)");
    const std::string& role =
        messages[k].role == "assistant" ? std::string("model") : messages[k].role;
    out += "<start_of_turn>" + role + "\n" + (index0 == 0 ? first_user_prefix : std::string()) +
           py_strip(messages[k].content) + "<end_of_turn>\n";
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
  return out;
}

std::string ChatTemplate::render_user_prompt(std::string_view user_message) const {
  const ChatMessage m{"user", std::string(user_message)};
  return render(std::span<const ChatMessage>(&m, 1), true);
}

ChatTemplate load_chat_template(const io::GgufFile& gguf) {
  const std::string key = "tokenizer.chat_template";
  const auto source = gguf.get_string_opt(key);
  if (!source) throw Error(Where{gguf.path(), key, std::nullopt}, "the model has no chat template");
  std::string bos;
  if (auto id = gguf.get_int_opt("tokenizer.ggml.bos_token_id")) {
    const auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
    if (*id >= 0 && static_cast<std::uint64_t>(*id) < tokens.size())
      bos = tokens[static_cast<std::size_t>(*id)];
  }
  return ChatTemplate::recognise(*source, Where{gguf.path(), key, std::nullopt}, bos);
}

ChatTemplate load_chat_template(const std::string& model_path) {
  std::error_code ec;
  fs::path dir(model_path);
  if (!fs::is_directory(dir, ec)) {
    if (fs::path(model_path).extension() != ".json") {
      const io::GgufFile gguf(model_path);
      return load_chat_template(gguf);
    }
    dir = dir.parent_path();
  }
  const fs::path config = dir / "tokenizer_config.json";
  std::string bos;
  std::optional<nlohmann::json> cfg;
  if (fs::is_regular_file(config, ec)) {
    cfg = io::read_json_file(config.string());
    if (cfg->is_object() && cfg->contains("bos_token")) {
      const auto& b = (*cfg)["bos_token"];
      if (b.is_string()) bos = b.get<std::string>();
      if (b.is_object() && b.contains("content") && b["content"].is_string())
        bos = b["content"].get<std::string>();
    }
    if (cfg->is_object() && cfg->contains("chat_template")) {
      const auto& ct = (*cfg)["chat_template"];
      const Where where{config.string(), "chat_template", std::nullopt};
      if (ct.is_string()) return ChatTemplate::recognise(ct.get<std::string>(), where, bos);
      if (ct.is_array()) {
        for (std::size_t k = 0; k < ct.size(); ++k) {
          const auto& e = ct[k];
          if (e.is_object() && e.value("name", "") == "default" && e.contains("template") &&
              e["template"].is_string())
            return ChatTemplate::recognise(
                e["template"].get<std::string>(),
                Where{config.string(), "chat_template[" + std::to_string(k) + "].template",
                      std::nullopt},
                bos);
        }
      }
      throw Error(where, "expected a template string or a list with an entry named 'default'");
    }
  }
  const fs::path jinja = dir / "chat_template.jinja";
  if (fs::is_regular_file(jinja, ec))
    return ChatTemplate::recognise(io::read_text_file(jinja.string()), Where{jinja.string()}, bos);
  const fs::path json = dir / "chat_template.json";
  if (fs::is_regular_file(json, ec)) {
    const auto j = io::read_json_file(json.string());
    const Where where{json.string(), "chat_template", std::nullopt};
    if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string())
      throw Error(where, "missing or not a string");
    return ChatTemplate::recognise(j["chat_template"].get<std::string>(), where, bos);
  }
  throw Error(Where{dir.string()},
              "the model has no chat template (looked for chat_template in "
              "tokenizer_config.json, chat_template.jinja, chat_template.json)");
}

}  // namespace clrp::text
