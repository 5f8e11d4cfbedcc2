// The store's datasets per table, in one place (private to src/store).
//
// Two lists in schema.cpp say everything a table of the store holds; the
// writer (store.cpp), the readers (table_io.cpp, aggregate.cpp) and the HDF5
// types are derived from them:
//
//   - make_case_columns(): the columns of the `cases` compound dataset, one
//     row per case, in file order (case_columns() here). The row's byte layout
//     (C alignment, in that order) and its compound type follow from the list.
//   - kArrays: the per-token, per-case and per-graph-node/edge arrays, each a
//     record member with a trailing shape given by the table's R, L, heads, k
//     (datasets() here: those a given table records).
//
// Adding a stored value is one line in one of the two lists (plus the
// CaseRecord member it comes from, and its line in docs/store.md).
#pragma once

#include <hdf5.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clrp/store/record.hpp"

namespace clrp::store::schema {

/// Version 3 added the checksums (checksum.hpp); version 2 stores have none.
inline constexpr const char* kSchema = "clrp-store/3";

/// Throws, naming `path`, unless the open file is a store of this schema.
void require_store(hid_t file, const std::string& path);

/// Which index a dataset's first dimension follows: one row per case, or a
/// ragged run of rows per case (tokens, id bytes, graph nodes, graph edges),
/// located by the offset and length columns of `cases`.
enum class Rows { Case, Token, IdByte, GraphNode, GraphEdge };
inline constexpr std::size_t kRowKinds = 5;
inline constexpr std::array<Rows, kRowKinds> kAllRows = {Rows::Case, Rows::Token, Rows::IdByte,
                                                         Rows::GraphNode, Rows::GraphEdge};
inline constexpr std::size_t kind_index(Rows kind) {
  return static_cast<std::size_t>(kind);
}

/// Rows of each kind, indexed by kind_index(kind): counts, or where a case's runs start.
using RowCounts = std::array<std::uint64_t, kRowKinds>;

/// The table's names and sizes, stored as one group attribute each, in the
/// order they are written (after the strings, the JSON list `rules`; then the
/// integers). The rest of TableInfo lives in the `layout` attribute.
template <class T>
struct Attr {
  const char* name;
  T TableInfo::*member;
};
inline constexpr Attr<std::string> kStringAttrs[] = {
    {"model", &TableInfo::model},
    {"checkpoint", &TableInfo::checkpoint},
    {"checkpoint_path", &TableInfo::checkpoint_path},
    {"benchmark", &TableInfo::benchmark}};
inline constexpr Attr<std::int64_t> kIntAttrs[] = {{"layers", &TableInfo::layers},
                                                   {"heads", &TableInfo::heads},
                                                   {"neurons", &TableInfo::neurons},
                                                   {"evidence_top_k", &TableInfo::evidence_top_k}};

/// How many rows of `kind` the record brings (1 for Rows::Case).
std::uint64_t rows_of(Rows kind, const CaseRecord& r);
/// The store attribute holding the committed count of `kind` rows.
const char* committed_attr(Rows kind);

// ---------------------------------------------------------------------------
// `cases`: one row per case

/// One column of `cases`. A column either carries a scalar of the record
/// (record_to_row / row_to_record copy it), or locates the case's run of
/// ragged rows (its offset or its length, for `rows`), or is kept zero.
struct CaseColumn {
  enum class Role { Field, Offset, Length, Zero };
  const char* name;  ///< the compound member's name in the file
  hid_t type;        ///< native type (also the file type)
  std::size_t size;  ///< bytes (alignment is the same)
  Role role;
  Rows rows;  ///< for Offset and Length
  /// For Field: copies the record's member to the column's bytes and back.
  void (*record_to_row)(const CaseRecord&, char* column);
  void (*row_to_record)(const char* column, CaseRecord&);
};

/// The columns of `cases`, in file order.
const std::vector<CaseColumn>& case_columns();
/// Byte offset of each column within a row (parallel to case_columns()).
const std::vector<std::size_t>& case_column_offsets();
/// Bytes per row (memory and file layout are the same).
std::size_t case_row_size();
/// The compound type of a row.
hid_t case_row_type();

/// Rows of `cases` in memory, as read from or about to be written to a file.
class CaseRows {
 public:
  CaseRows() = default;
  explicit CaseRows(std::size_t count) : bytes_(count * case_row_size()) {}

  std::size_t size() const { return bytes_.size() / case_row_size(); }
  bool empty() const { return bytes_.empty(); }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }

  /// Appends the row of record `r`, whose ragged runs start at `first`
  /// (indexed by kind_index(kind)).
  void append(const CaseRecord& r, const RowCounts& first);
  /// Where row i's run of `kind` rows starts, and how long it is (for
  /// Rows::Case: i, its index among these rows, and 1).
  std::uint64_t offset(std::size_t i, Rows kind) const;
  std::uint64_t length(std::size_t i, Rows kind) const;
  /// Sets the record's scalar members from row i.
  void to_record(std::size_t i, CaseRecord& r) const;

  /// Reads rows [row0, row0 + count) of a `cases` dataset.
  static CaseRows read(hid_t cases, std::uint64_t row0, std::uint64_t count);

 private:
  const char* row(std::size_t i) const { return bytes_.data() + i * case_row_size(); }
  std::vector<char> bytes_;
};

/// The committed case ids of an open table, in row order, from its `cases`
/// and `case_id` datasets.
std::vector<std::string> read_case_ids(hid_t cases, hid_t case_id, std::uint64_t rows,
                                       std::uint64_t id_bytes);

// ---------------------------------------------------------------------------
// Arrays: per token, per case, per graph node or edge

struct Dataset {
  std::string name;
  hid_t type;                     ///< native type (also the file type)
  std::vector<hsize_t> trailing;  ///< dimensions after the first
  Rows rows;
  std::size_t element_size;
  /// Bytes of one row (element_size × the trailing dimensions).
  std::size_t row_bytes() const;
  /// Appends a record's elements (bytes) for this dataset to `out`.
  std::function<void(const CaseRecord&, std::vector<char>&)> extract;
  /// The inverse: sets the record's member from `rows` rows (tokens of the
  /// case, or 1 for per-case data) of raw elements at `bytes`.
  std::function<void(const char* bytes, std::size_t rows, CaseRecord&)> restore;
};

/// The datasets of a table (not counting `cases` and `case_id`), in the order
/// they are created.
std::vector<Dataset> datasets(const TableInfo& t);

}  // namespace clrp::store::schema
