#include "clrp/campaign/roles.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>

#include "clrp/campaign/group.hpp"
#include "clrp/campaign/stop_signal.hpp"
#include "clrp/util/clock.hpp"

namespace clrp::campaign {

Role role_of(const dist::World& world) {
  if (!world.leader()) return Role::stage_server;
  return world.rank() == 0 ? Role::coordinator : Role::worker;
}

void Held::take(Held& other) {
  for (auto& r : other.cases)
    cases.push_back(std::move(r));
  for (auto& r : other.evaluations)
    evaluations.push_back(std::move(r));
  other.cases.clear();
  other.evaluations.clear();
}

void Outbox::commit() {
  const double t0 = util::steady_seconds();
  store_.append(held.evaluations);
  store_.append(held.cases);
  store_.commit();
  log_.line("committed ", held.evaluations.size(), " evaluations and ", held.cases.size(),
            " cases in ", util::steady_seconds() - t0, " s");
  held = {};
}

void serve_stage(GroupMember& group, Outbox& outbox) {
  for (;;) {
    const GroupOrder::Kind kind = group.serve();
    if (kind == GroupOrder::commit || kind == GroupOrder::finish) outbox.commit();
    if (kind == GroupOrder::finish) break;
  }
}

void serve_worker(const dist::World& world, const BatchWork& work, const Worker& worker,
                  GroupMember& group, Outbox& outbox) {
  for (;;) {
    send_message(Request{world.rank(), stop_requested(), worker.done, worker.failed}, 0,
                 world.world());
    const Reply reply = receive_reply(0, world.world());
    if (reply.kind == Reply::work) {
      work(reply.tasks, outbox.held);
      continue;
    }
    group.order_commit(reply.kind == Reply::finish);
    outbox.commit();
    if (reply.kind == Reply::finish) break;
  }
}

Coordinator::Coordinator(const dist::World& world, const Schedule& schedule, BatchWork work,
                         Worker& worker, GroupMember& group, Outbox& outbox)
    : world_(world),
      schedule_(schedule),
      work_(std::move(work)),
      worker_(worker),
      group_(group),
      outbox_(outbox),
      groups_(world.groups()),
      told_(static_cast<std::size_t>(groups_), false),
      totals_(static_cast<std::size_t>(groups_)),
      last_commit_(util::steady_seconds()),
      progress_(schedule.phase, schedule.todo) {}

bool Coordinator::run() {
  while (!step()) {
  }
  return stopped_early_;
}

bool Coordinator::step() {
  collect_local_work();
  decide();
  keep_local_busy();
  const bool answered = answer_requests();
  const Totals sum = sum_totals();
  progress_.show(sum.done, sum.failed);
  if ((draining_ || finishing_) && !local_.joinable() && everyone_told()) return commit(sum);
  // Not sooner: on a machine with as many compute threads as cores, a
  // coordinator waking every half millisecond preempts them at every barrier.
  if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return false;
}

// Takes what the local thread explained, once it is done.
void Coordinator::collect_local_work() {
  if (!local_.joinable() || local_busy_) return;
  local_.join();
  if (local_error_) std::rethrow_exception(local_error_);
  outbox_.held.take(local_out_);
}

// Finishing: a signal, or nothing left to hand out. Draining for a commit: at
// least one batch per group since the last commit, so that frequent commits
// (small commit_seconds) never starve a worker of work.
void Coordinator::decide() {
  if (stop_requested()) finishing_ = true;
  if (next_ >= schedule_.batches.size()) finishing_ = true;
  if (!finishing_ && !draining_ && handed_since_commit_ >= static_cast<std::size_t>(groups_) &&
      util::steady_seconds() - last_commit_ >= schedule_.commit_seconds)
    draining_ = true;
}

void Coordinator::keep_local_busy() {
  if (local_.joinable() || draining_ || finishing_) return;
  local_busy_ = true;
  const auto& batch = schedule_.batches[next_++];
  ++handed_since_commit_;
  local_ = std::thread([this, batch] {
    try {
      work_(batch, local_out_);
    } catch (...) {
      local_error_ = std::current_exception();
    }
    local_busy_ = false;
  });
}

// Answers every request waiting; true when there was one.
bool Coordinator::answer_requests() {
  bool any = false;
  int flag = 0;
  MPI_Status status;
  while (MPI_Iprobe(MPI_ANY_SOURCE, kTagRequest, world_.world(), &flag, &status), flag) {
    any = true;
    answer(receive_request(status.MPI_SOURCE, world_.world()));
  }
  return any;
}

// Work while there is some and no commit is due; otherwise commit (or
// finish), and the group counts as told.
void Coordinator::answer(const Request& request) {
  const auto group = static_cast<std::size_t>(request.rank / world_.stages());
  totals_[group] = {request.done, request.failed};
  if (request.stopping) finishing_ = true;
  if (!finishing_ && !draining_ && next_ < schedule_.batches.size()) {
    send_message(Reply{Reply::work, schedule_.batches[next_++]}, request.rank, world_.world());
    ++handed_since_commit_;
    return;
  }
  if (next_ >= schedule_.batches.size()) finishing_ = true;
  // Every group of one drain is told the same: once one was told to commit,
  // a stop that arrives meanwhile waits for the next drain, which finishes
  // (a group told to finish takes part in one more commit only).
  const bool finish = finishing_ && told_finish_count_ == told_count_;
  send_message(Reply{finish ? Reply::finish : Reply::commit, {}}, request.rank, world_.world());
  told_[group] = true;
  ++told_count_;
  told_finish_count_ += finish;
}

Coordinator::Totals Coordinator::sum_totals() {
  totals_[0] = {worker_.done, worker_.failed};
  Totals sum;
  for (const auto& t : totals_)
    sum.done += t.done, sum.failed += t.failed;
  return sum;
}

// Every group but the coordinator's own was told to commit (or finish).
bool Coordinator::everyone_told() const {
  return told_count_ == groups_ - 1;
}

// Commits with every group; true when this was the last commit: when the
// run is finishing and every group was told to finish (nobody asks again,
// so it is the last collective of the loop). A stop signal that arrived
// after a group was told to commit makes this commit an ordinary one: that
// group asks again and is told to finish in the next drain.
bool Coordinator::commit(const Totals& sum) {
  const bool last = finishing_ && told_finish_count_ == told_count_;
  group_.order_commit(last);
  outbox_.commit();
  if (last) {
    stopped_early_ = stop_requested() || sum.done + sum.failed < schedule_.todo;
    progress_.show(sum.done, sum.failed, true);
    return true;
  }
  draining_ = false;
  std::fill(told_.begin(), told_.end(), false);
  told_count_ = 0;
  told_finish_count_ = 0;
  handed_since_commit_ = 0;
  last_commit_ = util::steady_seconds();
  return false;
}

}  // namespace clrp::campaign
