#include "clrp/campaign/runner.hpp"

#include <ATen/Parallel.h>
#include <mpi.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "clrp/campaign/explain_case.hpp"
#include "clrp/campaign/group.hpp"
#include "clrp/campaign/messages.hpp"
#include "clrp/campaign/plan.hpp"
#include "clrp/dist/world.hpp"
#include "clrp/store/aggregate.hpp"
#include "clrp/store/lock.hpp"
#include "clrp/store/store.hpp"
#include "clrp/util/error.hpp"

namespace fs = std::filesystem;

namespace clrp::campaign {

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string clock_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

class RankLog {
 public:
  RankLog(const std::string& path) : out_(path, std::ios::app) {}
  template <class... A>
  void line(const A&... parts) {
    std::lock_guard<std::mutex> g(mu_);
    out_ << clock_text() << " ";
    (out_ << ... << parts);
    out_ << "\n";
    out_.flush();
  }

 private:
  std::mutex mu_;
  std::ofstream out_;
};

// Explains batches on a group's leader; its group's other stages serve the
// orders it sends (GroupMember), and the last target's model stays loaded.
class Worker {
 public:
  Worker(const CampaignSpec& spec, const Plan& plan, GroupMember& group, int rank, RankLog& log)
      : failed_by_table(plan.tables.size(), 0),
        spec_(spec),
        plan_(plan),
        group_(group),
        rank_(rank),
        log_(log) {}

  void explain(const std::vector<std::uint32_t>& batch, std::vector<store::CaseRecord>& out) {
    if (batch.empty()) return;
    const std::uint32_t target = plan_.tasks[batch.front()].target;  // one target per batch
    const TargetModel& m = group_.target(target);
    const model::ModelConfig& config = m.checkpoint.config();
    // Prepare every case; those that do not fit the model fail here, alone.
    std::vector<store::CaseRecord> records;
    std::vector<at::Tensor> ids;
    std::vector<const Task*> tasks;
    for (auto ti : batch) {
      const Task& task = plan_.tasks[ti];
      const FailureCase& fc = plan_.pairs[task.pair];
      // Test hook: slows every case down so that tests can kill a run between commits.
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      try {
        at::Tensor case_ids;
        records.push_back(prepare_case(fc, config, *m.tokenizer, task.table, case_ids));
        ids.push_back(case_ids);
        tasks.push_back(&task);
      } catch (const std::exception& e) {
        fail(task, fc.c.id, e.what());
      }
    }
    if (records.empty()) return;
    // One pass of the whole group over the batch: cases are its micro-batches.
    const auto results = group_.explain(target, ids, records);
    for (std::size_t i = 0; i < records.size(); ++i) {
      store::CaseRecord& r = records[i];
      if (!results[i].ok()) {
        fail(*tasks[i], r.case_id, results[i].error);
        continue;
      }
      try {
        r.seconds_forward = results[i].forward_seconds;
        r.seconds_backward = results[i].backward_seconds;
        record_relevance(r, results[i].rules, spec_, config.num_layers);
        record_deletion(
            r, spec_,
            [&](const std::vector<std::vector<std::int64_t>>& sequences) {
              return group_.values(target, sequences, r.wrong_id, r.correct_id);
            },
            group_.stages());
        if (spec_.graphs.enabled()) {
          r.graph_summary.assign(store::kGraphSummaryColumns, std::nan(""));
          if (tasks[i]->graph) record_graph(r, group_.graph(target, ids[i], r));
        }
      } catch (const std::exception& e) {
        fail(*tasks[i], r.case_id, e.what());
        continue;
      }
      r.rank = rank_;
      log_.line("case ", r.case_id, " table ", r.table, ": ", r.tokens.size(), " tokens, delta ",
                r.delta, ", ", r.seconds_forward + r.seconds_backward, " s");
      out.push_back(std::move(r));
      ++done;
    }
  }

  std::atomic<std::uint64_t> done{0}, failed{0};
  /// Written by whichever thread explains (one at a time), read after the run.
  std::vector<std::uint64_t> failed_by_table;

 private:
  void fail(const Task& task, const std::string& id, const std::string& why) {
    ++failed;
    ++failed_by_table[task.table];
    log_.line("case ", id, " FAILED: ", why);
  }

  const CampaignSpec& spec_;
  const Plan& plan_;
  GroupMember& group_;
  int rank_;
  RankLog& log_;
  int delay_ms_ = [] {
    const char* v = std::getenv("CLRP_TEST_CASE_DELAY_MS");
    return v != nullptr ? std::atoi(v) : 0;
  }();
};

// Rank 0's progress display: a live bar on a terminal, log lines otherwise.
class Progress {
 public:
  Progress(std::uint64_t total) : total_(total), start_(now()), tty_(::isatty(2) != 0) {}
  void show(std::uint64_t done, std::uint64_t failed, bool final = false) {
    const double t = now();
    if (!final && t - last_ < (tty_ ? 0.5 : 10.0)) return;
    last_ = t;
    const double elapsed = std::max(1e-9, t - start_);
    const double rate = static_cast<double>(done + failed) / elapsed;
    const double left = static_cast<double>(total_ - std::min(total_, done + failed));
    const double eta = rate > 0 ? left / rate : 0;
    char buf[256];
    if (tty_) {
      const int width = 30;
      const int fill = total_ ? static_cast<int>(width * (done + failed) / total_) : width;
      std::string bar(static_cast<std::size_t>(fill), '#');
      bar.resize(width, ' ');
      std::snprintf(buf, sizeof buf, "\r[%s] %llu/%llu done, %llu failed, %.2f cases/s, ETA %.0fs ",
                    bar.c_str(), static_cast<unsigned long long>(done),
                    static_cast<unsigned long long>(total_),
                    static_cast<unsigned long long>(failed), rate, eta);
      std::fputs(buf, stderr);
      if (final) std::fputs("\n", stderr);
    } else {
      std::snprintf(buf, sizeof buf,
                    "%s progress: %llu/%llu done, %llu failed, %.2f cases/s, ETA %.0fs\n",
                    clock_text().c_str(), static_cast<unsigned long long>(done),
                    static_cast<unsigned long long>(total_),
                    static_cast<unsigned long long>(failed), rate, eta);
      std::fputs(buf, stdout);
      std::fflush(stdout);
    }
  }

 private:
  std::uint64_t total_;
  double start_, last_ = 0;
  bool tty_;
};

int local_ranks(MPI_Comm comm) {
  MPI_Comm node;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int n = 1;
  MPI_Comm_size(node, &n);
  MPI_Comm_free(&node);
  return n;
}

// Rank 0 takes the lock; every rank learns whether it did, and why not.
std::unique_ptr<store::StoreLock> take_lock(const std::string& store, int rank, MPI_Comm comm) {
  std::unique_ptr<store::StoreLock> lock;
  std::string error;
  if (rank == 0) {
    try {
      lock = std::make_unique<store::StoreLock>(store);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  int n = static_cast<int>(error.size());
  MPI_Bcast(&n, 1, MPI_INT, 0, comm);
  error.resize(static_cast<std::size_t>(n));
  MPI_Bcast(error.data(), n, MPI_CHAR, 0, comm);
  if (!error.empty()) throw Error(error);
  return lock;
}

struct Totals {
  std::uint64_t done = 0, failed = 0;
};

// An unknown --checkpoint name is refused before anything runs.
void check_checkpoint_names(const CampaignSpec& spec, const std::vector<std::string>& names) {
  std::set<std::string> known;
  for (const auto& m : spec.models)
    for (const auto& c : m.checkpoints)
      known.insert(c.name);
  for (const auto& n : names)
    if (!known.count(n)) {
      std::string list;
      for (const auto& k : known)
        list += (list.empty() ? "" : ", ") + k;
      throw Error(
          Where{spec.file},
          "--checkpoint " + n + ": no model of the spec has a checkpoint so named (" + list + ")");
    }
}

// Which plan targets (model × checkpoint) the run covers.
std::vector<bool> select_targets(const CampaignSpec& spec, const Plan& plan,
                                 const std::vector<std::string>& names) {
  std::vector<bool> out;
  for (const auto& t : plan.targets) {
    const std::string& name = spec.models[t.model].checkpoints[t.checkpoint].name;
    out.push_back(names.empty() || std::count(names.begin(), names.end(), name) > 0);
  }
  return out;
}

}  // namespace

std::vector<std::string> checkpoint_names(const std::string& spec_path) {
  const CampaignSpec spec = load_spec(spec_path);
  std::vector<std::string> out;
  for (const auto& m : spec.models)
    for (const auto& c : m.checkpoints)
      if (std::find(out.begin(), out.end(), c.name) == out.end()) out.push_back(c.name);
  return out;
}

int run_campaign(const RunOptions& options) {
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const double t_start = now();
  // Signals are caught from the start: a SIGTERM while the spec, the plan and
  // the store are being read (a preempted job's rerun can be signalled at
  // once) stops the run before its first batch, still with status 75.
  g_stop = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  CampaignSpec spec = load_spec(options.spec_path);
  const store::StoreIdentity identity{spec.to_json().dump(2), spec.hash(), spec.name};
  if (!options.store.empty()) spec.store = options.store;  // after the identity: same campaign
  if (options.stages > 0) spec.layout.stages = options.stages;
  check_checkpoint_names(spec, options.checkpoints);
  for (auto& m : spec.models)
    for (auto& c : m.checkpoints)
      c.path = options.resolve_model ? options.resolve_model(c.path) : c.path;

  const bool need_fingerprint = spec.mode == Mode::FixedSet;
  const Plan plan = make_plan(spec, [&](const ModelSpec&, const CheckpointSpec& c) {
    const model::LoadedModel m = model::load(
        c.path, {.parts = need_fingerprint ? model::Parts::Tokenizer : model::Parts::Config});
    return TargetShape{m.config(), need_fingerprint ? tokenizer_fingerprint(*m.tokenizer) : ""};
  });

  const std::vector<bool> selected = select_targets(spec, plan, options.checkpoints);

  std::string memory_report;
  const dist::World world(comm, choose_stages(spec, plan, size, memory_report));
  if (rank == 0 && !memory_report.empty())
    std::fputs(memory_report.c_str(), stdout), std::fflush(stdout);
  if (world.stages() > 1) {
    // Rank 0 explains on a thread of its own, whose pipeline traffic runs
    // while the main thread answers the scheduler's requests.
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
      throw Error("pipeline stages need an MPI library with MPI_THREAD_MULTIPLE");
  }

  const int threads =
      options.threads > 0
          ? options.threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local_ranks(comm));
  at::set_num_threads(threads);

  auto lock = take_lock(spec.store, rank, comm);
  // --resume on a store that does not exist yet starts it: a requeued job
  // can always pass --resume, whether or not its first run got that far.
  const bool resuming = options.resume && fs::exists(spec.store);
  store::Store st = resuming ? store::Store::resume(spec.store, comm, identity, plan.tables)
                             : store::Store::create(spec.store, comm, identity, plan.tables);
  const auto committed = st.committed_ids();
  // Tasks of checkpoints outside the selection count as done: not handed out.
  std::vector<bool> done(plan.tasks.size(), false);
  std::uint64_t already = 0, chosen = 0;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const auto& t = plan.tasks[i];
    const bool in = selected[t.target];
    const bool was_done = committed[t.table].count(plan.pairs[t.pair].c.id) > 0;
    done[i] = !in || was_done;
    chosen += in;
    already += in && was_done;
  }
  const auto batches = make_batches(plan, done, spec.layout.batch_cases);
  const std::uint64_t todo = chosen - already;

  const std::string log_dir = options.log_dir.empty() ? spec.store + ".logs" : options.log_dir;
  if (rank == 0) fs::create_directories(log_dir);
  MPI_Barrier(comm);
  RankLog log(log_dir + "/rank-" + std::to_string(rank) + ".log");
  log.line("rank ", rank, "/", size, " (", world.describe(), ") pid ", ::getpid(), " threads ",
           threads, options.resume ? " resume" : " new", ": ", plan.tasks.size(), " tasks, ",
           already, " already committed, ", batches.size(), " batches");
  if (rank == 0)
    std::fprintf(stdout,
                 "campaign %s: %zu tables, %llu tasks (%llu committed before), %d ranks: %d "
                 "group%s of %d stage%s\n",
                 spec.name.c_str(), plan.tables.size(), static_cast<unsigned long long>(chosen),
                 static_cast<unsigned long long>(already), size, world.groups(),
                 world.groups() == 1 ? "" : "s", world.stages(), world.stages() == 1 ? "" : "s"),
        std::fflush(stdout);

  GroupMember group(spec, plan, world, [&](const std::string& line) {
    log.line(line);
    // The first group's split is shown at start (every group splits alike).
    if (rank == 0 && world.stages() > 1 && line.rfind("loaded ", 0) == 0)
      std::fprintf(stdout, "%s\n", line.c_str()), std::fflush(stdout);
  });
  Worker worker(spec, plan, group, rank, log);
  std::vector<store::CaseRecord> held;  // explained, not yet appended
  bool stopped_early = false;
  const auto commit_all = [&] {
    const double t0 = now();
    st.append(held);
    st.commit();
    log.line("committed ", held.size(), " cases in ", now() - t0, " s");
    held.clear();
  };

  // From here on every rank depends on every other (collective writes): an
  // error on one rank cannot be recovered from, so it is printed with the
  // rank and the whole job is aborted rather than left waiting forever.
  try {
    if (!world.leader()) {
      // A later stage of a group: serves its leader's orders.
      for (;;) {
        const GroupOrder::Kind kind = group.serve();
        if (kind == GroupOrder::commit || kind == GroupOrder::finish) commit_all();
        if (kind == GroupOrder::finish) break;
      }
    } else if (rank != 0) {
      for (;;) {
        send_message(Request{rank, g_stop != 0, worker.done, worker.failed}, 0, comm);
        const Reply reply = receive_reply(0, comm);
        if (reply.kind == Reply::work) {
          worker.explain(reply.tasks, held);
          continue;
        }
        group.order_commit(reply.kind == Reply::finish);
        commit_all();
        if (reply.kind == Reply::finish) break;
      }
    } else {
      // Coordinator state.
      std::size_t next = 0;
      bool draining = false, finishing = false;
      // Requests come from the groups' leaders; totals are kept per group.
      const int groups = world.groups();
      std::vector<bool> told(static_cast<std::size_t>(groups), false);
      int told_count = 0;
      std::vector<Totals> totals(static_cast<std::size_t>(groups));
      double last_commit = now();
      std::size_t handed_since_commit = 0;
      Progress progress(todo);
      // Rank 0 explains on its own thread, so requests are answered meanwhile.
      std::thread local;
      std::atomic<bool> local_busy{false};
      std::exception_ptr local_error;
      std::vector<store::CaseRecord> local_out;
      const auto join_local = [&] {
        if (local.joinable() && !local_busy) {
          local.join();
          if (local_error) std::rethrow_exception(local_error);
          for (auto& r : local_out)
            held.push_back(std::move(r));
          local_out.clear();
        }
      };
      for (;;) {
        join_local();
        if (g_stop) finishing = true;
        if (next >= batches.size()) finishing = true;
        // At least one batch per rank since the last commit, so that frequent
        // commits (small commit_seconds) never starve a worker of work.
        if (!finishing && !draining && handed_since_commit >= static_cast<std::size_t>(groups) &&
            now() - last_commit >= spec.layout.commit_seconds)
          draining = true;
        if (!local.joinable() && !draining && !finishing) {
          local_busy = true;
          const auto& batch = batches[next++];
          ++handed_since_commit;
          local = std::thread([&, batch] {
            try {
              worker.explain(batch, local_out);
            } catch (...) {
              local_error = std::current_exception();
            }
            local_busy = false;
          });
        }
        bool any = false;
        int flag = 0;
        MPI_Status status;
        while (MPI_Iprobe(MPI_ANY_SOURCE, kTagRequest, comm, &flag, &status), flag) {
          any = true;
          const Request req = receive_request(status.MPI_SOURCE, comm);
          const auto req_group = static_cast<std::size_t>(req.rank / world.stages());
          totals[req_group] = {req.done, req.failed};
          if (req.stopping) finishing = true;
          if (!finishing && !draining && next < batches.size()) {
            send_message(Reply{Reply::work, batches[next++]}, req.rank, comm);
            ++handed_since_commit;
            continue;
          }
          if (next >= batches.size()) finishing = true;
          send_message(Reply{finishing ? Reply::finish : Reply::commit, {}}, req.rank, comm);
          told[req_group] = true;
          ++told_count;
        }
        totals[0] = {worker.done, worker.failed};
        Totals sum;
        for (const auto& t : totals)
          sum.done += t.done, sum.failed += t.failed;
        progress.show(sum.done, sum.failed);
        if ((draining || finishing) && !local.joinable() && told_count == groups - 1) {
          // Once every worker was told to finish, nobody asks again: a
          // commit with `finishing` set is the last collective of the loop.
          group.order_commit(finishing);
          commit_all();
          if (finishing) {
            stopped_early = g_stop != 0 || sum.done + sum.failed < todo;
            progress.show(sum.done, sum.failed, true);
            break;
          }
          draining = false;
          std::fill(told.begin(), told.end(), false);
          told_count = 0;
          handed_since_commit = 0;
          last_commit = now();
          continue;
        }
        if (!any) std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clrp: error on rank %d: %s\n", rank, e.what());
    log.line("FATAL: ", e.what());
    std::fflush(stderr);
    MPI_Abort(comm, 3);
  }
  // Every rank knows whether the run stopped early with work left.
  int stopped = stopped_early ? 1 : 0;
  MPI_Bcast(&stopped, 1, MPI_INT, 0, comm);

  // Failures per table, for the tables this run covered (the others keep
  // what an earlier run or another array task recorded).
  std::vector<std::uint64_t> failed_all(plan.tables.size(), 0);
  MPI_Allreduce(worker.failed_by_table.data(), failed_all.data(),
                static_cast<int>(failed_all.size()), MPI_UINT64_T, MPI_SUM, comm);
  std::vector<std::int64_t> failed_rows(plan.tables.size(), -1);
  for (std::size_t t = 0; t < plan.tables.size(); ++t)
    if (selected[plan.table_target[t]]) failed_rows[t] = static_cast<std::int64_t>(failed_all[t]);
  const double t_agg = now();
  // Still collective: a failed write here (a full disk) aborts the job too.
  try {
    st.ensure_space(0);
    st.set_failed_rows(failed_rows);
    store::write_aggregates(st);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clrp: error on rank %d: %s: %s\n", rank, spec.store.c_str(), e.what());
    log.line("FATAL: ", e.what());
    std::fflush(stderr);
    MPI_Abort(comm, 3);
  }
  const double wall = now() - t_start;
  double write = st.write_seconds(), write_sum = 0, wall_sum = 0;
  MPI_Reduce(&write, &write_sum, 1, MPI_DOUBLE, MPI_SUM, 0, comm);
  MPI_Reduce(&wall, &wall_sum, 1, MPI_DOUBLE, MPI_SUM, 0, comm);
  std::uint64_t mine[2] = {worker.done, worker.failed}, all[2] = {0, 0};
  MPI_Reduce(mine, all, 2, MPI_UINT64_T, MPI_SUM, 0, comm);
  // Peak resident memory of this rank (bench/campaign.py --memory reads it).
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  log.line("done: ", worker.done, " explained, ", worker.failed, " failed, store writes ", write,
           " s, aggregates ", now() - t_agg, " s, wall ", wall, " s, peak rss ", usage.ru_maxrss,
           " KiB");
  st.close();
  if (rank == 0) {
    std::printf(
        "campaign %s: %llu explained, %llu failed in %.1f s (%.3f cases/s), store writes %.1f%% "
        "of rank time; %s\n",
        spec.name.c_str(), static_cast<unsigned long long>(all[0]),
        static_cast<unsigned long long>(all[1]), wall, static_cast<double>(all[0]) / wall,
        100.0 * write_sum / std::max(1e-9, wall_sum),
        stopped ? "stopped early: run again with --resume" : "complete");
    std::fflush(stdout);
  }
  return stopped ? kExitRequeue : 0;
}

}  // namespace clrp::campaign
