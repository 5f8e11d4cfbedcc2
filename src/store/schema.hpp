// The store's datasets per table, in one place (private to src/store): names,
// element types, trailing shapes, and how to pull each one out of a record.
// docs/store.md documents the same schema for readers.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "clrp/store/record.hpp"

namespace clrp::store::schema {

inline constexpr const char* kSchema = "clrp-store/2";

/// One row of the `cases` compound table.
struct CaseRow {
  std::uint64_t id_offset;  ///< into `case_id` (UTF-8 bytes)
  std::uint32_t id_length;
  std::uint32_t case_index;    ///< line index in its failure file
  std::uint64_t token_offset;  ///< into every per-token dataset
  std::uint32_t n_tokens;
  std::uint32_t prompt_tokens;
  std::int32_t wrong_id;
  std::int32_t correct_id;
  double wrong_logit, correct_logit;
  double delta, pair_delta;
  double seconds_tokenize, seconds_forward, seconds_backward;
  std::int32_t rank;
  std::int32_t reserved;
  std::uint64_t graph_node_offset;  ///< into every graph_node_* dataset
  std::uint64_t graph_edge_offset;  ///< into every graph_edge_* dataset
  std::uint32_t n_graph_nodes;
  std::uint32_t n_graph_edges;
};

/// The compound type of CaseRow (memory and file layout are the same).
hid_t case_row_type();

/// Which index a dataset's first dimension follows: one row per case, or a
/// ragged run of rows per case (tokens, id bytes, graph nodes, graph edges),
/// located by the offset and length columns of `cases`.
enum class Rows { Case, Token, IdByte, GraphNode, GraphEdge };
inline constexpr std::size_t kRowKinds = 5;

/// How many rows of `kind` the record brings (1 for Rows::Case).
std::uint64_t rows_of(Rows kind, const CaseRecord& r);
/// The offset and length of a case's run of `kind` rows.
std::uint64_t offset_of(Rows kind, const CaseRow& row);
std::uint64_t length_of(Rows kind, const CaseRow& row);
/// The store attribute holding the committed count of `kind` rows.
const char* committed_attr(Rows kind);

struct Dataset {
  std::string name;
  hid_t type;                     ///< native type (also the file type)
  std::vector<hsize_t> trailing;  ///< dimensions after the first
  Rows rows;
  std::size_t element_size;
  /// Appends a record's elements (bytes) for this dataset to `out`.
  std::function<void(const CaseRecord&, std::vector<char>&)> extract;
  /// The inverse: sets the record's member from `rows` rows (tokens of the
  /// case, or 1 for per-case data) of raw elements at `bytes`.
  std::function<void(const char* bytes, std::size_t rows, CaseRecord&)> restore;
};

/// The datasets of a table (not counting `cases` and `case_id`).
std::vector<Dataset> datasets(const TableInfo& t);

}  // namespace clrp::store::schema
