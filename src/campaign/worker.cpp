#include "clrp/campaign/worker.hpp"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <thread>

#include "clrp/campaign/evaluate_item.hpp"
#include "clrp/campaign/explain_case.hpp"
#include "clrp/campaign/group.hpp"
#include "clrp/util/clock.hpp"

namespace clrp::campaign {

namespace {

int test_case_delay_ms() {
  const char* v = std::getenv("CLRP_TEST_CASE_DELAY_MS");
  return v != nullptr ? std::atoi(v) : 0;
}

}  // namespace

Worker::Worker(const CampaignSpec& spec, const Plan& plan, GroupMember& group, int rank,
               RankLog& log)
    : failed_by_table(plan.tables.size(), 0),
      spec_(spec),
      plan_(plan),
      group_(group),
      rank_(rank),
      log_(log),
      delay_ms_(test_case_delay_ms()) {}

void Worker::explain(const std::vector<std::uint32_t>& batch, std::vector<store::CaseRecord>& out) {
  if (batch.empty()) return;
  const std::uint32_t target = plan_.tasks[batch.front()].target;  // one target per batch
  const model::LoadedModel& m = group_.target(target);
  Prepared p = prepare(batch, m);
  if (p.records.empty()) return;
  // One pass of the whole group over the batch: cases are its micro-batches.
  const auto results = group_.explain(target, p.ids, p.records);
  for (std::size_t i = 0; i < p.records.size(); ++i) {
    store::CaseRecord& r = p.records[i];
    if (!results[i].ok()) {
      fail(*p.tasks[i], r.case_id, results[i].error);
      continue;
    }
    try {
      record(target, m.checkpoint.config(), *p.tasks[i], p.ids[i], results[i], r);
    } catch (const std::exception& e) {
      fail(*p.tasks[i], r.case_id, e.what());
      continue;
    }
    r.rank = rank_;
    log_.line("case ", r.case_id, " table ", r.table, ": ", r.tokens.size(), " tokens, delta ",
              r.delta, ", ", r.seconds_forward + r.seconds_backward, " s");
    out.push_back(std::move(r));
    ++done;
  }
}

void Worker::start_phase() {
  done = 0;
  failed = 0;
  evaluators_.clear();  // they hold the loaded model, which the next phase may replace
}

void Worker::evaluate(const std::vector<std::uint32_t>& batch,
                      std::vector<store::EvaluationRecord>& out) {
  if (batch.empty()) return;
  const std::uint32_t target = plan_.evaluations[batch.front()].target;  // one target per batch
  const model::LoadedModel& m = group_.target(target);
  const model::IncrementalModel& decoder = group_.decoder(target);
  if (evaluators_target_ != target || evaluators_.empty()) {
    evaluators_.clear();
    evaluators_.resize(spec_.benchmarks.size());
    evaluators_target_ = target;
  }
  // The batch's items by benchmark (each benchmark its evaluator), in order.
  std::vector<std::vector<const EvalTask*>> by_benchmark(spec_.benchmarks.size());
  for (auto ei : batch)
    by_benchmark[plan_.items[plan_.evaluations[ei].item].benchmark].push_back(
        &plan_.evaluations[ei]);
  for (std::size_t b = 0; b < by_benchmark.size(); ++b) {
    if (by_benchmark[b].empty()) continue;
    auto& evaluator = evaluators_[b];
    if (!evaluator) evaluator = make_evaluator(m, decoder, spec_.benchmarks[b]);
    std::vector<const Item*> items;
    std::vector<std::uint32_t> tables;
    for (const EvalTask* task : by_benchmark[b]) {
      items.push_back(&plan_.items[task->item]);
      tables.push_back(task->table);
    }
    if (delay_ms_ > 0)
      std::this_thread::sleep_for(
          std::chrono::milliseconds(delay_ms_ * static_cast<int>(items.size())));
    for (store::EvaluationRecord& r : evaluate_items(*evaluator, items, tables)) {
      r.rank = rank_;
      log_.line("item ", r.case_id, " table ", r.table, ": ",
                store::kOutcomeNames[static_cast<int>(r.outcome)], ", ", r.generated_tokens,
                " generated tokens, ", r.seconds, " s");
      out.push_back(std::move(r));
      ++done;
    }
  }
}

// Every case is prepared on its own; those that do not fit the model fail
// here, alone.
Worker::Prepared Worker::prepare(const std::vector<std::uint32_t>& batch,
                                 const model::LoadedModel& m) {
  const model::ModelConfig& config = m.checkpoint.config();
  Prepared p;
  for (auto ti : batch) {
    const Task& task = plan_.tasks[ti];
    const FailureCase& fc = plan_.pairs[task.pair];
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    try {
      at::Tensor case_ids;
      const eval::RenderedPrompt prompt = eval::render_prompt(m, fc.c.prompt, fc.pair.chat);
      p.records.push_back(prepare_case(fc, prompt, config, *m.tokenizer, task.table, case_ids));
      p.ids.push_back(case_ids);
      p.tasks.push_back(&task);
    } catch (const std::exception& e) {
      fail(task, fc.c.id, e.what());
    }
  }
  return p;
}

void Worker::record(std::uint32_t target, const model::ModelConfig& config, const Task& task,
                    const at::Tensor& ids, const lrp::MicroBatchResult& result,
                    store::CaseRecord& r) {
  r.seconds_forward = result.forward_seconds;
  r.seconds_backward = result.backward_seconds;
  record_relevance(r, result.rules, spec_, config.num_layers);
  const lrp::DeltaOf delta_of = [&](const std::vector<lrp::ValueInput>& inputs) {
    return group_.values(target, inputs, r.wrong_id, r.correct_id);
  };
  const text::Tokenizer& tokenizer = *group_.target(target).tokenizer;
  const std::vector<char> removable = lrp::removable_tokens(
      r.token_segment, r.tokens, [&](std::int32_t id) { return tokenizer.is_special(id); });
  record_deletion(r, spec_, removable, delta_of, group_.stages());
  // The graph first: its intervention test decides the outcome of failures
  // whose input attribution is not informative.
  std::optional<lrp::GraphScores> graph_scores;
  if (spec_.graphs.enabled()) {
    r.graph_summary.assign(store::kGraphSummaryColumns, std::nan(""));
    if (task.graph) {
      const graph::Graph g = group_.graph(target, ids, r);
      std::optional<graph::InterventionTest> tested;
      if (spec_.graphs.interventions > 0) {
        const auto t0 = std::chrono::steady_clock::now();
        tested = graph::test_interventions(g, {r.tokens.begin(), r.tokens.end()}, delta_of,
                                           {.nodes = spec_.graphs.interventions});
        // A graph with too few testable nodes (r is NaN) was not tested, not failed.
        if (std::isfinite(tested->correlation))
          graph_scores = lrp::GraphScores{tested->correlation, tested->kept_share};
        log_.line("case ", r.case_id, " table ", r.table,
                  ": graph interventions r = ", tested->correlation, ", kept share ",
                  tested->kept_share, " in ", util::seconds_since(t0), " s");
      }
      record_graph(r, g, tested);
    }
  }
  if (spec_.faithfulness.enabled) {
    const auto t0 = std::chrono::steady_clock::now();
    record_faithfulness(r, spec_, removable, delta_of, graph_scores);
    log_.line("case ", r.case_id, " table ", r.table, ": faithfulness curves in ",
              util::seconds_since(t0), " s");
  }
}

void Worker::fail(const Task& task, const std::string& id, const std::string& why) {
  ++failed;
  ++failed_by_table[task.table];
  log_.line("case ", id, " FAILED: ", why);
}

}  // namespace clrp::campaign
