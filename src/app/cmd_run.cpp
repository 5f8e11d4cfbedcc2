// clrp run SPEC [--resume]: a campaign under mpirun (or alone, as one rank).
// Exit status: 0 all done; 75 stopped by SIGTERM/SIGINT with its work
// committed (requeue and run again with --resume); 2 bad spec or store.
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "clrp/app/commands.hpp"
#include "clrp/app/model_path.hpp"
#include "clrp/campaign/runner.hpp"
#include "clrp/util/error.hpp"
#include "clrp/util/threads.hpp"

namespace clrp::app {

namespace {

struct RunCommandOptions {
  std::string spec;
  bool resume = false;
  bool redo_damaged = false;
  std::string log_dir;
  std::vector<std::string> checkpoints;
  std::string store;
  int stages = 0;
  bool list_checkpoints = false;
};

// MPI for the duration of the command; finalised on every path out.
class MpiSession {
 public:
  MpiSession() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    // MULTIPLE: with pipeline stages, rank 0's explaining thread talks to its
    // stages while the main thread schedules (checked where it is needed).
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    owner_ = true;
  }
  ~MpiSession() {
    if (owner_) MPI_Finalize();
  }

 private:
  bool owner_ = false;
};

int run(const RunCommandOptions& opt, int threads) {
  MpiSession mpi;
  campaign::RunOptions ro;
  ro.spec_path = opt.spec;
  ro.resume = opt.resume;
  ro.redo_damaged = opt.redo_damaged;
  ro.log_dir = opt.log_dir;
  ro.threads = threads;
  ro.checkpoints = opt.checkpoints;
  ro.store = opt.store;
  ro.stages = opt.stages;
  ro.resolve_model = [](const std::string& path) {
    return resolve_model_path(path == "default" ? std::nullopt : std::optional<std::string>(path));
  };
  try {
    return campaign::run_campaign(ro);
  } catch (const Error& e) {
    // The same error on every rank (the spec and the store are read by all):
    // print it once.
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::cerr << "clrp: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto opt = std::make_shared<RunCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run a campaign (a TOML spec, see docs/campaigns.md) into its HDF5 store; "
      "under mpirun every rank takes part. Exit 75: stopped by a signal, run again with --resume");
  cmd->add_option("spec", opt->spec, "The campaign spec (jobs/*.toml)")->required();
  cmd->add_flag("--resume", opt->resume,
                "Continue the store: redo only cases not committed (after kill -9, SIGTERM)");
  cmd->add_flag("--redo-damaged", opt->redo_damaged,
                "With --resume, on a store whose committed rows fail their checksums: take each "
                "damaged table back to its last intact commit and explain the rest again "
                "(without it such a store is refused, nothing changed; docs/store.md)")
      ->needs("--resume");
  cmd->add_option("--log-dir", opt->log_dir, "Per-rank logs (default: <store>.logs/)");
  cmd->add_option("--checkpoint", opt->checkpoints,
                  "Explain only under this checkpoint (by name; repeatable): one job-array task "
                  "of a checkpoint sweep. The store still has every table; merge the task stores "
                  "with 'clrp merge'");
  cmd->add_option("--store", opt->store,
                  "Write this store instead of the spec's (e.g. one per array task)");
  cmd->add_option("--stages", opt->stages,
                  "Pipeline stages per replica group (default: the spec's layout.stages): each "
                  "model's layers are split over this many ranks; the job's ranks must be a "
                  "multiple of it")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--list-checkpoints", opt->list_checkpoints,
                "Print the spec's checkpoint names, one per line, and exit (for job arrays)");
  cmd->callback([opt, &app] {
    const auto* t = app.get_option("--threads");
    const int threads = t->count() > 0 ? t->as<int>() : 0;
    if (opt->list_checkpoints) {
      for (const auto& name : campaign::checkpoint_names(opt->spec))
        std::printf("%s\n", name.c_str());
      return;
    }
    const int status = run(*opt, threads);
    if (status != 0) std::exit(status);
  });
}

}  // namespace clrp::app
