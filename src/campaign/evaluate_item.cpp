#include "clrp/campaign/evaluate_item.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "clrp/cases/case_file.hpp"
#include "clrp/eval/prompt_state.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

// JSON text that survives invalid UTF-8 (a generation cut inside a
// character, a judge's stderr): replaced by U+FFFD, as clrp evaluate does.
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

eval::EvalOptions eval_options(const BenchmarkSpec& b) {
  eval::EvalOptions o;
  o.max_new_tokens = b.max_new_tokens;
  o.decide_per_char = b.decide_per_char;
  o.min_delta = b.min_delta;
  o.generative_pairs = b.pairs;
  o.budget = b.search;
  o.instructions.timeout_seconds = b.checker_timeout;
  o.record_ids = true;
  return o;
}

std::unique_ptr<eval::Evaluator> make_evaluator(const model::LoadedModel& m,
                                                const model::IncrementalModel& decoder,
                                                const BenchmarkSpec& b) {
  return std::make_unique<eval::Evaluator>(
      decoder, *m.tokenizer,
      [&m, chat = b.chat](const std::string& prompt) {
        return eval::render_prompt(m, prompt, chat);
      },
      m.checkpoint.path(), b.chat, eval_options(b));
}

namespace {

// The row of one item from its evaluation (or the message why it has none).
store::EvaluationRecord evaluation_record(const Item& item, std::uint32_t table,
                                          eval::Evaluated& e) {
  store::EvaluationRecord r;
  r.table = table;
  r.case_id = item.c.id;
  r.item_index = item.index;
  nlohmann::json detail;
  if (!e.outcome) {
    r.outcome = store::ItemOutcome::error;
    detail = {{"id", item.c.id}, {"error", e.error}};
    r.detail = dump(detail);
    return r;
  }
  eval::Outcome& o = *e.outcome;
  r.outcome = o.correct ? store::ItemOutcome::correct
              : o.pair  ? store::ItemOutcome::failure_with_pair
                        : store::ItemOutcome::failure_no_pair;
  r.correct_per_char = o.correct_per_char ? 1 : 0;
  r.prompt_tokens = static_cast<std::uint32_t>(o.prompt_tokens);
  r.generated_tokens = static_cast<std::uint32_t>(o.generated_tokens);
  detail = std::move(o.record);
  detail.erase("prompt_ids");  // the prompt is the item's; its length is a column
  if (detail.contains("pair_position"))
    r.pair_position = detail["pair_position"].get<std::int32_t>();
  if (o.pair) {
    r.wrong_id = o.pair->wrong.id;
    r.correct_id = o.pair->correct.id;
    r.wrong_logit = o.pair->wrong.logit;
    r.correct_logit = o.pair->correct.logit;
    r.delta = o.pair->delta;
    detail["pair"] = nlohmann::json::parse(dump(cases::pair_to_json(*o.pair)));
  } else if (detail.contains("pair_delta")) {
    r.delta = detail["pair_delta"].get<double>();  // a weak preference, kept for its Δℓ
  }
  r.detail = dump(detail);
  return r;
}

}  // namespace

std::vector<store::EvaluationRecord> evaluate_items(const eval::Evaluator& evaluator,
                                                    const std::vector<const Item*>& items,
                                                    const std::vector<std::uint32_t>& tables) {
  const double t0 = util::steady_seconds();
  std::vector<const cases::Case*> asked;
  for (const Item* item : items)
    asked.push_back(&item->c);
  std::vector<eval::Evaluated> results = evaluator.evaluate(asked);
  const double share =
      (util::steady_seconds() - t0) / static_cast<double>(std::max<std::size_t>(1, items.size()));
  std::vector<store::EvaluationRecord> out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    out.push_back(evaluation_record(*items[i], tables[i], results[i]));
    out.back().seconds = share;
  }
  return out;
}

}  // namespace clrp::campaign
