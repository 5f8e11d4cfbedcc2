// The `pair` field of a case: read, validated and written back byte for byte;
// every inconsistency is a CaseError naming the field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/cases/case_file.hpp"

namespace {

using namespace clrp::cases;
using nlohmann::json;

json letter_case() {
  return json::parse(R"({"id":"arc/1","benchmark":"arc_easy","format":"mc_letter",
    "segments":[{"kind":"question","text":"Question: Which is a mammal?\n"},
                {"kind":"options","text":" A. shark\n B. whale\n"},
                {"kind":"answer_prefix","text":"Answer:"}],
    "gold":{"index":1,"options":["shark","whale"],"letters":["A","B"],"continuations":[" A"," B"]},
    "evidence":[],"meta":{}})");
}

json pair(double wrong_logit = 3.5, double correct_logit = 1.25) {
  return {{"prefix", ""},
          {"wrong", {{"id", 330}, {"token", " A"}, {"logit", wrong_logit}}},
          {"correct", {{"id", 331}, {"token", " B"}, {"logit", correct_logit}}},
          {"delta", wrong_logit - correct_logit},
          {"method", "letter"},
          {"model", "/models/smol.gguf"}};
}

Case parse(const json& j) {
  return case_from_json(j, clrp::Where{"f.jsonl", "", std::nullopt, 7});
}

Problem problem_of(const json& j, std::string* message = nullptr) {
  try {
    parse(j);
  } catch (const CaseError& e) {
    if (message) *message = e.what();
    return e.problem();
  }
  ADD_FAILURE() << "accepted: " << j.dump();
  return Problem::bad_value;
}

TEST(EvalPairFormat, ReadsAndWritesBack) {
  json j = letter_case();
  j["pair"] = pair();
  const Case c = parse(j);
  ASSERT_TRUE(c.pair.has_value());
  EXPECT_EQ(c.pair->wrong.id, 330);
  EXPECT_EQ(c.pair->correct.token, " B");
  EXPECT_EQ(c.pair->method, PairMethod::letter);
  EXPECT_FALSE(c.pair->chat);
  const std::string line = case_to_json_line(c);
  EXPECT_NE(line.find(R"("pair":{"prefix":"","wrong":{"id":330,"token":" A","logit":3.5})"),
            std::string::npos)
      << line;
  EXPECT_EQ(case_to_json_line(parse(json::parse(line))), line);
}

TEST(EvalPairFormat, NoPairNoField) {
  const Case c = parse(letter_case());
  EXPECT_FALSE(c.pair.has_value());
  EXPECT_EQ(case_to_json_line(c).find("\"pair\""), std::string::npos);
}

TEST(EvalPairFormat, ChatFlagRoundTrips) {
  json j = letter_case();
  j["pair"] = pair();
  j["pair"]["chat"] = true;
  const Case c = parse(j);
  EXPECT_TRUE(c.pair->chat);
  EXPECT_NE(case_to_json_line(c).find(R"("chat":true)"), std::string::npos);
}

TEST(EvalPairFormat, RejectsInconsistentPairs) {
  std::string msg;
  json j = letter_case();
  j["pair"] = pair();
  j["pair"]["delta"] = 9.0;  // not wrong - correct
  EXPECT_EQ(problem_of(j, &msg), Problem::bad_value);
  EXPECT_NE(msg.find("f.jsonl"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pair.delta"), std::string::npos) << msg;

  j["pair"] = pair();
  j["pair"]["correct"]["id"] = 330;  // the same token on both sides
  EXPECT_EQ(problem_of(j, &msg), Problem::bad_value);
  EXPECT_NE(msg.find("pair.correct.id"), std::string::npos) << msg;

  j["pair"] = pair();
  j["pair"]["method"] = "guess";
  EXPECT_EQ(problem_of(j), Problem::bad_value);

  j["pair"] = pair();
  j["pair"]["method"] = "cloze";  // a cloze pair on a letter case
  EXPECT_EQ(problem_of(j), Problem::bad_value);

  j["pair"] = pair();
  j["pair"]["prefix"] = " the";  // letter pairs sit right after the prompt
  EXPECT_EQ(problem_of(j), Problem::bad_value);

  j["pair"] = pair();
  j["pair"].erase("model");
  EXPECT_EQ(problem_of(j, &msg), Problem::missing_field);
  EXPECT_NE(msg.find("pair.model"), std::string::npos) << msg;

  j["pair"] = pair();
  j["pair"]["wrong"]["logit"] = "3.5";
  EXPECT_EQ(problem_of(j), Problem::wrong_type);

  j["pair"] = pair();
  j["pair"]["wrong"]["id"] = -4;
  EXPECT_EQ(problem_of(j), Problem::bad_value);

  j["pair"] = pair();
  j["pair"]["extra"] = 1;
  EXPECT_EQ(problem_of(j, &msg), Problem::unknown_field);
  EXPECT_NE(msg.find("pair.extra"), std::string::npos) << msg;

  j["pair"] = "letter";
  EXPECT_EQ(problem_of(j), Problem::wrong_type);
}

TEST(EvalPairFormat, GenerativeMethodsFitGenerativeCases) {
  json j = json::parse(R"({"id":"g/1","benchmark":"gsm8k","format":"generative",
    "segments":[{"kind":"question","text":"Question: 2+2?\nAnswer:"}],
    "gold":{"answer":"4","aliases":[],"judge":"number","reference":" 4","stop":["\n"],"max_new_tokens":8}})");
  j["pair"] = pair();
  j["pair"]["method"] = "gold_divergence";
  j["pair"]["prefix"] = " The answer is";
  EXPECT_NO_THROW(parse(j));
  j["pair"]["method"] = "counterfactual";
  EXPECT_NO_THROW(parse(j));
  j["pair"]["method"] = "letter";
  EXPECT_EQ(problem_of(j), Problem::bad_value);
}

}  // namespace
