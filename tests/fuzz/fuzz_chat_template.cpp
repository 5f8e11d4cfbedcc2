// libFuzzer target: the chat-template inputs clrp reads in C++ (docs/chat.md):
//   - chat settings as a case file or a campaign spec's `chat` table carries
//     them (text::ChatSettings::from_json) and --chat-option KEY=VALUE
//     (text::add_chat_option);
//   - a model folder's template sources, as load_chat_template reads them:
//     tokenizer_config.json (`chat_template` as a string or a list of
//     {name, template}; bos/eos/... special tokens as strings or AddedToken
//     objects), special_tokens_map.json, chat_template.jinja,
//     additional_chat_templates/NAME.jinja, chat_template.json; or a .gguf;
//   - the render request ChatTemplate::render builds for the Jinja service.
// The Jinja service itself (Python) is not run: JinjaService is replaced at
// link time by a stub that checks each request is valid JSON (what the real
// service writes to the Python process) and answers with a rendered text or
// one of the template failures, chosen from the input, so the failure paths
// are covered too.
//
// Each of them must either succeed or throw clrp::Error (naming the file for
// the template sources), never crash or throw anything else; chat settings
// must survive to_json/from_json unchanged.
//
// Input: sections separated by "\n\x1e\n" (the dictionary has it):
//   0 tokenizer_config.json (or a GGUF file when it starts with "GGUF")
//   1 chat settings JSON: {system, options, template}; empty: the defaults
//   2 the user message
//   3 special_tokens_map.json
//   4 chat_template.jinja
//   5 chat_template.json
//   6 additional_chat_templates: NAME \x1f TEMPLATE \x1f NAME \x1f TEMPLATE ...
//   7 --chat-option arguments, one KEY=VALUE per line
// An empty (or missing) file section: no such file. An input of odd length
// names the model by its tokenizer_config.json instead of its folder. The
// stub's reply: a rendered text, or (when chat_template.jinja's first byte
// is not '{') a syntax / raised / option / failed error, by that byte.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "clrp/io/json.hpp"
#include "clrp/text/chat_settings.hpp"
#include "clrp/text/chat_template.hpp"
#include "clrp/util/error.hpp"
#include "../../src/text/jinja_service.hpp"

// --- the Jinja service, stubbed -------------------------------------------
namespace clrp::util {
class LineService {};  // the real one (src/util/line_service.cpp) is not linked
}  // namespace clrp::util

namespace {

int g_reply_kind = 0;               // 0: text; 1..4: syntax, raised, option, failed
std::vector<nlohmann::json> g_requests;  // what render() was asked, in order

}  // namespace

namespace clrp::text::detail {

JinjaService& JinjaService::instance() {
  static JinjaService service;
  return service;
}
JinjaService::JinjaService() = default;
JinjaService::~JinjaService() = default;
std::string JinjaService::engine() { return "stub"; }

// As the real render(): the request goes out as one line of JSON; one that
// cannot be written (invalid UTF-8) is the same clrp::Error as there.
JinjaReply JinjaService::render(const nlohmann::json& request) {
  std::string line;
  try {
    line = request.dump();
  } catch (const nlohmann::json::type_error&) {
    throw Error("a chat message or option is not valid UTF-8; the template cannot be rendered");
  }
  // The line the Python side reads must be one JSON object equal to the request.
  if (line.find('\n') != std::string::npos) std::abort();
  const nlohmann::json back = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (back.is_discarded() || !back.is_object() || back != request) std::abort();
  g_requests.push_back(request);
  JinjaReply out;
  static const char* const kKinds[] = {"", "syntax", "raised", "option", "failed"};
  if (g_reply_kind == 0) {
    if (request.contains("variables"))
      out.reads = std::vector<std::string>{"messages"};
    else
      out.text = "rendered";
  } else {
    out.kind = kKinds[g_reply_kind];
    out.error = "stub failure";
    if (g_reply_kind % 2 == 1) out.line = 3;
  }
  return out;
}

}  // namespace clrp::text::detail

// --- the harness --------------------------------------------------------------
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path g_dir;  // the model folder, rewritten for every input

std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  for (std::size_t at = 0;;) {
    const std::size_t next = s.find(sep, at);
    if (next == std::string_view::npos) {
      out.push_back(s.substr(at));
      return out;
    }
    out.push_back(s.substr(at, next - at));
    at = next + sep.size();
  }
}

void put(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) std::abort();
}

// The folder holds exactly the files of this input.
void write_folder(const std::vector<std::string_view>& part) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(g_dir)) fs::remove_all(e.path(), ec);
  const auto file = [&](std::size_t i, const char* name) {
    if (i < part.size() && !part[i].empty()) put(g_dir / name, part[i]);
  };
  file(3, "special_tokens_map.json");
  file(4, "chat_template.jinja");
  file(5, "chat_template.json");
  if (part.size() > 6 && !part[6].empty()) {
    fs::create_directories(g_dir / "additional_chat_templates");
    const auto named = split(part[6], "\x1f");
    for (std::size_t k = 0; k + 1 < named.size(); k += 2) {
      const std::string_view name = named[k];
      if (name.empty() || name.size() > 64 || name.find_first_of(std::string_view("/\0", 2)) !=
                                                  std::string_view::npos)
        continue;
      put(g_dir / "additional_chat_templates" / (std::string(name) + ".jinja"), named[k + 1]);
    }
  }
}

// CLRP_FUZZ_VERBOSE=1: print how far each input got.
void say(const std::string& what) {
  static const bool on = std::getenv("CLRP_FUZZ_VERBOSE") != nullptr;
  if (on) std::fprintf(stderr, "%s\n", what.c_str());
}

bool names(const clrp::Error& e, const fs::path& p) {
  return std::string(e.what()).find(p.string()) != std::string::npos;
}

// Chat settings: from_json and to_json are inverses; --chat-option adds to the options.
std::optional<clrp::text::ChatSettings> settings_of(const std::vector<std::string_view>& part) {
  clrp::text::ChatSettings s;
  if (part.size() > 1 && !part[1].empty()) {
    try {
      const json j = clrp::io::parse_json(part[1], "chat.json", 0);
      s = clrp::text::ChatSettings::from_json(j, clrp::Where{"chat.json", "chat"});
    } catch (const clrp::Error& e) {
      say(std::string("settings refused: ") + e.what());
      if (std::string(e.what()).rfind("chat.json", 0) != 0) std::abort();
      return std::nullopt;
    }
    if (s.strict_options || !s.options.is_object()) std::abort();
    const clrp::text::ChatSettings again =
        clrp::text::ChatSettings::from_json(s.to_json(), clrp::Where{"again"});
    if (!(again == s) || again.to_json() != s.to_json()) std::abort();
  }
  if (part.size() > 7)
    for (std::string_view option : split(part[7], "\n")) {
      if (option.empty()) continue;
      try {
        clrp::text::add_chat_option(s.options, option);
      } catch (const clrp::Error&) {
        continue;  // no '=' or an empty key
      }
      const auto eq = option.find('=');
      if (!s.options.contains(std::string(option.substr(0, eq)))) std::abort();
    }
  return s;
}

void check_template(const clrp::text::ChatTemplate& t, const clrp::text::ChatSettings& settings,
                    std::string_view user) {
  // The special tokens as transformers passes them: non-empty texts, a list for
  // additional_special_tokens.
  if (!t.special_tokens().is_object()) std::abort();
  const bool from_gguf = t.origin().file.ends_with(".gguf");
  for (const auto& [name, value] : t.special_tokens().items()) {
    if (name == "additional_special_tokens") {
      if (!value.is_array() || value.empty()) std::abort();
      for (const json& v : value)
        if (!v.is_string()) std::abort();
    } else if (!value.is_string()) {
      std::abort();
    } else if (value.get_ref<const std::string&>().empty() && !from_gguf) {
      std::abort();  // a folder's special tokens are set only when not empty (a GGUF's: its tokens)
    }
  }
  if (t.name().empty()) std::abort();
  g_requests.clear();
  std::string text;
  try {
    text = t.render_prompt(user, settings);
  } catch (const clrp::Error& e) {
    say(std::string("render refused: ") + e.what());
    // The stub's failures name the template's origin; invalid UTF-8 has no origin.
    if (g_reply_kind != 0 && !g_requests.empty() && !names(e, t.origin().file)) std::abort();
    return;
  }
  if (g_reply_kind != 0 || text != "rendered" || g_requests.size() != 1) std::abort();
  const json r = g_requests.back();  // a copy: variables() below adds a request
  if (r.at("template") != t.source() || r.at("special_tokens") != t.special_tokens() ||
      !r.at("options").is_object() || r.at("add_generation_prompt") != true)
    std::abort();
  const json& messages = r.at("messages");
  if (messages.size() != (settings.system ? 2u : 1u) || messages.back().at("role") != "user" ||
      messages.back().at("content") != std::string(user))
    std::abort();
  (void)t.variables();
  say("rendered: " + r.dump());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/clrp-fuzz-chat-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) std::abort();
  g_dir = tmpl;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(g_dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string_view> part = split(input, "\n\x1e\n");
  const auto settings = settings_of(part);
  if (!settings) return 0;
  write_folder(part);
  const std::string_view user = part.size() > 2 ? part[2] : "Hello";
  // The reply the stub gives: from the template's first byte (below), else a text.
  g_reply_kind = part.size() > 4 && !part[4].empty() ? static_cast<unsigned char>(part[4][0]) % 5
                                                       : 0;
  if (g_reply_kind != 0 && part[4][0] == '{') g_reply_kind = 0;  // real templates start with {
  fs::path path = g_dir;
  fs::path file = g_dir / "tokenizer_config.json";
  if (!part[0].empty()) {
    if (part[0].starts_with("GGUF")) file = path = g_dir / "model.gguf";
    put(file, part[0]);
    if (size % 2 == 1 && path == g_dir) path = file;  // a file in the folder names the folder
  }
  try {
    const clrp::text::ChatTemplate t = clrp::text::load_chat_template(path.string(),
                                                                      settings->template_name);
    check_template(t, *settings, user);
  } catch (const clrp::Error& e) {
    say(std::string("template refused: ") + e.what());
    // Every refusal names the folder (or a file in it).
    if (!names(e, g_dir)) std::abort();
  }
  return 0;
}
