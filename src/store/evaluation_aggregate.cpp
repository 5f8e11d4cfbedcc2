#include "evaluation_aggregate.hpp"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "clrp/store/aggregate.hpp"
#include "h5.hpp"

namespace clrp::store {

const char* const kEvaluationColumnNames[kEvaluationColumns] = {
    "items",          "scored",          "correct",           "accuracy",         "accuracy_low",
    "accuracy_high",  "errors",          "failures",          "with_pair",        "pair_yield",
    "pair_yield_low", "pair_yield_high", "accuracy_per_char", "generated_tokens", "seconds"};

std::pair<double, double> wilson_interval(double k, double n) {
  if (!(n > 0)) return {std::nan(""), std::nan("")};
  constexpr double z = 1.959963984540054;  // the normal's 97.5 % quantile
  const double p = k / n, z2 = z * z;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

namespace {

// IFEval's four metrics from the checkers' verdicts in the detail: a prompt
// passes when every instruction does (strict, loose); instructions count
// one by one.
struct InstructionCounts {
  double prompts = 0, prompts_strict = 0, prompts_loose = 0;
  double instructions = 0, strict = 0, loose = 0;

  void add(const nlohmann::json& detail) {
    if (!detail.contains("instructions_strict")) return;
    const auto s = detail["instructions_strict"].get<std::vector<bool>>();
    const auto l = detail["instructions_loose"].get<std::vector<bool>>();
    prompts += 1;
    bool all_s = true, all_l = true;
    for (bool b : s)
      strict += b, all_s = all_s && b;
    for (bool b : l)
      loose += b, all_l = all_l && b;
    instructions += static_cast<double>(s.size());
    prompts_strict += all_s;
    prompts_loose += all_l;
  }
};

}  // namespace

void write_evaluation_aggregates(hid_t agg, const std::vector<EvaluationRecord>& rows, bool writer,
                                 hid_t dxpl) {
  double items = 0, errors = 0, correct = 0, per_char = 0, failures = 0, with_pair = 0,
         generated = 0, seconds = 0;
  std::map<std::string, double> reasons;
  InstructionCounts ifeval;
  for (const EvaluationRecord& r : rows) {
    items += 1;
    generated += r.generated_tokens;
    seconds += r.seconds;
    if (r.outcome == ItemOutcome::error) {
      errors += 1;
      continue;
    }
    per_char += r.correct_per_char;
    const auto detail = nlohmann::json::parse(r.detail, nullptr, false);
    if (detail.is_object()) ifeval.add(detail);
    if (r.outcome == ItemOutcome::correct) {
      correct += 1;
      continue;
    }
    failures += 1;
    with_pair += r.outcome == ItemOutcome::failure_with_pair;
    if (r.outcome == ItemOutcome::failure_no_pair)
      reasons[detail.is_object() ? detail.value("no_pair", std::string("unknown")) : "unknown"] +=
          1;
  }
  const double scored = items - errors;
  const auto [acc_lo, acc_hi] = wilson_interval(correct, scored);
  const auto [yield_lo, yield_hi] = wilson_interval(with_pair, failures);
  const double nan = std::nan("");
  h5::write_doubles(agg, "evaluation", {kEvaluationColumns},
                    {items, scored, correct, scored > 0 ? correct / scored : nan, acc_lo, acc_hi,
                     errors, failures, with_pair, failures > 0 ? with_pair / failures : nan,
                     yield_lo, yield_hi, scored > 0 ? per_char / scored : nan, generated, seconds},
                    writer, dxpl);
  const std::vector<std::string> columns(kEvaluationColumnNames,
                                         kEvaluationColumnNames + kEvaluationColumns);
  h5::set_attr(agg, "evaluation_columns", nlohmann::json(columns).dump());
  std::vector<std::string> names;
  std::vector<double> counts;
  for (const auto& [reason, n] : reasons)
    names.push_back(reason), counts.push_back(n);
  h5::write_doubles(agg, "no_pair_reasons", {counts.size()}, counts, writer, dxpl);
  h5::set_attr(agg, "no_pair_reason_names", nlohmann::json(names).dump());
  if (ifeval.prompts > 0) {
    const double p = ifeval.prompts, n = ifeval.instructions;
    h5::write_doubles(agg, "instructions", {5},
                      {ifeval.prompts_strict / p, ifeval.prompts_loose / p,
                       n > 0 ? ifeval.strict / n : nan, n > 0 ? ifeval.loose / n : nan, n},
                      writer, dxpl);
    h5::set_attr(
        agg, "instructions_columns",
        nlohmann::json({"prompt_level_strict", "prompt_level_loose", "instruction_level_strict",
                        "instruction_level_loose", "instructions"})
            .dump());
  }
}

}  // namespace clrp::store
