// The evaluation rows of a table (private to src/store): one row per
// evaluated benchmark item, in three datasets of the table's group:
//
//   evaluations        compound, one row per item (EvaluationRow below)
//   evaluation_id      uint8, the items' ids back to back
//   evaluation_detail  uint8, the items' detail JSON back to back
//
// Each row locates its id and detail by offset and length, as `cases` rows
// locate their ragged runs. The committed counts of the three are attributes
// of the group (`committed_evaluations`, `committed_evaluation_id_bytes`,
// `committed_evaluation_detail_bytes`) and move only at a commit, after the
// data is flushed: the same exactly-once protocol as the cases (store.hpp).
#pragma once

#include <hdf5.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "clrp/store/record.hpp"
#include "h5.hpp"

namespace clrp::store::evaluations {

/// What an evaluation adds to its datasets: rows, id bytes, detail bytes.
inline constexpr std::size_t kKinds = 3;
using Counts = std::array<std::uint64_t, kKinds>;
/// The counts a record brings.
Counts counts_of(const EvaluationRecord& r);
/// Bytes a record takes in the file (its row, id and detail).
std::uint64_t bytes_of(const EvaluationRecord& r);
/// Bytes of one `evaluations` row, and its compound type (memory = file).
inline constexpr std::size_t kRowBytes = 96;
hid_t row_type();
/// The group attributes holding the committed counts, in kinds order.
extern const char* const kCommittedAttrs[kKinds];

/// The datasets of one table's evaluations.
struct Datasets {
  h5::Id rows, ids, detail;

  /// Creates them in `group` (collective), with zero committed counts.
  static Datasets create(hid_t group, int deflate);
  /// Opens them in `group`.
  static Datasets open(hid_t group, const std::string& where);

  /// Writes this rank's `records` (all of this table) at `first` (this
  /// rank's first row, id byte and detail byte), after growing the datasets
  /// to `end` (everybody's). Collective: every rank calls it, with or
  /// without records. Returns the checksum sums (checksum::sum_rows) of the
  /// rows, id bytes and detail bytes this rank wrote.
  Counts write(const std::vector<const EvaluationRecord*>& records, const Counts& first,
               const Counts& end, hid_t dxpl) const;

  /// The first `committed` evaluations, as records of `table` (independent reads).
  std::vector<EvaluationRecord> read(std::uint32_t table, const Counts& committed) const;
};

/// The committed counts of a table group (zeros when it has no evaluations).
Counts read_committed(hid_t group);
/// Sets them (collective under MPI-IO).
void write_committed(hid_t group, const Counts& counts);

}  // namespace clrp::store::evaluations
