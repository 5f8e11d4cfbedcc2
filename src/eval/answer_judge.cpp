#include "clrp/eval/answer_judge.hpp"

#include "clrp/judge/gsm8k.hpp"
#include "clrp/judge/math_answer.hpp"
#include "clrp/judge/numbers.hpp"
#include "clrp/judge/text_match.hpp"

namespace clrp::eval {

namespace {

std::vector<std::string> accepted(const cases::AnswerGold& g) {
  std::vector<std::string> all{g.answer};
  all.insert(all.end(), g.aliases.begin(), g.aliases.end());
  return all;
}

}  // namespace

Verdict judge_answer(const cases::AnswerGold& gold, std::string_view completion) {
  const auto answers = accepted(gold);
  switch (gold.judge) {
    case cases::Judge::number: {
      const auto got = judge::gsm8k_extract(completion);
      if (!got) return {false, "no number in the output"};
      for (const auto& a : answers) {
        const auto want = judge::parse_number(a);
        if (want && judge::numbers_equal(*got, *want))
          return {true, "extracted " + judge::canonical_number(*got)};
      }
      return {false, "extracted " + judge::canonical_number(*got)};
    }
    case cases::Judge::math: {
      for (const auto& a : answers)
        if (judge::math_correct(completion, a)) return {true, "equivalent"};
      const auto got = judge::math_extract(completion);
      return {false, got ? "extracted " + *got : "no answer found"};
    }
    case cases::Judge::squad: {
      const std::string line = judge::first_line(completion);
      return {judge::alias_match(line, answers), "answer line " + line};
    }
    case cases::Judge::first_word: {
      for (const auto& a : answers)
        if (judge::lambada_correct(completion, a)) return {true, "first word matches"};
      return {false, "first word differs"};
    }
    case cases::Judge::contains: {
      const std::string text = judge::squad_normalize(completion);
      for (const auto& a : answers) {
        const std::string want = judge::squad_normalize(a);
        if (!want.empty() && text.find(want) != std::string::npos) return {true, "contains"};
      }
      return {false, "does not contain the answer"};
    }
  }
  return {false, "unknown judge"};
}

Verdict judge_code(const cases::CodeGold& gold, std::string_view completion,
                   const judge::CodeJudgeOptions& options) {
  std::string program = gold.program_prefix;
  program.append(completion);
  program += "\n\n";
  program += gold.tests;
  const judge::CodeVerdict v = judge::run_code_judge(program, options);
  return {v.passed, v.reason};
}

Verdict instructions_verdict(const cases::InstructionGold& gold,
                             const judge::InstructionVerdict& v) {
  std::string missed;
  for (std::size_t i = 0; i < v.strict.size(); ++i)
    if (!v.strict[i]) missed += (missed.empty() ? "" : ", ") + gold.instructions[i].id;
  if (missed.empty()) return {true, "all " + std::to_string(v.strict.size()) + " followed"};
  return {false, "not followed: " + missed};
}

}  // namespace clrp::eval
