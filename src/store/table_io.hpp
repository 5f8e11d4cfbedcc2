// Reading a store's tables back (private to src/store): which tables a file
// holds, their shape from the group attributes, and their committed cases as
// CaseRecords. `clrp merge` and `clrp inspect` read stores this way; both
// open files with HDF5's default (serial) driver, so no MPI is involved.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "clrp/store/record.hpp"
#include "schema.hpp"

namespace clrp::store::table_io {

/// Every table group of the file, "/runs/<model>/<checkpoint>/<benchmark>",
/// in name order (empty when the file has no /runs).
std::vector<std::string> table_groups(hid_t file);

/// The table's shape and names from its attributes (planned_rows is 0 when
/// the store predates it).
TableInfo read_table_info(hid_t group);

/// The committed evaluation rows of a table (none when it records none).
std::vector<EvaluationRecord> read_evaluations(hid_t group, const TableInfo& info,
                                               std::uint32_t table);

/// Committed counts of a table: rows of each kind (schema::Rows: cases,
/// tokens, id bytes, graph nodes and edges, 0 without graphs), and the cases
/// the last run failed on (0 when not recorded).
struct Committed {
  schema::RowCounts count{};
  std::uint64_t failed = 0;
  std::uint64_t of(schema::Rows kind) const { return count[schema::kind_index(kind)]; }
};
Committed read_committed(hid_t group);

/// The committed case ids of a table, in row order.
std::vector<std::string> read_case_ids(hid_t group, const Committed& committed);

/// Cases [row0, row0 + count) of a table as records (table index `table`),
/// every dataset of the schema filled in.
std::vector<CaseRecord> read_records(hid_t group, const TableInfo& info, std::uint32_t table,
                                     std::uint64_t row0, std::uint64_t count);

/// A table's pairs that did not carry to its tokenizer (dataset
/// `pairs_not_carried`; empty when it has none), and their JSON text.
std::vector<PairNotCarried> read_pairs_not_carried(hid_t group);
std::string not_carried_to_json(const std::vector<PairNotCarried>& not_carried);

}  // namespace clrp::store::table_io
