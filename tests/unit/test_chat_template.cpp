// Chat templates: where a model's template is found (transformers' order),
// which special tokens it sees, the settings a pair records, and the errors
// of templates that do not parse, raise or do not know an option. Rendering
// goes through the Jinja2 service (the project's .venv); the byte-for-byte
// comparison with apply_chat_template over real templates is
// tests/oracle/test_chat_templates.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clrp/text/chat_template.hpp"
#include "clrp/util/error.hpp"

namespace {

namespace fs = std::filesystem;
using clrp::text::ChatMessage;
using clrp::text::ChatSettings;
using clrp::text::ChatTemplate;
using nlohmann::json;

// A fresh folder per test under the system's temporary directory.
class ModelFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("clrp_chat_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) const {
    fs::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  std::string dir() const { return dir_.string(); }

 private:
  fs::path dir_;
};

const std::string kTurns =
    "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>\n"
    "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const clrp::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ChatOption, ValuesAreJsonWhenTheyAreJson) {
  json o = json::object();
  clrp::text::add_chat_option(o, "enable_thinking=false");
  clrp::text::add_chat_option(o, "n=3");
  clrp::text::add_chat_option(o, "date_string=26 Jul 2024");
  clrp::text::add_chat_option(o, "quoted=\"x=y\"");
  clrp::text::add_chat_option(o, "empty=");
  EXPECT_EQ(o, json({{"enable_thinking", false},
                     {"n", 3},
                     {"date_string", "26 Jul 2024"},
                     {"quoted", "x=y"},
                     {"empty", ""}}));
  EXPECT_NE(error_of([&] { clrp::text::add_chat_option(o, "no equals sign"); }).find("KEY=VALUE"),
            std::string::npos);
  EXPECT_NE(error_of([&] { clrp::text::add_chat_option(o, "=1"); }).find("KEY=VALUE"),
            std::string::npos);
}

TEST(ChatSettingsJson, RoundTripsAndNamesTheBadField) {
  ChatSettings s;
  EXPECT_EQ(s.to_json(), json::object());
  s.system = "";
  s.options = {{"enable_thinking", false}};
  s.template_name = "tool_use";
  EXPECT_EQ(ChatSettings::from_json(s.to_json(), clrp::Where{}), s);
  const std::string msg = error_of([] {
    ChatSettings::from_json(json{{"options", 1}}, clrp::Where{"cases.jsonl", "pair.chat"});
  });
  EXPECT_NE(msg.find("pair.chat.options"), std::string::npos) << msg;
  EXPECT_NE(error_of([] {
              ChatSettings::from_json(json{{"sytem", "x"}}, clrp::Where{});
            }).find("unknown field"),
            std::string::npos);
}

TEST_F(ModelFolder, TemplateFileWinsOverTokenizerConfigAsInTransformers) {
  write("tokenizer_config.json", json({{"chat_template", "from config"},
                                       {"bos_token", {{"content", "<s>"}, {"special", true}}},
                                       {"eos_token", "</s>"},
                                       {"pad_token", nullptr},
                                       {"additional_special_tokens", {"<x>", {{"content", "<y>"}}}},
                                       {"added_tokens_decoder", json::object()}})
                                     .dump());
  write("special_tokens_map.json", json({{"bos_token", "<ignored>"}}).dump());
  write("chat_template.jinja", kTurns);
  const ChatTemplate t = clrp::text::load_chat_template(dir());
  EXPECT_EQ(t.source(), kTurns);
  EXPECT_EQ(t.name(), "default");
  EXPECT_EQ(t.origin().file, dir() + "/chat_template.jinja");
  // The config has added_tokens_decoder: special_tokens_map.json is legacy and not read.
  EXPECT_EQ(t.special_tokens(), json({{"bos_token", "<s>"},
                                      {"eos_token", "</s>"},
                                      {"additional_special_tokens", {"<x>", "<y>"}}}));
  const std::vector<ChatMessage> chat{{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(t.render(chat, json::object(), true),
            "<s><system>S</system>\n<user>U</user>\n<assistant>");
  EXPECT_EQ(t.render(chat, json::object(), false), "<s><system>S</system>\n<user>U</user>\n");
  ChatSettings s;
  s.system = "Be brief.";
  EXPECT_EQ(t.render_prompt("Hi", s),
            "<s><system>Be brief.</system>\n<user>Hi</user>\n<assistant>");
}

TEST_F(ModelFolder, LegacyFolderReadsSpecialTokensMap) {
  write("tokenizer_config.json", json({{"chat_template", kTurns}}).dump());
  write("special_tokens_map.json", json({{"bos_token", {{"content", "<|bos|>"}}}}).dump());
  const ChatTemplate t = clrp::text::load_chat_template(dir());
  EXPECT_EQ(t.special_tokens(), json({{"bos_token", "<|bos|>"}}));
  EXPECT_EQ(t.origin().field, "chat_template");
}

TEST_F(ModelFolder, NamedTemplatesPickDefaultOrTheAskedName) {
  write("tokenizer_config.json",
        json({{"chat_template",
               {{{"name", "default"}, {"template", "D{{ messages[0].content }}"}},
                {{"name", "rag"}, {"template", "R{{ messages[0].content }}"}}}}})
            .dump());
  const std::vector<ChatMessage> chat{{"user", "x"}};
  EXPECT_EQ(clrp::text::load_chat_template(dir()).render(chat, json::object()), "Dx");
  const ChatTemplate rag = clrp::text::load_chat_template(dir(), "rag");
  EXPECT_EQ(rag.render(chat, json::object()), "Rx");
  EXPECT_EQ(rag.origin().field, "chat_template[1].template");
  const std::string msg = error_of([&] { clrp::text::load_chat_template(dir(), "tool_use"); });
  EXPECT_NE(msg.find("no chat template named 'tool_use' (there are: default, rag)"),
            std::string::npos)
      << msg;
}

TEST_F(ModelFolder, AdditionalTemplatesWithoutDefaultNeedAName) {
  write("tokenizer_config.json", json({{"chat_template", "ignored"}}).dump());
  write("additional_chat_templates/tool_use.jinja", "T");
  const std::string msg = error_of([&] { clrp::text::load_chat_template(dir()); });
  EXPECT_NE(msg.find("none is named 'default'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--chat-template NAME (there are: tool_use)"), std::string::npos) << msg;
  EXPECT_EQ(clrp::text::load_chat_template(dir(), "tool_use").source(), "T");
}

TEST_F(ModelFolder, NoTemplateSaysWhereItLooked) {
  write("tokenizer_config.json", json({{"bos_token", "<s>"}}).dump());
  const std::string msg = error_of([&] { clrp::text::load_chat_template(dir()); });
  EXPECT_NE(msg.find("the model has no chat template"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chat_template.jinja"), std::string::npos) << msg;
}

TEST_F(ModelFolder, TemplateErrorsNameTheFileTheLineAndTheCause) {
  const std::vector<ChatMessage> chat{{"user", "a"}, {"user", "b"}};
  write("chat_template.jinja", "line one\n{% if messages %}unclosed");
  std::string msg = error_of([&] { clrp::text::load_chat_template(dir()).render(chat, {}); });
  EXPECT_NE(msg.find(dir() + "/chat_template.jinja"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid Jinja (line 2)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("endif"), std::string::npos) << msg;

  write(
      "chat_template.jinja",
      "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}\n"
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
      "{% endif %}{% endfor %}");
  msg = error_of([&] { clrp::text::load_chat_template(dir()).render(chat, {}); });
  EXPECT_NE(msg.find("refused the conversation (line 2): Conversation roles must alternate"),
            std::string::npos)
      << msg;

  write("chat_template.jinja",
        "{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}");
  EXPECT_EQ(clrp::text::load_chat_template(dir()).render(chat, {{"enable_thinking", false}}),
            "<think></think>");
  msg = error_of([&] {
    clrp::text::load_chat_template(dir()).render(chat, {{"enable_thinkin", false}});
  });
  EXPECT_NE(msg.find("a chat option the template does not know: the template does not read "
                     "'enable_thinkin'; the other variables it reads: enable_thinking"),
            std::string::npos)
      << msg;

  write("chat_template.jinja", "{{ messages[0].nope.deeper }}");
  msg = error_of([&] { clrp::text::load_chat_template(dir()).render(chat, {}); });
  EXPECT_NE(msg.find("the chat template failed (line 1): UndefinedError"), std::string::npos)
      << msg;
}

TEST(ChatTemplateEngine, IsJinja2) {
  EXPECT_EQ(clrp::text::chat_template_engine().rfind("jinja2 3.", 0), 0u)
      << clrp::text::chat_template_engine();
}

}  // namespace
