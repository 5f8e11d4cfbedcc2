// Checksums of what a store commits (private to src/store; docs/store.md,
// "Checksums").
//
// A row's digest is a 64-bit hash of its bytes, seeded by its row index, and a
// run of rows is summarised by the *sum* (mod 2^64) of its rows' digests. A
// sum needs no order, so every rank adds up the rows it wrote, one allreduce
// gives the block's sum, and a reader can recompute it from the file in any
// pieces. Each step of the row hash is a bijection of the running state, so
// any change confined to one row changes that row's digest, and with it the
// sum, always; changes in several rows cancel only by a 2^-64 chance. The
// digests guard against damage (bit rot, stray writes, truncation), not
// against someone forging a store.
//
// Per table, dataset `checksums` holds one row per commit that brought the
// table rows ([blocks, columns] uint64, names in the attribute
// `checksum_columns`): first the counts of each row kind after the commit
// (the block's ends; its beginnings are the previous row's ends), then the sum
// of each dataset's rows in the block (`checksum_counters` names the counter
// of each dataset). Attribute `committed_checksum_blocks`
// moves with the committed counts. Datasets written whole (/aggregate, a
// table's pairs_not_carried) carry the digest of their bytes in an attribute
// `checksum` (h5::write_doubles / write_text).
#pragma once

#include <hdf5.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "clrp/store/record.hpp"
#include "schema.hpp"

namespace clrp::store::checksum {

/// Digest of `n` bytes, seeded (the row index for rows of a dataset; 0 for a
/// dataset written whole).
std::uint64_t digest(const void* bytes, std::size_t n, std::uint64_t seed);

/// Σ (mod 2^64) of digest(row i, seed = first_row + i) over `count` rows of
/// `row_bytes` bytes each, back to back at `rows`.
std::uint64_t sum_rows(const void* rows, std::size_t row_bytes, std::uint64_t first_row,
                       std::uint64_t count);

/// The row counters a block ends at: the case kinds (schema::Rows), then the
/// evaluation kinds (rows, id bytes, detail bytes).
inline constexpr std::size_t kCounters = schema::kRowKinds + 3;
using Ends = std::array<std::uint64_t, kCounters>;

/// One checksummed dataset of a table: its name, the memory type its rows are
/// written and read with, bytes per row, and the counter that indexes it.
struct Column {
  std::string name;
  hid_t type;
  std::vector<hsize_t> trailing;  ///< the dataset's dimensions after the first
  std::size_t row_bytes;
  std::size_t counter;
};

/// The checksummed datasets of a table, in the order of the sums in its
/// `checksums` rows: cases, case_id, the schema datasets (schema::datasets),
/// then, when it records evaluations, evaluations, evaluation_id and
/// evaluation_detail.
std::vector<Column> columns(const TableInfo& table);

/// The `checksum_columns` attribute: counter names, then dataset names.
std::string column_names_json(const std::vector<Column>& columns);
/// The `checksum_counters` attribute: for each dataset column, the name of
/// the counter that indexes its rows (so a reader needs no schema to verify).
std::string column_counters_json(const std::vector<Column>& columns);

/// Where the store's contents disagree with its checksums.
struct Damage {
  static constexpr std::size_t kNoBlock = static_cast<std::size_t>(-1);
  std::string object;  ///< a table's group or an aggregate dataset's path
  std::string what;    ///< the datasets and rows, or what disagrees
  /// The commit block to go back to (the table keeps the blocks before it),
  /// or kNoBlock when the table cannot be repaired that way (no record).
  std::size_t block = kNoBlock;
  Ends keep{};  ///< the committed counts going back to it leaves (keep[0]: cases)
};

/// Verifies the committed blocks of one table group: the block record
/// against the committed counts, each block's sums against the rows in the
/// file, and pairs_not_carried. Blocks b with b % stride == offset only (a
/// rank's share; 0 and 1 for all). An unreadable dataset is damage too.
std::vector<Damage> verify_table(hid_t group, const std::string& name, const TableInfo& table,
                                 std::size_t offset = 0, std::size_t stride = 1);

/// The committed counts of a table as its attributes say.
Ends committed_ends(hid_t group);

/// Verifies the digests of every dataset under /aggregate (none there: nothing to verify).
std::vector<Damage> verify_aggregates(hid_t file);

/// Every table of an open store file, and /aggregate (inspect, merge).
std::vector<Damage> verify_file(hid_t file);

/// Per damaged table, the damage with the earliest block to go back to.
std::map<std::string, Damage> earliest(const std::vector<Damage>& damage);

/// The message for a damaged store: "the store is damaged: …", a line per
/// finding (at most 12), then how to recover — `--resume` rewrites a damaged
/// /aggregate from intact rows, `--resume --redo-damaged` takes each damaged
/// table back to its last intact commit (saying which cases are explained
/// again), and a table without a usable record cannot be repaired.
std::string report(const std::vector<Damage>& damage);

}  // namespace clrp::store::checksum
