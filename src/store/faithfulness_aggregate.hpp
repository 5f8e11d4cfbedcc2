// The aggregates of a table's faithfulness curves (private to src/store;
// docs/faithfulness.md, "Aggregates"): called by write_aggregates for each
// table that records them. The per-case arrays are small, and the bootstrap
// needs every case at once, so every rank reads them all and rank 0 writes.
#pragma once

#include <hdf5.h>

#include "clrp/store/record.hpp"

namespace clrp::store {

/// Writes into the table's aggregate group `agg`, from the first `rows`
/// committed cases of the table group `group` (O operators, R rules, S steps):
/// Intervals bootstrap over the cases sorted by id (byte order), so that
/// they do not depend on the order the ranks committed them in.
///   - faithfulness_area [O, R, 2, 4]: per operator, rule and area (least-
///     minus most-relevant-first; random minus most-relevant-first), over the
///     failures (Δℓ > 0) with a finite area: cases, mean, 95 % bootstrap
///     interval (low, high);
///   - faithfulness_rule_difference [O, R, R, 4]: area a − area b (least minus
///     most) paired per failure: cases, mean, interval;
///   - faithfulness_flip [O, R + 1, 3]: per rule then random: cases with Δℓ > 0,
///     the share flipped within the single-token steps, mean tokens among those;
///   - faithfulness_curve [O, 2R + 1, S]: the mean of Δℓ_k / Δℓ over cases with Δℓ > 0;
///   - outcomes [R, 5]: cases by lrp::Outcome code −1 .. 3;
///   - patterns [R, 5]: failures (Δℓ > 0) with evidence: cases, URT only, OIT only, both, neither.
void write_faithfulness_aggregates(hid_t group, hid_t agg, const TableInfo& info, hsize_t rows,
                                   bool writer, hid_t dxpl);

}  // namespace clrp::store
