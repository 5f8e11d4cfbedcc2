// The campaign store: one HDF5 file per campaign, written collectively by all
// ranks with parallel HDF5 (MPI-IO). Schema and reading it: docs/store.md.
//
// Every collective call below must be made by every rank of the store's
// communicator, in the same order, with the same table list; data arguments
// are each rank's own. Appends are staged per table: case rows go into a
// fixed-size compound table, per-token data into flat datasets indexed by the
// row's token offset. A batch becomes visible to readers (and to --resume)
// only at commit(): data and index are flushed first, then the `committed_*`
// attributes of each table move forward, then the file is flushed again. A
// crash between two commits loses only what was appended since the last one;
// reopening truncates it away.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "clrp/store/record.hpp"

namespace clrp::store {

/// What identifies the campaign that owns a store.
struct StoreIdentity {
  std::string spec_json;  ///< the spec, canonical JSON
  std::string spec_hash;  ///< its digest; --resume requires equality
  std::string campaign;   ///< the campaign's name
};

/// How --resume treats a store whose committed rows disagree with their checksums.
struct ResumeOptions {
  /// false: refuse, saying which rows are damaged and how to redo them.
  /// true: each damaged table goes back to its last intact commit (the
  /// blocks before the first damaged one), and the run explains the rest again.
  bool redo_damaged = false;
};

/// Chunking and compression of the datasets.
struct StoreOptions {
  /// gzip level 0..9 (0: no filter). Off by default: a compressed chunk is
  /// rewritten whole (and moved) whenever later rows land in it, so a kill -9
  /// before the next commit can leave the committed rows of that chunk
  /// unreadable ("inflate() failed", seen in the kill tests). Uncompressed
  /// chunks are written in place, element by element, and committed rows are
  /// never touched again. See docs/store.md.
  int deflate = 0;
};

class Store {
 public:
  /// Creates a new store with every table (collective). Fails when `path` exists.
  static Store create(const std::string& path, MPI_Comm comm, const StoreIdentity& id,
                      const std::vector<TableInfo>& tables, StoreOptions options = {});
  /// Opens an existing store to continue it (collective): checks that it was
  /// written by the same spec and has the same tables, verifies every
  /// committed row against its checksums (docs/store.md, "Checksums"), and
  /// truncates whatever was appended after the last commit.
  static Store resume(const std::string& path, MPI_Comm comm, const StoreIdentity& id,
                      const std::vector<TableInfo>& tables, ResumeOptions options = {});

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  /// Appends this rank's records (any tables, any count, possibly none). Collective.
  /// Refuses (ensure_space) a batch the file system may not have room for.
  void append(const std::vector<CaseRecord>& records);
  /// Appends this rank's evaluation rows (tables that record evaluations).
  /// Collective, like the cases' append; both become visible at commit().
  void append(const std::vector<EvaluationRecord>& records);
  /// Throws, on every rank alike, when the store's file system has less free
  /// space than `bytes` (summed over ranks) plus a reserve for HDF5's
  /// metadata. Parallel HDF5 1.10 deadlocks when a write fails on one rank
  /// only (one rank leaves the metadata flush early, the others wait in its
  /// collectives), so a full disk must be caught before HDF5 writes. Collective.
  void ensure_space(std::uint64_t bytes);
  /// Makes everything appended so far durable and visible. Collective.
  void commit();
  /// Records, per table, how many cases the last run could not explain
  /// (attribute `failed_rows`; −1 leaves a table's count as it is). Collective,
  /// the same values on every rank.
  void set_failed_rows(const std::vector<std::int64_t>& failed);
  /// Sets each table's `planned_rows` (cases to explain: known for benchmark
  /// tables only once their items are evaluated). Collective, same values.
  void set_planned_rows(const std::vector<std::uint64_t>& planned);
  /// Records, per table, the reference pairs that do not carry to its
  /// tokenizer (dataset `pairs_not_carried`, JSON; tables with none get
  /// none). Collective, the same values on every rank.
  void set_pairs_not_carried(const std::vector<std::vector<PairNotCarried>>& not_carried);
  /// Closes the file (collective); also done by the destructor.
  void close();

  /// Committed case ids per table (read on every rank; collective).
  std::vector<std::set<std::string>> committed_ids() const;
  /// Committed evaluation rows per table, in row order (empty for tables
  /// without evaluations). Every rank reads them (collective).
  std::vector<std::vector<EvaluationRecord>> committed_evaluations() const;
  /// Case rows per table as of the last commit (or open).
  std::vector<std::uint64_t> committed_rows() const;
  const std::vector<TableInfo>& tables() const;
  MPI_Comm comm() const;
  /// The HDF5 file id, for the aggregate writer in this module.
  long long file_id() const;
  /// Seconds spent inside append() and commit() on this rank.
  double write_seconds() const;
  /// Of those, the seconds spent computing checksums of the rows appended.
  double checksum_seconds() const;
  /// What resume() took back under ResumeOptions::redo_damaged, a line per table.
  const std::vector<std::string>& redone() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  /// Adds up every rank's checksums of the rows appended since the last
  /// commit and writes each changed table's block record (collective; commit).
  void write_checksum_blocks();
  std::unique_ptr<Impl> impl_;
};

}  // namespace clrp::store
