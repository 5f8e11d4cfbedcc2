// Case files: the reader accepts the hand-written fixture (every format,
// non-ASCII text, evidence) and rejects malformed lines with the problem, the
// line number and the field; skip mode counts them by problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"

namespace {

using namespace clrp::cases;
using nlohmann::json;

const std::string kValid = std::string(CLRP_TEST_DATA_DIR) + "/cases/valid.jsonl";

std::vector<std::string> fixture_lines() {
  std::ifstream in(kValid, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// A scratch file per test, removed afterwards.
class CaseFile : public ::testing::Test {
 protected:
  std::string path(const std::string& name) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    auto dir = std::filesystem::temp_directory_path() /
               (std::string("clrp_cases_") + info->name() + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    dirs_.push_back(dir);
    return (dir / name).string();
  }
  std::string write(const std::string& content) {
    const std::string p = path("cases.jsonl");
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  void TearDown() override {
    for (auto& d : dirs_)
      std::filesystem::remove_all(d);
  }
  std::vector<std::filesystem::path> dirs_;
};

TEST_F(CaseFile, ReadsEveryFormatOfTheFixture) {
  ReadCounts counts;
  auto cases = read_cases(kValid, {}, &counts);
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(counts.read, 4u);
  EXPECT_EQ(counts.skipped, 0u);
  EXPECT_EQ(cases[0].format, Format::mc_letter);
  EXPECT_EQ(cases[1].format, Format::mc_cloze);
  EXPECT_EQ(cases[2].format, Format::generative);
  EXPECT_EQ(cases[3].format, Format::code);

  const auto& mc = std::get<ChoiceGold>(cases[0].gold);
  EXPECT_EQ(mc.index, 1u);
  EXPECT_EQ(mc.letters, (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(correct_continuation(cases[0]), " B");
  EXPECT_EQ(cases[0].meta.at("split"), "validation");

  const auto& code = std::get<CodeGold>(cases[3].gold);
  EXPECT_EQ(code.entry_point, "add");
  EXPECT_EQ(correct_continuation(cases[3]), "    return a + b\n");
}

// An IFEval case (format "instructions"): its instructions and kwargs are read
// as given and written back byte for byte; it has no reference continuation.
TEST_F(CaseFile, ReadsAndWritesAnInstructionsCase) {
  const std::string line =
      R"({"id":"ifeval/instructions/1000","benchmark":"ifeval","format":"instructions",)"
      R"("segments":[{"kind":"question","text":"Write a summary. Do not use any commas."}],)"
      R"("gold":{"checker":"ifeval","instructions":[{"id":"punctuation:no_comma","kwargs":{}},)"
      R"({"id":"length_constraints:number_words","kwargs":{"num_words":300,"relation":"at least"}},)"
      R"({"id":"keywords:existence","kwargs":{"keywords":["Tripoli","count"]}}],)"
      R"("stop":[],"max_new_tokens":1280},"evidence":[],"meta":{"native_id":"1000"}})";
  const auto cases = read_cases(write(line + "\n"));
  ASSERT_EQ(cases.size(), 1u);
  const Case& c = cases[0];
  EXPECT_EQ(c.format, Format::instructions);
  const auto& g = std::get<InstructionGold>(c.gold);
  EXPECT_EQ(g.checker, "ifeval");
  ASSERT_EQ(g.instructions.size(), 3u);
  EXPECT_EQ(g.instructions[1].id, "length_constraints:number_words");
  EXPECT_EQ(g.instructions[1].kwargs.at("num_words"), 300);
  EXPECT_EQ(g.instructions[2].kwargs.at("keywords")[1], "count");
  EXPECT_EQ(g.max_new_tokens, 1280);
  EXPECT_EQ(correct_continuation(c), "");
  EXPECT_EQ(case_to_json_line(c), line);
}

// Instructions may carry the prompt text that states them (code points); a
// failure's evidence becomes the spans of the instructions it did not follow,
// merged where they overlap, in bytes of the prompt too.
TEST_F(CaseFile, InstructionEvidenceBecomesTheFailedInstructionsSpans) {
  // "Écris un résumé. N'utilise pas de virgules. 300 mots." — É and é are 2 bytes.
  const std::string line =
      R"({"id":"i/1","benchmark":"ifeval","format":"instructions",)"
      R"("segments":[{"kind":"question","text":"Écris un résumé. N'utilise pas de virgules. 300 mots."}],)"
      R"("gold":{"checker":"ifeval","instructions":[{"id":"punctuation:no_comma","kwargs":{},"evidence":[[17,43]]},)"
      R"({"id":"length_constraints:number_words","kwargs":{"num_words":300},"evidence":[[0,16],[44,53]]},)"
      R"({"id":"keywords:existence","kwargs":{"keywords":["mots"]}}],)"
      R"("stop":[],"max_new_tokens":8},"evidence":[],"meta":{}})";
  const auto cases = read_cases(write(line + "\n"));
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(case_to_json_line(cases[0]), line);  // written back as read
  const auto& g = std::get<InstructionGold>(cases[0].gold);
  ASSERT_EQ(g.evidence.size(), 3u);
  EXPECT_TRUE(g.evidence[2].empty());

  Case c = cases[0];
  mark_failed_instructions(c, {true, true, true});
  EXPECT_TRUE(c.evidence.empty());
  mark_failed_instructions(c, {false, true, false});  // the third has no span
  ASSERT_EQ(c.evidence.size(), 1u);
  EXPECT_EQ(c.evidence[0].chars, (Span{17, 43}));
  EXPECT_EQ(c.prompt.substr(c.evidence[0].bytes.begin, c.evidence[0].bytes.size()),
            "N'utilise pas de virgules.");
  mark_failed_instructions(c, {false, false, true});
  ASSERT_EQ(c.evidence.size(), 3u);
  EXPECT_EQ(c.evidence[0].bytes,
            (Span{0, 19}));  // "Écris un résumé.": 16 code points, 3 of 2 bytes
  EXPECT_EQ(c.evidence[2].chars, (Span{44, 53}));

  // Spans outside the prompt or out of order are refused, naming the field.
  for (const auto& [spans, problem] :
       {std::pair{std::string("[[50,60]]"), Problem::span_out_of_range},
        std::pair{std::string("[[5,9],[3,4]]"), Problem::span_order}}) {
    std::string bad = line;
    bad.replace(bad.find("[[17,43]]"), 9, spans);
    try {
      read_cases(write(bad + "\n"));
      ADD_FAILURE() << spans << ": accepted";
    } catch (const CaseError& e) {
      EXPECT_EQ(e.problem(), problem) << e.what();
      EXPECT_NE(std::string(e.what()).find("gold.instructions[0].evidence"), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(CaseFile, SegmentSpansTileThePromptInBytesAndCodePoints) {
  for (const Case& c : read_cases(kValid)) {
    std::string joined;
    std::size_t chars = 0;
    for (const Segment& s : c.segments) {
      EXPECT_EQ(s.span.bytes.begin, joined.size());
      EXPECT_EQ(c.prompt.substr(s.span.bytes.begin, s.span.bytes.size()), s.text);
      EXPECT_EQ(s.span.chars.begin, chars);
      joined += s.text;
      chars = s.span.chars.end;
    }
    EXPECT_EQ(c.prompt, joined) << c.id;
  }
}

TEST_F(CaseFile, NonAsciiEvidenceMapsCodePointsToBytes) {
  const Case c = read_cases(kValid)[2];
  ASSERT_EQ(c.evidence.size(), 1u);
  const TextSpan& e = c.evidence[0];
  // "Zürich" twice before the span: each ü is 2 bytes and 1 code point.
  EXPECT_EQ(e.bytes.begin, e.chars.begin + 2);
  EXPECT_EQ(c.prompt.substr(e.bytes.begin, e.bytes.size()), "on Lake Zürich");
  EXPECT_EQ(e.bytes.size(), e.chars.size() + 1);
  // The 4-byte tram emoji sits in the context segment; the question starts after it.
  EXPECT_EQ(c.segments[1].span.bytes.begin, c.segments[1].span.chars.begin + 3 + 3);
}

TEST_F(CaseFile, SegmentAtByteAssignsEveryByte) {
  const Case c = read_cases(kValid)[0];
  for (std::size_t i = 0; i < c.segments.size(); ++i) {
    const auto& b = c.segments[i].span.bytes;
    EXPECT_EQ(segment_at_byte(c, b.begin), i);
    EXPECT_EQ(segment_at_byte(c, b.end - 1), i);
  }
  EXPECT_EQ(segment_at_byte(c, c.prompt.size()), std::nullopt);
}

// --- malformed lines -------------------------------------------------------------

struct Mutation {
  const char* name;
  std::size_t fixture_line;  // 0-based line of the fixture to start from
  std::function<void(json&)> mutate;
  Problem problem;
  const char* field;  // expected in the message
};

std::vector<Mutation> mutations() {
  return {
      {"missing id", 0, [](json& j) { j.erase("id"); }, Problem::missing_field, "'id'"},
      {"missing segments", 0, [](json& j) { j.erase("segments"); }, Problem::missing_field,
       "'segments'"},
      {"missing gold", 2, [](json& j) { j.erase("gold"); }, Problem::missing_field, "'gold'"},
      {"missing gold index", 0, [](json& j) { j["gold"].erase("index"); }, Problem::missing_field,
       "'gold.index'"},
      {"missing letters for mc_letter", 0, [](json& j) { j["gold"].erase("letters"); },
       Problem::missing_field, "'gold.letters'"},
      {"missing judge", 2, [](json& j) { j["gold"].erase("judge"); }, Problem::missing_field,
       "'gold.judge'"},
      {"missing tests", 3, [](json& j) { j["gold"].erase("tests"); }, Problem::missing_field,
       "'gold.tests'"},
      {"missing segment text", 0, [](json& j) { j["segments"][1].erase("text"); },
       Problem::missing_field, "'segments[1].text'"},
      {"id not a string", 0, [](json& j) { j["id"] = 7; }, Problem::wrong_type, "'id'"},
      {"segments not an array", 0, [](json& j) { j["segments"] = "x"; }, Problem::wrong_type,
       "'segments'"},
      {"segment not an object", 0, [](json& j) { j["segments"][2] = "x"; }, Problem::wrong_type,
       "'segments[2]'"},
      {"index a float", 0, [](json& j) { j["gold"]["index"] = 1.5; }, Problem::wrong_type,
       "'gold.index'"},
      {"index a string", 0, [](json& j) { j["gold"]["index"] = "1"; }, Problem::wrong_type,
       "'gold.index'"},
      {"option not a string", 1, [](json& j) { j["gold"]["options"][0] = nullptr; },
       Problem::wrong_type, "'gold.options[0]'"},
      {"meta not an object", 0, [](json& j) { j["meta"] = json::array(); }, Problem::wrong_type,
       "'meta'"},
      {"evidence not pairs", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({1, 2, 3})});
       },
       Problem::wrong_type, "'evidence[0]'"},
      {"unknown top-level field", 0, [](json& j) { j["evidance"] = json::array(); },
       Problem::unknown_field, "'evidance'"},
      {"unknown gold field", 2, [](json& j) { j["gold"]["answers"] = "x"; }, Problem::unknown_field,
       "'gold.answers'"},
      {"unknown segment field", 0, [](json& j) { j["segments"][0]["role"] = "user"; },
       Problem::unknown_field, "'segments[0].role'"},
      {"unknown format", 0, [](json& j) { j["format"] = "mc_letters"; }, Problem::bad_value,
       "'format'"},
      {"unknown kind", 0, [](json& j) { j["segments"][0]["kind"] = "system"; }, Problem::bad_value,
       "'segments[0].kind'"},
      {"unknown judge", 2, [](json& j) { j["gold"]["judge"] = "regex"; }, Problem::bad_value,
       "'gold.judge'"},
      {"gold of another format", 2, [](json& j) { j["format"] = "code"; }, Problem::unknown_field,
       "'gold.aliases'"},
      {"negative index", 0, [](json& j) { j["gold"]["index"] = -1; }, Problem::bad_value,
       "'gold.index'"},
      {"max_new_tokens zero", 2, [](json& j) { j["gold"]["max_new_tokens"] = 0; },
       Problem::bad_value, "'gold.max_new_tokens'"},
      {"entry point not an identifier", 3, [](json& j) { j["gold"]["entry_point"] = "add-1"; },
       Problem::bad_value, "'gold.entry_point'"},
      {"language", 3, [](json& j) { j["gold"]["language"] = "cobol"; }, Problem::bad_value,
       "'gold.language'"},
      {"benchmark with a slash", 0, [](json& j) { j["benchmark"] = "a/b"; }, Problem::bad_value,
       "'benchmark'"},
      {"equal continuations", 1, [](json& j) { j["gold"]["continuations"][1] = " oxygen"; },
       Problem::bad_value, "'gold.continuations[1]'"},
      {"empty segment text", 0, [](json& j) { j["segments"][2]["text"] = ""; }, Problem::empty_text,
       "'segments[2].text'"},
      {"no segments", 0, [](json& j) { j["segments"] = json::array(); }, Problem::empty_text,
       "'segments'"},
      {"empty id", 0, [](json& j) { j["id"] = ""; }, Problem::empty_text, "'id'"},
      {"empty option", 0, [](json& j) { j["gold"]["options"][2] = ""; }, Problem::empty_text,
       "'gold.options[2]'"},
      {"empty answer", 2, [](json& j) { j["gold"]["answer"] = ""; }, Problem::empty_answer,
       "'gold.answer'"},
      {"blank answer", 2, [](json& j) { j["gold"]["answer"] = " \n"; }, Problem::empty_answer,
       "'gold.answer'"},
      {"empty reference", 2, [](json& j) { j["gold"]["reference"] = ""; }, Problem::empty_answer,
       "'gold.reference'"},
      {"empty tests", 3, [](json& j) { j["gold"]["tests"] = "  "; }, Problem::empty_answer,
       "'gold.tests'"},
      {"empty alias", 2, [](json& j) { j["gold"]["aliases"][0] = ""; }, Problem::empty_text,
       "'gold.aliases[0]'"},
      {"span past the prompt", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({10, 10000})});
       },
       Problem::span_out_of_range, "'evidence[0]'"},
      {"empty span", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({5, 5})});
       },
       Problem::span_out_of_range, "'evidence[0]'"},
      {"reversed span", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({9, 5})});
       },
       Problem::span_out_of_range, "'evidence[0]'"},
      {"negative span", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({-1, 5})});
       },
       Problem::bad_value, "'evidence[0][0]'"},
      {"unordered spans", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({10, 20}), json::array({0, 5})});
       },
       Problem::span_order, "'evidence[1]'"},
      {"overlapping spans", 2,
       [](json& j) {
         j["evidence"] = json::array({json::array({0, 10}), json::array({9, 12})});
       },
       Problem::span_order, "'evidence[1]'"},
      {"index past the options", 0, [](json& j) { j["gold"]["index"] = 3; }, Problem::gold_index,
       "'gold.index'"},
      {"fewer continuations", 0, [](json& j) { j["gold"]["continuations"].erase(2); },
       Problem::gold_index, "'gold.continuations'"},
      {"fewer letters", 0, [](json& j) { j["gold"]["letters"].erase(2); }, Problem::gold_index,
       "'gold.letters'"},
      {"one option", 1,
       [](json& j) {
         j["gold"]["options"] = {"x"};
         j["gold"]["continuations"] = {" x"};
         j["gold"]["index"] = 0;
       },
       Problem::gold_index, "'gold.options'"},
  };
}

TEST_F(CaseFile, EachMalformedLineIsRejectedWithProblemLineAndField) {
  const auto lines = fixture_lines();
  for (const Mutation& m : mutations()) {
    json j = json::parse(lines.at(m.fixture_line));
    m.mutate(j);
    // The bad line is the second one: line numbers must say 2.
    const std::string file = write(lines[0] + "\n" + j.dump() + "\n");
    CaseReader reader(file);
    ASSERT_TRUE(reader.next().has_value()) << m.name;
    try {
      reader.next();
      ADD_FAILURE() << m.name << ": accepted";
    } catch (const CaseError& e) {
      EXPECT_EQ(e.problem(), m.problem) << m.name << ": " << e.what();
      EXPECT_EQ(e.where().line, 2u) << m.name;
      EXPECT_EQ(e.where().file, file) << m.name;
      const std::string what = e.what();
      EXPECT_NE(what.find("line 2"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("field ") + m.field), std::string::npos)
          << m.name << ": " << what;
    }
  }
}

TEST_F(CaseFile, SyntaxErrorsNameTheByteOffset) {
  const auto lines = fixture_lines();
  const std::string bad = R"({"id": "x", "benchmark": })";
  const std::string file = write(lines[0] + "\n" + bad + "\n");
  CaseReader reader(file);
  reader.next();
  try {
    reader.next();
    FAIL() << "accepted";
  } catch (const CaseError& e) {
    EXPECT_EQ(e.problem(), Problem::invalid_json);
    EXPECT_EQ(e.where().line, 2u);
    // The '}' where a value should be: an absolute offset into the file.
    EXPECT_EQ(e.where().offset, lines[0].size() + 1 + bad.find('}'));
  }
}

TEST_F(CaseFile, NotAnObjectAndTooDeep) {
  std::string deep(300, '[');
  deep += std::string(300, ']');
  const std::string file = write("[1, 2]\n" + deep + "\n\"text\"\n");
  ReadOptions skip;
  skip.on_error = OnError::skip;
  ReadCounts counts;
  EXPECT_TRUE(read_cases(file, skip, &counts).empty());
  EXPECT_EQ(counts.by_problem[static_cast<std::size_t>(Problem::not_an_object)], 2u);
  EXPECT_EQ(counts.by_problem[static_cast<std::size_t>(Problem::invalid_json)], 1u);
}

TEST_F(CaseFile, InvalidUtf8IsReportedAtItsByte) {
  const auto lines = fixture_lines();
  for (const std::string& bytes :
       {std::string("\xC3"), std::string("\xED\xA0\x80"), std::string("\xC0\xAF"),
        std::string("\xF4\x90\x80\x80"), std::string("\x80")}) {
    std::string line = lines[1];
    const std::size_t at = line.find("oxygen");
    line.insert(at, bytes);
    const std::string file = write(lines[0] + "\n" + line + "\n");
    CaseReader reader(file);
    reader.next();
    try {
      reader.next();
      ADD_FAILURE() << "accepted invalid UTF-8";
    } catch (const CaseError& e) {
      EXPECT_EQ(e.problem(), Problem::invalid_utf8);
      EXPECT_EQ(e.where().offset, lines[0].size() + 1 + at);
      EXPECT_EQ(e.where().line, 2u);
    }
  }
}

TEST_F(CaseFile, TruncatedFileIsNamedAsSuch) {
  std::ifstream in(kValid, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t last_start = all.rfind('\n', all.size() - 2) + 1;
  const std::string file = write(all.substr(0, last_start + 40));  // cut inside the 4th line
  CaseReader reader(file);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(reader.next().has_value());
  try {
    reader.next();
    FAIL() << "accepted a truncated line";
  } catch (const CaseError& e) {
    EXPECT_EQ(e.problem(), Problem::truncated);
    EXPECT_EQ(e.where().line, 4u);
  }
}

TEST_F(CaseFile, CompleteLastLineWithoutNewlineIsAccepted) {
  const auto lines = fixture_lines();
  const std::string file = write(lines[0] + "\n" + lines[1]);
  EXPECT_EQ(read_cases(file).size(), 2u);
}

TEST_F(CaseFile, BlankLinesAreCountedNotCases) {
  const auto lines = fixture_lines();
  const std::string file = write("\n" + lines[0] + "\n  \t\r\n" + lines[1] + "\r\n");
  ReadCounts counts;
  EXPECT_EQ(read_cases(file, {}, &counts).size(), 2u);
  EXPECT_EQ(counts.blank, 2u);
  EXPECT_EQ(counts.lines, 4u);
}

TEST_F(CaseFile, DuplicateIdsAreRejected) {
  const auto lines = fixture_lines();
  const std::string file = write(lines[0] + "\n" + lines[1] + "\n" + lines[0] + "\n");
  try {
    read_cases(file);
    FAIL() << "accepted a duplicate id";
  } catch (const CaseError& e) {
    EXPECT_EQ(e.problem(), Problem::duplicate_id);
    EXPECT_EQ(e.where().line, 3u);
  }
  ReadOptions off;
  off.check_duplicate_ids = false;
  EXPECT_EQ(read_cases(file, off).size(), 3u);
}

TEST_F(CaseFile, OverlongLinesAreSkippedWithoutKeepingThem) {
  const auto lines = fixture_lines();
  const std::string file = write(lines[0] + "\n" + lines[1] + "\n" + lines[3] + "\n");
  ReadOptions o;
  o.on_error = OnError::skip;
  o.max_line_bytes = lines[1].size() + 10;  // lines 1 and 2 fit, the code case does not
  ReadCounts counts;
  auto cases = read_cases(file, o, &counts);
  ASSERT_EQ(cases.size(), 1u + (lines[0].size() <= o.max_line_bytes));
  EXPECT_EQ(counts.by_problem[static_cast<std::size_t>(Problem::line_too_long)], counts.skipped);
  EXPECT_GE(counts.skipped, 1u);
}

TEST_F(CaseFile, SkipModeCountsByProblemAndKeepsMessages) {
  const auto lines = fixture_lines();
  json no_id = json::parse(lines[0]);
  no_id.erase("id");
  json bad_index = json::parse(lines[1]);
  bad_index["gold"]["index"] = 9;
  std::string content = lines[0] + "\n" + no_id.dump() + "\n{oops\n" + lines[1] + "\n" +
                        bad_index.dump() + "\n\n" + lines[2] + "\n" + lines[3] + "\n" + "{\"id\":";
  const std::string file = write(content);
  ReadOptions o;
  o.on_error = OnError::skip;
  o.max_messages = 2;
  CaseReader reader(file, o);
  std::vector<std::string> ids;
  while (auto c = reader.next())
    ids.push_back(c->id);
  const ReadCounts& n = reader.counts();
  EXPECT_EQ(ids, (std::vector<std::string>{"toy/mc_letter/1", "toy/mc_cloze/1", "toy/generative/ü",
                                           "toy/code/0"}));
  EXPECT_EQ(n.read, 4u);
  EXPECT_EQ(n.skipped, 4u);
  EXPECT_EQ(n.blank, 1u);
  EXPECT_EQ(n.lines, 9u);
  EXPECT_EQ(n.by_problem[static_cast<std::size_t>(Problem::missing_field)], 1u);
  EXPECT_EQ(n.by_problem[static_cast<std::size_t>(Problem::invalid_json)], 1u);
  EXPECT_EQ(n.by_problem[static_cast<std::size_t>(Problem::gold_index)], 1u);
  EXPECT_EQ(n.by_problem[static_cast<std::size_t>(Problem::truncated)], 1u);
  ASSERT_EQ(n.messages.size(), 2u);
  EXPECT_NE(n.messages[0].find("line 2"), std::string::npos) << n.messages[0];
  EXPECT_NE(n.messages[1].find("line 3"), std::string::npos) << n.messages[1];
  EXPECT_EQ(n.summary(),
            "read 4 cases, skipped 4 (invalid_json 1, truncated 1, missing_field 1, gold_index 1), "
            "1 blank line");
}

TEST_F(CaseFile, StopModeThrowsAtTheFirstBadLine) {
  const auto lines = fixture_lines();
  const std::string file = write(lines[0] + "\n{oops\n" + lines[1] + "\n");
  CaseReader reader(file);
  EXPECT_TRUE(reader.next().has_value());
  EXPECT_THROW(reader.next(), CaseError);
  EXPECT_EQ(reader.counts().read, 1u);
}

TEST_F(CaseFile, MissingFileIsAnError) {
  try {
    CaseReader reader(path("absent.jsonl"));
    FAIL() << "opened a missing file";
  } catch (const clrp::Error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.jsonl"), std::string::npos);
  }
}

TEST_F(CaseFile, EmptyFileHasNoCases) {
  ReadCounts counts;
  EXPECT_TRUE(read_cases(write(""), {}, &counts).empty());
  EXPECT_EQ(counts.summary(), "read 0 cases, skipped 0");
}

}  // namespace
