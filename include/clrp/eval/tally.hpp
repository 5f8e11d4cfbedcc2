// Accuracy per benchmark and formulation, and what became of each failure:
// a pair, or the reason it has none. Nothing is dropped silently: every case
// read is counted as correct, a failure with a pair, a failure without one
// (by reason), or a case that could not be evaluated (by message).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "clrp/cases/case.hpp"
#include "clrp/eval/evaluator.hpp"

namespace clrp::eval {

struct GroupTally {
  std::int64_t cases = 0;
  std::int64_t correct = 0;
  std::int64_t correct_per_char = 0;  ///< mc_cloze only
  std::int64_t pairs = 0;
  std::int64_t errors = 0;                      ///< cases that could not be evaluated
  std::map<std::string, std::int64_t> no_pair;  ///< failures without a pair, by reason
  std::int64_t prompt_tokens = 0, generated_tokens = 0;
  /// instructions (IFEval) only: prompts all of whose instructions pass the
  /// loose test, and instructions followed strictly and loosely, of `instructions`.
  std::int64_t prompts_loose = 0, instructions = 0, instructions_strict = 0, instructions_loose = 0;
};

class Tally {
 public:
  void add(const cases::Case& c, const Outcome& o);
  void add_error(const cases::Case& c, const std::string& message);

  std::int64_t cases() const;
  std::int64_t failures() const;
  std::int64_t pairs() const;
  std::int64_t errors() const;
  std::int64_t generated_tokens() const;
  /// {"benchmark/format": {cases, correct, accuracy, [accuracy_per_char], failures, pairs,
  ///  no_pair: {reason: n}, errors}}, plus "errors_first" (the first messages). IFEval
  /// groups add its four metrics: prompt_level_strict (= accuracy), prompt_level_loose,
  /// instruction_level_strict, instruction_level_loose, and the instruction count.
  nlohmann::json to_json() const;
  /// One line per group: "arc_easy/mc_cloze  300 cases  acc 0.633  per-char 0.603  ...".
  std::string table() const;

 private:
  std::map<std::string, GroupTally> groups_;
  std::vector<std::string> error_messages_;
};

}  // namespace clrp::eval
