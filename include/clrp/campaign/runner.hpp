// `clrp run`: a campaign across all ranks of MPI_COMM_WORLD.
//
// A run has three phases, on every rank: open the run (spec, plan, world,
// store, logs, group), serve this rank's role until the last commit
// (coordinator, worker or stage server: campaign/roles.hpp), finish the run
// (failure counts, aggregates, summary).
//
// Every rank reads the spec and builds the same plan. Rank 0 takes the store
// lock, and every rank opens the store collectively (new, or --resume:
// committed cases are skipped, uncommitted appends truncated). Rank 0 then
// coordinates: workers pull batches (longest first, one target per batch);
// rank 0 computes too, on a thread of its own, so that it keeps answering
// requests while it explains. Every `commit_seconds` (and at the end) all ranks
// append what they hold and commit, collectively.
//
// With layout.stages = P > 1 the world is G groups of P ranks (dist::World):
// only the groups' leaders (stage 0) pull work; each explains its batch with
// its group as a pipeline (campaign/group.hpp) and holds the records; the
// other stages serve their leader and append nothing.
//
// Signals: SIGTERM (or SIGINT) on any rank lets every rank finish the batch it
// is explaining; then everything held is committed and the run exits with
// kExitRequeue when work is left, so a batch script can requeue it and run
// again with --resume. kill -9 loses only what was not committed yet.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace clrp::campaign {

/// Exit status of a run stopped early by a signal, its work committed:
/// EX_TEMPFAIL, "try again" (run again with --resume).
inline constexpr int kExitRequeue = 75;

struct RunOptions {
  std::string spec_path;
  bool resume = false;
  /// With resume: a store whose committed rows disagree with their checksums
  /// goes back, table by table, to its last intact commit, and the cases
  /// after it are explained again (without: such a store is refused).
  bool redo_damaged = false;
  /// Maps a spec model path ("default" included) to a file or directory.
  std::function<std::string(const std::string&)> resolve_model;
  /// Folder of the per-rank logs (default: "<store>.logs").
  std::string log_dir;
  /// Compute threads per rank (0: cores on this node / ranks on this node).
  int threads = 0;
  /// Only these checkpoints (by name, of every model that has one so named);
  /// empty: all. A checkpoint sweep as a job array runs one per task. The
  /// store still gets every table of the spec (the others stay empty), so the
  /// task stores merge (`clrp merge`) into the store of the whole campaign.
  std::vector<std::string> checkpoints;
  /// Pipeline stages per group (0: the spec's layout.stages).
  int stages = 0;
  /// Writes this store instead of the spec's `store` (one per array task).
  /// The spec's identity (and hash) is unchanged.
  std::string store;
};

/// The checkpoint names of a spec, each once, in spec order (for job arrays).
std::vector<std::string> checkpoint_names(const std::string& spec_path);

/// Runs the campaign; MPI must be initialised (MPI_THREAD_FUNNELED at least).
/// Returns 0 when every case is done, kExitRequeue when stopped with work left.
/// Throws clrp::Error (on every rank alike) for a bad spec or store.
int run_campaign(const RunOptions& options);

}  // namespace clrp::campaign
