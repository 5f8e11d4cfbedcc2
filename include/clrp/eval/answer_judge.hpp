// Whether a completion answers a case: the case's judge (docs/cases.md) for
// generative items, the tests run in the sandbox for code, the instruction
// checkers for IFEval.
#pragma once

#include <string>
#include <string_view>

#include "clrp/cases/case.hpp"
#include "clrp/judge/code_judge.hpp"
#include "clrp/judge/instruction_judge.hpp"

namespace clrp::eval {

struct Verdict {
  bool correct = false;
  std::string reason;  ///< what the judge saw ("extracted 18", "exit 1: AssertionError", ...)
};

/// Judges a generated answer against AnswerGold with gold.judge:
///   number      the output's final number (gsm8k_extract) equals the answer or an alias by value
///   math        math_correct against the answer or an alias
///   squad       the first line, SQuAD-normalised, equals the answer or an alias
///   first_word  lambada_correct against the answer
///   contains    the normalised output contains the normalised answer or an alias
Verdict judge_answer(const cases::AnswerGold& gold, std::string_view completion);

/// Runs program_prefix + completion + "\n\n" + tests in the sandbox.
Verdict judge_code(const cases::CodeGold& gold, std::string_view completion,
                   const judge::CodeJudgeOptions& options);

/// IFEval: right when every instruction is followed by the strict verdict.
/// The reason names those that were not ("not followed: punctuation:no_comma").
Verdict instructions_verdict(const cases::InstructionGold& gold,
                             const judge::InstructionVerdict& followed);

}  // namespace clrp::eval
