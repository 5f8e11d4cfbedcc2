// One benchmark item under one model: the campaign's side of the evaluator
// (eval/evaluator.hpp, the code behind `clrp evaluate`), and what the store
// keeps of it (store::EvaluationRecord).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "clrp/campaign/plan.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/eval/evaluator.hpp"
#include "clrp/model/load.hpp"
#include "clrp/store/record.hpp"

namespace clrp::campaign {

/// The evaluator options a benchmark's spec asks for (the same knobs as
/// `clrp evaluate`'s flags; generated token ids are recorded).
eval::EvalOptions eval_options(const BenchmarkSpec& b);

/// An evaluator of model `m` for benchmark `b` (its prompts rendered with the
/// chat template when the benchmark asks), decoding with `decoder`: m's whole
/// model, or its pipeline group's stages. Both must outlive it.
std::unique_ptr<eval::Evaluator> make_evaluator(const model::LoadedModel& m,
                                                const model::IncrementalModel& decoder,
                                                const BenchmarkSpec& b);

/// Evaluates `items` (of one benchmark, under the evaluator's model) together
/// — their generated answers decode as one batch — and returns their rows,
/// one per item in order, of tables `tables[i]`: the outcome, the pair's
/// tokens and Δℓ, and in `detail` the evaluator's record (answer, verdict,
/// stop reason, generated ids, the pair, why there is none). An item that
/// cannot be evaluated (longer than the context, a judge that fails) is a row
/// with outcome `error` and the message, not an exception. `seconds` is each
/// item's share of the batch's time.
std::vector<store::EvaluationRecord> evaluate_items(const eval::Evaluator& evaluator,
                                                    const std::vector<const Item*>& items,
                                                    const std::vector<std::uint32_t>& tables);

}  // namespace clrp::campaign
