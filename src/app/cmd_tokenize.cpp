// clrp tokenize: the model's tokenizer on a text or a file of texts.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "clrp/app/cli_options.hpp"
#include "clrp/app/commands.hpp"
#include "clrp/app/model_path.hpp"
#include "clrp/io/json.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/text/chat_template.hpp"
#include "clrp/text/tokenizer.hpp"
#include "clrp/util/error.hpp"

namespace clrp::app {

namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string input;
  bool json = false;
  ChatOptions chat;
  bool no_special = false;
};

struct Session {
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::optional<text::ChatTemplate> chat;
  text::ChatSettings settings;
  bool add_special = true;
};

/// What is tokenized: the text, rendered through the chat template with --chat.
struct Encoded {
  std::string text;
  std::vector<std::int32_t> ids;
};

nlohmann::ordered_json result_json(const Session& s, const Encoded& e) {
  const std::vector<std::int32_t>& ids = e.ids;
  nlohmann::ordered_json out;
  if (s.chat) out["rendered"] = e.text;
  out["ids"] = ids;
  auto& tokens = out["tokens"] = nlohmann::ordered_json::array();
  for (auto id : ids)
    tokens.push_back(s.tokenizer->token_string(id));
  out["decoded"] = s.tokenizer->decode(ids);
  return out;
}

Encoded encode(const Session& s, const std::string& text) {
  if (!s.chat) return {text, s.tokenizer->encode(text, s.add_special)};
  std::string rendered = s.chat->render_prompt(text, s.settings);
  auto ids = s.tokenizer->encode(rendered, false);
  return {std::move(rendered), std::move(ids)};
}

// A batch line's conversation {"messages": [{"role", "content"}, ...],
// "add_generation_prompt"?: bool (default true)}, through the template.
Encoded encode_conversation(const Session& s, const nlohmann::json& j, const Where& where) {
  const auto at = [&where](const std::string& field) {
    return Where{where.file, field, std::nullopt, where.line};
  };
  if (!s.chat) throw Error(at("messages"), "a conversation needs --chat");
  const nlohmann::json& list = j["messages"];
  if (!list.is_array() || list.empty())
    throw Error(at("messages"), "expected a non-empty list of {\"role\", \"content\"}");
  std::vector<text::ChatMessage> messages;
  for (std::size_t k = 0; k < list.size(); ++k) {
    const nlohmann::json& m = list[k];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      throw Error(at("messages[" + std::to_string(k) + "]"),
                  "expected {\"role\": string, \"content\": string}");
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  bool generation = true;
  if (j.contains("add_generation_prompt")) {
    if (!j["add_generation_prompt"].is_boolean())
      throw Error(at("add_generation_prompt"), "expected true or false");
    generation = j["add_generation_prompt"].get<bool>();
  }
  std::string rendered = s.chat->render(messages, s.settings.options, generation);
  auto ids = s.tokenizer->encode(rendered, false);
  return {std::move(rendered), std::move(ids)};
}

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_listing(const Session& s, const std::string& model,
                   const std::vector<std::int32_t>& ids) {
  std::cout << "model: " << model << "\n";
  std::cout << ids.size() << (ids.size() == 1 ? " token" : " tokens");
  if (s.chat)
    std::cout << " (chat template '" << s.chat->name() << "' of " << s.chat->origin().describe()
              << ")";
  std::cout << "\n";
  std::cout << std::setw(6) << "#" << std::setw(9) << "id"
            << "  token\n";
  for (std::size_t k = 0; k < ids.size(); ++k) {
    std::cout << std::setw(6) << k << std::setw(9) << ids[k] << "  "
              << dump(nlohmann::ordered_json(s.tokenizer->token_string(ids[k])));
    if (s.tokenizer->is_special(ids[k])) std::cout << "  (special)";
    std::cout << "\n";
  }
}

void run_batch(const Session& s, const std::string& path) {
  // "-" is standard input; a pipe or device reads as a file does, lines capped.
  io::LineReader lines(path, io::kMaxLineBytes);
  std::string line;
  io::LineInfo info;
  while (lines.next(line, info)) {
    if (info.too_long) lines.refuse_too_long(info);
    const std::uint64_t number = info.number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = io::parse_json(line, path, info.offset);
    } catch (const Error& e) {
      Where w = e.where();
      w.line = number;
      throw Error(w, e.bare_message());
    }
    const Where where{path, "", std::nullopt, number};
    if (j.is_object() && j.contains("messages")) {
      std::cout << dump(result_json(s, encode_conversation(s, j, where))) << "\n";
      continue;
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string())
      throw Error(Where{path, "text", std::nullopt, number},
                  "each line must be a JSON object with a string field \"text\" (or, with "
                  "--chat, \"messages\")");
    Encoded e;
    try {
      e = encode(s, j["text"].get<std::string>());
    } catch (const Error& err) {
      throw Error(Where{path, "text", std::nullopt, number}, err.bare_message());
    }
    std::cout << dump(result_json(s, e)) << "\n";
  }
  std::cout.flush();
}

void run(const TokenizeOptions& o, bool model_given, bool text_given, bool input_given) {
  if (text_given == input_given)
    throw Error("clrp tokenize needs exactly one of --text TEXT and --input FILE.jsonl");
  const std::string model =
      resolve_model_path(model_given ? std::optional<std::string>(o.model) : std::nullopt);
  Session s;
  s.tokenizer = text::load_tokenizer(model);
  s.add_special = !o.no_special;
  if (auto settings = o.chat.settings()) {
    s.settings = std::move(*settings);
    s.chat = text::load_chat_template(model, s.settings.template_name);
  }
  if (input_given) {
    run_batch(s, o.input);
    return;
  }
  const Encoded e = encode(s, o.text);
  if (o.json)
    std::cout << dump(result_json(s, e)) << "\n";
  else
    print_listing(s, model, e.ids);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize",
      "Split text into the model's tokens (ids identical to Hugging Face `tokenizers`).\n"
      "Examples:\n"
      "  clrp tokenize --text 'Hello world'\n"
      "  clrp tokenize --model model.gguf --text 'What is 2+2?' --chat --json\n"
      "  clrp tokenize --model Qwen3-0.6B --text 'Hi' --chat --chat-option enable_thinking=false\n"
      "  clrp tokenize --input texts.jsonl > tokens.jsonl");
  auto* model = cmd->add_option(
      "--model", opt->model,
      "A .gguf file, a Hugging Face model directory (tokenizer.json) or a tokenizer.json; "
      "default: the embedded SmolLM2-135M-Instruct GGUF");
  auto* text = cmd->add_option("--text", opt->text, "The text to tokenize (UTF-8)");
  auto* input = cmd->add_option(
      "--input", opt->input,
      "Batch mode: a JSON-lines file ('-' for stdin; pipes and devices read as files, "
      "lines up to 64 MiB), each line {\"text\": ...}, or with "
      "--chat a whole conversation {\"messages\": [{\"role\": ..., \"content\": ...}, ...], "
      "\"add_generation_prompt\": true}; writes one JSON object per line, as --json does");
  text->excludes(input);
  cmd->add_flag("--json", opt->json,
                "Print {\"ids\": [...], \"tokens\": [...], \"decoded\": ...}: tokens are the "
                "surface text of each token, decoded the text of all ids; with --chat also "
                "\"rendered\", the text the template made");
  add_chat_options(cmd, opt->chat);
  cmd->add_flag("--no-special", opt->no_special,
                "Do not add the tokenizer's special tokens (e.g. bos): add_special_tokens=False");
  cmd->callback([opt, model, text, input] {
    run(*opt, model->count() > 0, text->count() > 0, input->count() > 0);
  });
}

}  // namespace clrp::app
