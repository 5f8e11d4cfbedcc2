// The three roles a rank plays in a campaign (campaign/runner.hpp), once per
// phase of the run (evaluate the benchmarks' items, then explain the
// failures): the phase gives the batches and what a leader does with one
// (BatchWork); the roles know nothing else of it.
//
//   - The coordinator (world rank 0, leader of group 0) hands out batches to
//     the other groups' leaders, works on batches itself on a thread of its
//     own meanwhile, and every `commit_seconds` drains: it hands out no more
//     work until every group was told to commit, then commits with them.
//   - A worker (the leader of any other group) asks the coordinator for work
//     and does what it gets until told to commit or to finish.
//   - A stage server (every rank that is not its group's leader) serves the
//     orders of its leader: pipeline stages, commits, the finish.
//
// Commits are collective over the world (the store is written with parallel
// HDF5): every rank commits at the same point of the schedule, which is why a
// commit is always ordered by the coordinator, passed on by each leader to
// its stages.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "clrp/campaign/messages.hpp"
#include "clrp/campaign/progress.hpp"
#include "clrp/campaign/rank_log.hpp"
#include "clrp/campaign/worker.hpp"
#include "clrp/dist/world.hpp"
#include "clrp/store/store.hpp"

namespace clrp::campaign {

class GroupMember;

enum class Role { coordinator, worker, stage_server };

/// The role of this rank: a function of its place in the world alone, so
/// that every rank knows every other's.
Role role_of(const dist::World& world);

/// Rows a rank made and has not appended to the store yet.
struct Held {
  std::vector<store::CaseRecord> cases;
  std::vector<store::EvaluationRecord> evaluations;
  void take(Held& other);  ///< moves `other`'s rows to the end of these
};

/// What a group leader does with a batch of the phase's tasks: its rows go
/// to `out`. Counts done and failed tasks in the Worker it calls.
using BatchWork = std::function<void(const std::vector<std::uint32_t>& batch, Held& out)>;

/// The rows this rank made and has not appended to the store yet.
class Outbox {
 public:
  Outbox(store::Store& store, RankLog& log) : store_(store), log_(log) {}

  Held held;

  /// Appends what is held and commits the store. Collective over the world.
  void commit();

 private:
  store::Store& store_;
  RankLog& log_;
};

/// A later stage of a group: serves its leader's orders until told to finish.
void serve_stage(GroupMember& group, Outbox& outbox);

/// A group leader other than the coordinator: asks for work, does it and
/// commits when told, until told to finish.
void serve_worker(const dist::World& world, const BatchWork& work, const Worker& worker,
                  GroupMember& group, Outbox& outbox);

/// What the coordinator hands out and how often it commits.
struct Schedule {
  const char* phase;  ///< "evaluate", "explain": for the progress display
  const std::vector<std::vector<std::uint32_t>>& batches;
  double commit_seconds;  ///< drain for a commit at most this often
  std::uint64_t todo;     ///< tasks left when the phase began
};

class Coordinator {
 public:
  Coordinator(const dist::World& world, const Schedule& schedule, BatchWork work, Worker& worker,
              GroupMember& group, Outbox& outbox);

  /// Steps until the last commit. Returns whether the run stopped early (a
  /// signal, or cases left unexplained).
  bool run();

 private:
  struct Totals {
    std::uint64_t done = 0, failed = 0;
  };

  /// One turn of the loop; true once the last commit is done.
  bool step();
  void collect_local_work();
  void decide();
  void keep_local_busy();
  bool answer_requests();
  void answer(const Request& request);
  Totals sum_totals();
  bool everyone_told() const;
  bool commit(const Totals& sum);

  const dist::World& world_;
  const Schedule schedule_;
  BatchWork work_;
  Worker& worker_;
  GroupMember& group_;
  Outbox& outbox_;
  const int groups_;

  std::size_t next_ = 0;  ///< the next batch to hand out
  bool draining_ = false, finishing_ = false, stopped_early_ = false;
  std::vector<bool> told_;  ///< per group: told to commit (or finish) in this drain
  int told_count_ = 0;
  int told_finish_count_ = 0;   ///< of them, told to finish
  std::vector<Totals> totals_;  ///< per group, as its leader last reported
  double last_commit_;
  std::size_t handed_since_commit_ = 0;
  Progress progress_;

  // Rank 0 works on a thread of its own, so that requests are answered
  // meanwhile. `local_busy_` is cleared by the thread when it is done.
  std::thread local_;
  std::atomic<bool> local_busy_{false};
  std::exception_ptr local_error_;
  Held local_out_;
};

}  // namespace clrp::campaign
