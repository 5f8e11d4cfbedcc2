// Does batches of a campaign's tasks on a group's leader: evaluates
// benchmark items (evaluate), explains pairs (explain).
//
// evaluate: a batch holds items of one target; each is answered, judged and
// its pair searched (campaign/evaluate_item.hpp), one row each, an item
// that cannot be evaluated included (as an error row). Evaluation runs on
// the leader with the whole model (groups of one stage).
//
// A batch holds cases of one target (model × checkpoint). The worker prepares
// each case (tokenises it, finds the answer tokens), hands the batch to its
// group (campaign/group.hpp) as one pass through the pipeline, the cases as
// its micro-batches, and records what the spec asks for per case: relevance
// per rule, the deletion test, the attribution graph. The group's other
// stages serve the orders it sends; the last target's model stays loaded.
//
// A case that fails (does not fit the model, a non-finite relevance, ...)
// fails alone: it is counted and logged, and the batch goes on.
#pragma once

#include <ATen/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clrp/campaign/plan.hpp"
#include "clrp/campaign/rank_log.hpp"
#include "clrp/campaign/spec.hpp"
#include "clrp/eval/evaluator.hpp"
#include "clrp/store/store.hpp"

namespace clrp::lrp {
struct MicroBatchResult;
}

namespace clrp::model {
struct ModelConfig;
struct LoadedModel;
}  // namespace clrp::model

namespace clrp::campaign {

class GroupMember;

class Worker {
 public:
  Worker(const CampaignSpec& spec, const Plan& plan, GroupMember& group, int rank, RankLog& log);

  /// Explains the tasks `batch` (indices into Plan::tasks) and appends the
  /// records of the cases that succeeded to `out`. Collective over the group.
  void explain(const std::vector<std::uint32_t>& batch, std::vector<store::CaseRecord>& out);

  /// Evaluates the items `batch` (indices into Plan::evaluations) and
  /// appends one row per item to `out`.
  void evaluate(const std::vector<std::uint32_t>& batch, std::vector<store::EvaluationRecord>& out);

  /// Tasks of the current phase done and failed so far; read by the
  /// coordinator while its local thread works. start_phase() zeroes them.
  std::atomic<std::uint64_t> done{0}, failed{0};
  void start_phase();
  /// Failures per table. Written by whichever thread explains (one at a
  /// time), read after the run.
  std::vector<std::uint64_t> failed_by_table;

 private:
  // A batch's cases that fit the model, ready for the group.
  struct Prepared {
    std::vector<store::CaseRecord> records;
    std::vector<at::Tensor> ids;
    std::vector<const Task*> tasks;
  };

  Prepared prepare(const std::vector<std::uint32_t>& batch, const model::LoadedModel& m);
  /// Records relevance, deletion and graph of a case the group explained
  /// into `r`; throws when the case fails.
  void record(std::uint32_t target, const model::ModelConfig& config, const Task& task,
              const at::Tensor& ids, const lrp::MicroBatchResult& result, store::CaseRecord& r);
  void fail(const Task& task, const std::string& id, const std::string& why);

  const CampaignSpec& spec_;
  const Plan& plan_;
  GroupMember& group_;
  /// Evaluators of the loaded target, per benchmark (made at first use).
  std::uint32_t evaluators_target_ = 0;
  std::vector<std::unique_ptr<eval::Evaluator>> evaluators_;
  int rank_;
  RankLog& log_;
  /// Test hook (CLRP_TEST_CASE_DELAY_MS): slows every case down so that tests
  /// can kill a run between commits.
  int delay_ms_;
};

}  // namespace clrp::campaign
