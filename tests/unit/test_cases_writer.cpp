// Case writer: the fixture read and written again is the same bytes (the
// Python preparer writes this exact format), invalid cases are refused, and
// nothing appears under the final name before commit().
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"

namespace {

using namespace clrp::cases;

const std::string kValid = std::string(CLRP_TEST_DATA_DIR) + "/cases/valid.jsonl";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class CaseWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("clrp_case_writer_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string out(const std::string& name) { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

Case generative_case() {
  Case c;
  c.id = "gen/1";
  c.benchmark = "toy";
  c.format = Format::generative;
  c.segments = {{SegmentKind::context, "Ünïcode haystack. ", {}},
                {SegmentKind::needle, "The key is 42.", {}},
                {SegmentKind::question, "\nQuestion: What is the key?\n", {}},
                {SegmentKind::answer_prefix, "Answer:", {}}};
  AnswerGold g;
  g.answer = "42";
  g.judge = Judge::number;
  g.reference = " 42";
  g.stop = {"\n"};
  g.max_new_tokens = 8;
  c.gold = g;
  c.evidence = {TextSpan{{18, 32}, {}}};
  c.meta = {{"depth", 50}, {"a", "first"}};
  finalize(c);
  return c;
}

TEST_F(CaseWriterTest, RoundTripIsByteIdentical) {
  const std::string path = out("copy.jsonl");
  {
    CaseWriter w(path);
    for (const Case& c : read_cases(kValid))
      w.write(c);
    w.commit();
    EXPECT_EQ(w.written(), 4u);
  }
  EXPECT_EQ(slurp(path), slurp(kValid));
}

TEST_F(CaseWriterTest, BuiltCaseHasSpansAndFixedKeyOrder) {
  const Case c = generative_case();
  EXPECT_EQ(c.prompt.substr(c.evidence[0].bytes.begin, c.evidence[0].bytes.size()),
            "The key is 42.");
  EXPECT_EQ(c.segments[1].span.bytes.begin, 20u);  // "Ü" and "ï" take two bytes each
  EXPECT_EQ(
      case_to_json_line(c),
      R"({"id":"gen/1","benchmark":"toy","format":"generative","segments":[)"
      R"({"kind":"context","text":"Ünïcode haystack. "},{"kind":"needle","text":"The key is 42."},)"
      R"({"kind":"question","text":"\nQuestion: What is the key?\n"},{"kind":"answer_prefix","text":"Answer:"}],)"
      R"("gold":{"answer":"42","aliases":[],"judge":"number","reference":" 42","stop":["\n"],"max_new_tokens":8},)"
      R"("evidence":[[18,32]],"meta":{"a":"first","depth":50}})");
}

TEST_F(CaseWriterTest, WrittenCaseReadsBackEqual) {
  const std::string path = out("one.jsonl");
  {
    CaseWriter w(path);
    w.write(generative_case());
    w.commit();
  }
  const auto back = read_cases(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].prompt, generative_case().prompt);
  EXPECT_EQ(back[0].evidence, generative_case().evidence);
  EXPECT_EQ(back[0].meta, generative_case().meta);
  EXPECT_EQ(case_to_json_line(back[0]), case_to_json_line(generative_case()));
}

TEST_F(CaseWriterTest, NothingUnderTheFinalNameBeforeCommit) {
  const std::string path = out("atomic.jsonl");
  {
    CaseWriter w(path);
    w.write(generative_case());
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_TRUE(std::filesystem::exists(path + ".partial"));
  }  // destroyed without commit
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST_F(CaseWriterTest, RefusesInvalidCasesAndDuplicates) {
  CaseWriter w(out("refuse.jsonl"));
  Case c = generative_case();
  std::get<AnswerGold>(c.gold).answer = "";
  try {
    w.write(c);
    FAIL() << "wrote an empty answer";
  } catch (const CaseError& e) {
    EXPECT_EQ(e.problem(), Problem::empty_answer);
  }
  Case wrong = generative_case();
  wrong.format = Format::mc_letter;  // gold is still an AnswerGold
  EXPECT_THROW(w.write(wrong), CaseError);
  Case bad_utf8 = generative_case();
  bad_utf8.segments[0].text = "\xFF";
  EXPECT_THROW(w.write(bad_utf8), CaseError);
  w.write(generative_case());
  EXPECT_THROW(w.write(generative_case()), CaseError);
  EXPECT_EQ(w.written(), 1u);
}

TEST(CaseFinalize, EvidenceOutsideThePromptIsAnError) {
  Case c = generative_case();
  c.evidence = {TextSpan{{0, 1000}, {}}};
  EXPECT_THROW(finalize(c), clrp::Error);
}

TEST(CaseNames, EveryNameParsesBack) {
  for (auto f : {Format::mc_letter, Format::mc_cloze, Format::generative, Format::code,
                 Format::instructions})
    EXPECT_EQ(parse_format(name(f)), f);
  for (auto k :
       {SegmentKind::instruction, SegmentKind::fewshot, SegmentKind::context, SegmentKind::needle,
        SegmentKind::question, SegmentKind::options, SegmentKind::code, SegmentKind::answer_prefix})
    EXPECT_EQ(parse_segment_kind(name(k)), k);
  for (auto j : {Judge::squad, Judge::number, Judge::math, Judge::first_word, Judge::contains})
    EXPECT_EQ(parse_judge(name(j)), j);
  EXPECT_EQ(parse_format("MC_LETTER"), std::nullopt);
}

}  // namespace
