// `clrp merge`: several stores of one campaign spec into one.
//
// A checkpoint sweep runs as a Slurm job array, one task per checkpoint, each
// writing its own store (`clrp run --checkpoint NAME --store PATH`): every
// such store has all the spec's tables, filled only for its checkpoint. The
// merge copies the committed cases of every input, table by table, into a new
// store and recomputes /aggregate from the merged cases with the aggregate
// writer of the campaign run, so a merged store is read exactly like the store
// of one job. Inputs are only ever read.
//
// Refused before anything is written: inputs that are not clrp stores, that
// differ in spec (hash; the message names the first differing spec key), in
// clrp version (among themselves or from this clrp) or in their tables; an
// input a campaign is writing (its lock is held); a case id present in two
// inputs' same table; an existing output.
//
// The output is written to "<OUT>.tmp-<pid>" and renamed to OUT only when
// complete (and synced), so an interrupted merge leaves no OUT; SIGTERM and
// SIGINT remove the temporary file and exit with status 75 (run it again).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clrp::store {

struct MergeResult {
  std::size_t tables = 0;
  std::uint64_t cases = 0;
  std::vector<std::uint64_t> cases_per_input;
};

/// Merges `inputs` into a new store at `output`. MPI must be initialised (the
/// output is written through the parallel library on MPI_COMM_SELF).
/// The output is written as OUT.tmp-<host>-<pid> and renamed into place when
/// complete; such files that earlier merges on this host left behind (their
/// process is gone: SIGKILL) are removed first. `progress` (optional) hears
/// one line per table copied and per stale file removed. Throws clrp::Error.
MergeResult merge_stores(const std::string& output, const std::vector<std::string>& inputs,
                         const std::function<void(const std::string&)>& progress = {});

}  // namespace clrp::store
