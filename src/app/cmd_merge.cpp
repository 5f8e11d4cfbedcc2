// clrp merge OUT IN1 IN2 ...: the stores of one campaign (e.g. the tasks of a
// checkpoint-sweep job array) into one, aggregates recomputed. What is checked
// and why the output appears only when complete: include/clrp/store/merge.hpp.
// Exit status: 0 merged; 2 refused (the message names the files and what
// differs); 75 stopped by SIGTERM/SIGINT, nothing written (run it again).
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "clrp/app/commands.hpp"
#include "clrp/store/merge.hpp"

namespace clrp::app {

namespace {

struct MergeCommandOptions {
  std::string output;
  std::vector<std::string> inputs;
};

void merge(const MergeCommandOptions& opt) {
  // The output is written through parallel HDF5 on one rank (MPI_COMM_SELF),
  // so that the store writer and the aggregates are the campaign run's own.
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  }
  struct Finalize {
    bool owner;
    ~Finalize() {
      if (owner) MPI_Finalize();
    }
  } fin{initialised == 0};
  const auto r = store::merge_stores(opt.output, opt.inputs, [](const std::string& line) {
    std::printf("merge: %s\n", line.c_str());
    std::fflush(stdout);
  });
  std::printf("merged %zu stores (%zu tables, %llu cases) into %s\n", opt.inputs.size(), r.tables,
              static_cast<unsigned long long>(r.cases), opt.output.c_str());
}

}  // namespace

void register_merge(CLI::App& app) {
  auto opt = std::make_shared<MergeCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "merge",
      "Merge stores of one campaign spec (e.g. the stores of a checkpoint-sweep job array) into a "
      "new store; only committed cases are copied and the aggregates are recomputed");
  cmd->add_option("output", opt->output, "The merged store to create (must not exist)")->required();
  cmd->add_option("inputs", opt->inputs, "The stores to merge (read only)")->required();
  cmd->callback([opt] { merge(*opt); });
}

}  // namespace clrp::app
