// The aggregates of a table's evaluation rows (private to src/store): called
// by write_aggregates for each table with evaluations. Rows are few (one per
// item), so every rank reads them all and rank 0 writes.
#pragma once

#include <hdf5.h>

#include <vector>

#include "clrp/store/record.hpp"

namespace clrp::store {

/// Writes, into the table's aggregate group `agg`: `evaluation`
/// (kEvaluationColumnNames), `no_pair_reasons` (failures without a pair by
/// reason; names in its attribute `reasons`) and, for IFEval items,
/// `instructions` (prompt-level strict and loose, instruction-level strict
/// and loose accuracy, and the instruction count). `writer`: this rank writes.
void write_evaluation_aggregates(hid_t agg, const std::vector<EvaluationRecord>& rows, bool writer,
                                 hid_t dxpl);

}  // namespace clrp::store
