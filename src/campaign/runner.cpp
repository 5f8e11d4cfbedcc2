#include "clrp/campaign/runner.hpp"

#include <ATen/Parallel.h>
#include <mpi.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "clrp/campaign/explain_case.hpp"
#include "clrp/campaign/group.hpp"
#include "clrp/campaign/plan.hpp"
#include "clrp/campaign/rank_log.hpp"
#include "clrp/campaign/roles.hpp"
#include "clrp/campaign/stop_signal.hpp"
#include "clrp/campaign/worker.hpp"
#include "clrp/dist/world.hpp"
#include "clrp/store/aggregate.hpp"
#include "clrp/store/lock.hpp"
#include "clrp/store/store.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"

namespace fs = std::filesystem;

namespace clrp::campaign {

namespace {

// Everything a run holds, from its opening to its end. Members are declared
// in the order they are opened, so that they close in the reverse order.
struct Run {
  explicit Run(const RunOptions& o) : options(o) {}

  const RunOptions& options;
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank = 0, size = 1;
  double t_start = 0;
  CampaignSpec spec;
  store::StoreIdentity identity;
  Plan plan;
  std::vector<bool> selected;  ///< per plan target: covered by this run
  std::unique_ptr<dist::World> world;
  int threads = 1;
  std::unique_ptr<store::StoreLock> lock;
  std::optional<store::Store> store;
  /// Per phase: the batches of what the store does not hold yet, the tasks
  /// of the selected targets and, of them, those committed before this run.
  struct PhaseWork {
    std::vector<std::vector<std::uint32_t>> batches;
    std::uint64_t chosen = 0, already = 0;
  };
  PhaseWork evaluate, explain;
  std::unique_ptr<RankLog> log;
  std::unique_ptr<GroupMember> group;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<Outbox> outbox;
  bool stopped_early = false;   ///< known on every rank after each phase
  std::uint64_t evaluated = 0;  ///< items this rank evaluated
  double evaluate_seconds = 0;  ///< from the run's start to the evaluation's last commit
  std::uint64_t explained = 0, explain_failed = 0;  ///< cases this rank explained, failed on
};

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

// The spec, as the options amend it, and its identity (the spec as written).
void read_spec(Run& run) {
  const RunOptions& options = run.options;
  run.spec = load_spec(options.spec_path);
  CampaignSpec& spec = run.spec;
  run.identity = {spec.to_json().dump(2), spec.hash(), spec.name};
  if (!options.store.empty()) spec.store = options.store;  // after the identity: same campaign
  if (options.stages > 0) spec.layout.stages = options.stages;
  check_checkpoint_names(spec, options.checkpoints);
  for (auto& m : spec.models)
    for (auto& c : m.checkpoints)
      c.path = options.resolve_model ? options.resolve_model(c.path) : c.path;
}

// Every rank builds the same plan: the tasks, their tables and targets.
void make_run_plan(Run& run) {
  const bool need_tokenizer = run.spec.mode == Mode::FixedSet;
  // One tokenizer kept per fingerprint: a checkpoint series shares one.
  std::map<std::string, std::shared_ptr<const text::Tokenizer>> tokenizers;
  run.plan = make_plan(run.spec, [&](const ModelSpec&, const CheckpointSpec& c) {
    // The config only (and the tokenizer where pairs cross models): no weights.
    model::LoadedModel m = model::load(
        c.path, {.parts = need_tokenizer ? model::Parts::Tokenizer : model::Parts::Config});
    TargetShape shape{m.config(), {}, {}};
    if (need_tokenizer) {
      shape.tokenizer_fingerprint = tokenizer_fingerprint(*m.tokenizer);
      auto& kept = tokenizers[shape.tokenizer_fingerprint];
      if (!kept) kept = std::move(m.tokenizer);
      shape.tokenizer = kept;
    }
    return shape;
  });
  run.selected = select_targets(run.spec, run.plan, run.options.checkpoints);
}

// The world as groups of pipeline stages, and each rank's compute threads.
void join_world(Run& run) {
  std::string memory_report;
  run.world = std::make_unique<dist::World>(
      run.comm, choose_stages(run.spec, run.plan, run.size, memory_report));
  if (run.rank == 0 && !memory_report.empty())
    std::fputs(memory_report.c_str(), stdout), std::fflush(stdout);
  if (run.world->stages() > 1) {
    // Rank 0 explains on a thread of its own, whose pipeline traffic runs
    // while the main thread answers the scheduler's requests.
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
      throw Error("pipeline stages need an MPI library with MPI_THREAD_MULTIPLE");
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  run.threads = run.options.threads > 0 ? run.options.threads
                                        : std::max(1, cores / dist::node_local_size(run.comm));
  at::set_num_threads(run.threads);
}

// The batches of a phase's tasks (given by target and table) that the store
// does not hold yet (`committed` ids per table); tasks of checkpoints outside
// the selection count as done: not handed out.
template <class Tasks, class IdOf>
Run::PhaseWork schedule(const Run& run, const Tasks& tasks,
                        const std::vector<std::set<std::string>>& committed, IdOf id_of,
                        int batch) {
  Run::PhaseWork w;
  std::vector<bool> done(tasks.size(), false);
  std::vector<std::uint32_t> targets;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const auto& t = tasks[i];
    const bool in = run.selected[t.target];
    const bool was_done = committed[t.table].count(id_of(t)) > 0;
    done[i] = !in || was_done;
    targets.push_back(t.target);
    w.chosen += in;
    w.already += in && was_done;
  }
  w.batches = make_batches(targets, done, batch);
  return w;
}

// The explanations' batches: of the failure files' pairs and, once the
// evaluation is committed, of the pairs it found (add_found_pairs); each
// table's planned cases are then known and recorded.
void schedule_explanations(Run& run) {
  if (!run.plan.evaluations.empty()) {
    const auto planned = add_found_pairs(run.spec, run.plan, run.store->committed_evaluations());
    run.store->set_planned_rows(planned);
  }
  if (run.spec.mode == Mode::FixedSet) run.store->set_pairs_not_carried(run.plan.not_carried);
  const Plan& plan = run.plan;
  run.explain = schedule(
      run, plan.tasks, run.store->committed_ids(),
      [&](const Task& t) -> const std::string& { return plan.pairs[t.pair].c.id; },
      run.spec.layout.batch_cases);
}

// The evaluations' batches: the items not evaluated yet.
void schedule_evaluations(Run& run) {
  std::vector<std::set<std::string>> committed(run.plan.tables.size());
  const auto rows = run.store->committed_evaluations();
  for (std::size_t t = 0; t < rows.size(); ++t)
    for (const auto& r : rows[t])
      committed[t].insert(r.case_id);
  const Plan& plan = run.plan;
  run.evaluate = schedule(
      run, plan.evaluations, committed,
      [&](const EvalTask& t) -> const std::string& { return plan.items[t.item].c.id; },
      run.spec.layout.batch_items);
}

// The store, new or resumed, and what the run has left to evaluate.
void open_store(Run& run) {
  const std::string& path = run.spec.store;
  run.lock = take_lock(path, run.rank, run.comm);
  // --resume on a store that does not exist yet starts it: a requeued job
  // can always pass --resume, whether or not its first run got that far.
  const bool resuming = run.options.resume && fs::exists(path);
  run.store = resuming ? store::Store::resume(path, run.comm, run.identity, run.plan.tables,
                                              {run.options.redo_damaged})
                       : store::Store::create(path, run.comm, run.identity, run.plan.tables);
  schedule_evaluations(run);
}

// The rank logs, and the run's first lines in them and on stdout.
void open_logs(Run& run) {
  const std::string log_dir =
      run.options.log_dir.empty() ? run.spec.store + ".logs" : run.options.log_dir;
  if (run.rank == 0) fs::create_directories(log_dir);
  MPI_Barrier(run.comm);
  run.log = std::make_unique<RankLog>(log_dir + "/rank-" + std::to_string(run.rank) + ".log");
  const dist::World& world = *run.world;
  run.log->line("rank ", run.rank, "/", run.size, " (", world.describe(), ") pid ", ::getpid(),
                " threads ", run.threads, run.options.resume ? " resume" : " new", ": ",
                run.plan.evaluations.size(), " items to evaluate, ", run.evaluate.already,
                " already committed; ", run.plan.tasks.size(), " pairs from failure files");
  for (const auto& line : run.store->redone())
    run.log->line("redo: ", line);
  if (run.rank != 0) return;
  std::fprintf(stdout, "campaign %s: %zu tables, %d ranks: %d group%s of %d stage%s\n",
               run.spec.name.c_str(), run.plan.tables.size(), run.size, world.groups(),
               world.groups() == 1 ? "" : "s", world.stages(), world.stages() == 1 ? "" : "s");
  if (!run.plan.evaluations.empty())
    std::fprintf(stdout, "evaluate: %llu items (%llu committed before) of %zu benchmark file%s\n",
                 static_cast<unsigned long long>(run.evaluate.chosen),
                 static_cast<unsigned long long>(run.evaluate.already), run.spec.benchmarks.size(),
                 run.spec.benchmarks.size() == 1 ? "" : "s");
  for (const auto& skipped : run.plan.skipped_lines)
    if (!skipped.empty()) std::fprintf(stdout, "  %s\n", skipped.c_str());
  for (const auto& line : run.store->redone())  // --redo-damaged
    std::fprintf(stdout, "redo: %s\n", line.c_str());
  std::fflush(stdout);
}

// This rank's part of its group, and the worker that explains with it.
void join_group(Run& run) {
  RankLog& log = *run.log;
  const int rank = run.rank;
  const int stages = run.world->stages();
  run.group = std::make_unique<GroupMember>(
      run.spec, run.plan, *run.world, [&log, rank, stages](const std::string& line) {
        log.line(line);
        // The first group's split is shown at start (every group splits alike).
        if (rank == 0 && stages > 1 && line.rfind("loaded ", 0) == 0)
          std::fprintf(stdout, "%s\n", line.c_str()), std::fflush(stdout);
      });
  run.worker = std::make_unique<Worker>(run.spec, run.plan, *run.group, rank, log);
  run.outbox = std::make_unique<Outbox>(*run.store, log);
}

// An error from here on cannot be recovered from: every rank depends on every
// other (collective writes), so it is printed with the rank and the whole job
// is aborted rather than left waiting forever.
// `where` prefixes the message on stderr (the store, for a failed write).
void abort_run(Run& run, const std::string& where, const std::exception& e) {
  std::fprintf(stderr, "clrp: error on rank %d: %s%s\n", run.rank, where.c_str(), e.what());
  run.log->line("FATAL: ", e.what());
  std::fflush(stderr);
  MPI_Abort(run.comm, 3);
}

// Opens the run: every rank reads the spec and builds the same plan, joins
// the world, opens the store and its log, and takes its part of its group.
std::unique_ptr<Run> open_run(const RunOptions& options) {
  auto run = std::make_unique<Run>(options);
  MPI_Comm_rank(run->comm, &run->rank);
  MPI_Comm_size(run->comm, &run->size);
  run->t_start = util::steady_seconds();
  read_spec(*run);
  make_run_plan(*run);
  join_world(*run);
  open_store(*run);
  open_logs(*run);
  join_group(*run);
  return run;
}

// Plays this rank's role in one phase until its last commit
// (campaign/roles.hpp). Returns, on every rank, whether the run stopped early
// (a signal, or tasks left undone).
bool serve_role(Run& run, const char* phase, const Run::PhaseWork& work, const BatchWork& batch) {
  const dist::World& world = *run.world;
  run.worker->start_phase();
  try {
    switch (role_of(world)) {
      case Role::stage_server:
        serve_stage(*run.group, *run.outbox);
        break;
      case Role::worker:
        serve_worker(world, batch, *run.worker, *run.group, *run.outbox);
        break;
      case Role::coordinator: {
        const Schedule schedule{phase, work.batches, run.spec.layout.commit_seconds,
                                work.chosen - work.already};
        Coordinator coordinator(world, schedule, batch, *run.worker, *run.group, *run.outbox);
        run.stopped_early = coordinator.run();
        break;
      }
    }
  } catch (const std::exception& e) {
    abort_run(run, "", e);
  }
  int stopped = run.stopped_early ? 1 : 0;
  MPI_Bcast(&stopped, 1, MPI_INT, 0, run.comm);
  run.stopped_early = stopped != 0;
  return run.stopped_early;
}

// The run's two phases: every benchmark item answered, judged and its pair
// searched; then every pair explained, those of failure files and those the
// evaluation found. The second starts when the first is committed whole, so
// that every rank builds the same explanation plan from the store.
void serve_phases(Run& run) {
  Worker& worker = *run.worker;
  if (!run.plan.evaluations.empty()) {
    const bool stopped = serve_role(run, "evaluate", run.evaluate,
                                    [&worker](const std::vector<std::uint32_t>& b, Held& out) {
                                      worker.evaluate(b, out.evaluations);
                                    });
    run.evaluated = worker.done;
    run.evaluate_seconds = util::steady_seconds() - run.t_start;
    if (stopped) return;
  }
  try {
    schedule_explanations(run);
  } catch (const std::exception& e) {
    abort_run(run, run.spec.store + ": ", e);
  }
  if (run.rank == 0)
    std::fprintf(stdout, "explain: %llu pairs (%llu committed before)\n",
                 static_cast<unsigned long long>(run.explain.chosen),
                 static_cast<unsigned long long>(run.explain.already)),
        std::fflush(stdout);
  serve_role(
      run, "explain", run.explain,
      [&worker](const std::vector<std::uint32_t>& b, Held& out) { worker.explain(b, out.cases); });
  run.explained = worker.done;
  run.explain_failed = worker.failed;
}

// Failures per table, summed over the ranks, for the tables this run covered;
// -1 for the others, which keep what an earlier run or another array task
// recorded.
std::vector<std::int64_t> count_failures(const Run& run) {
  const Plan& plan = run.plan;
  std::vector<std::uint64_t> failed_all(plan.tables.size(), 0);
  MPI_Allreduce(run.worker->failed_by_table.data(), failed_all.data(),
                static_cast<int>(failed_all.size()), MPI_UINT64_T, MPI_SUM, run.comm);
  std::vector<std::int64_t> failed_rows(plan.tables.size(), -1);
  for (std::size_t t = 0; t < plan.tables.size(); ++t)
    if (run.selected[plan.table_target[t]])
      failed_rows[t] = static_cast<std::int64_t>(failed_all[t]);
  return failed_rows;
}

// The failure counts and the aggregates. Still collective: a failed write
// here (a full disk) aborts the job too.
void write_failures_and_aggregates(Run& run, const std::vector<std::int64_t>& failed_rows) {
  try {
    run.store->ensure_space(0);
    run.store->set_failed_rows(failed_rows);
    store::write_aggregates(*run.store);
  } catch (const std::exception& e) {
    abort_run(run, run.spec.store + ": ", e);
  }
}

// Finishes the run: the aggregates, the rank's last log line, the summary on
// rank 0. Returns the exit status (kExitRequeue when stopped with work left).
int finish_run(Run& run) {
  const int stopped = run.stopped_early ? 1 : 0;
  const std::vector<std::int64_t> failed_rows = count_failures(run);
  const double t_agg = util::steady_seconds();
  write_failures_and_aggregates(run, failed_rows);
  const double wall = util::steady_seconds() - run.t_start;
  double write = run.store->write_seconds(), write_sum = 0, wall_sum = 0;
  MPI_Reduce(&write, &write_sum, 1, MPI_DOUBLE, MPI_SUM, 0, run.comm);
  MPI_Reduce(&wall, &wall_sum, 1, MPI_DOUBLE, MPI_SUM, 0, run.comm);
  std::uint64_t mine[3] = {run.explained, run.explain_failed, run.evaluated}, all[3] = {0, 0, 0};
  MPI_Reduce(mine, all, 3, MPI_UINT64_T, MPI_SUM, 0, run.comm);
  // Peak resident memory of this rank (bench/campaign.py --memory reads it).
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  run.log->line("done: ", run.evaluated, " evaluated, ", run.explained, " explained, ",
                run.explain_failed, " failed, store writes ", write, " s (checksums ",
                run.store->checksum_seconds(), " s), aggregates ", util::steady_seconds() - t_agg,
                " s, wall ", wall, " s, peak rss ", usage.ru_maxrss, " KiB");
  run.store->close();
  if (run.rank == 0) {
    if (!run.plan.evaluations.empty())
      std::printf("campaign %s: %llu items evaluated in %.1f s (%.3f items/s)\n",
                  run.spec.name.c_str(), static_cast<unsigned long long>(all[2]),
                  run.evaluate_seconds,
                  static_cast<double>(all[2]) / std::max(1e-9, run.evaluate_seconds));
    std::printf(
        "campaign %s: %llu explained, %llu failed in %.1f s (%.3f cases/s), store writes %.1f%% "
        "of rank time; %s\n",
        run.spec.name.c_str(), static_cast<unsigned long long>(all[0]),
        static_cast<unsigned long long>(all[1]), wall, static_cast<double>(all[0]) / wall,
        100.0 * write_sum / std::max(1e-9, wall_sum),
        stopped ? "stopped early: run again with --resume" : "complete");
    std::fflush(stdout);
  }
  return stopped ? kExitRequeue : 0;
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

// A run in three steps: open it (every rank alike), serve this rank's role
// through the phases (evaluate, explain) until the last commit, finish it. Signals are caught from
// the start.
int run_campaign(const RunOptions& options) {
  catch_stop_signals();
  const std::unique_ptr<Run> run = open_run(options);
  serve_phases(*run);
  return finish_run(*run);
}

}  // namespace clrp::campaign
