// Aggregate statistics per table (model × checkpoint × benchmark), computed
// from the committed cases and written under /aggregate/<model>/<checkpoint>/
// <benchmark>/. Each rank reads an equal share of every table's rows, sums
// what it read, and the sums are reduced with MPI to rank 0; so aggregates
// always describe every committed case, including those a killed run
// committed before --resume. Definitions (the pytest recomputes them from the
// per-case data with h5py): docs/store.md, section "Aggregates".
#pragma once

#include <utility>

#include "clrp/store/store.hpp"

namespace clrp::store {

/// Histogram of Δℓ: 40 unit bins over [−20, 20], values outside clipped into the end bins.
inline constexpr int kDeltaBins = 40;
inline constexpr double kDeltaLow = -20.0, kDeltaHigh = 20.0;
/// Relative position buckets: token i of T falls in floor(10·i/T).
inline constexpr int kPositionBuckets = 10;

/// Computes and (re)writes every table's aggregates. Collective.
void write_aggregates(Store& store);

/// Columns of a table's `evaluation` aggregate (tables with evaluations): the
/// items, those scored (not an error), correct ones, accuracy with its 95 %
/// Wilson interval, errors, failures, failures with a pair, the pair yield
/// (with pair / failures) with its Wilson interval, accuracy by the
/// per-character score (mc_cloze; else equal to accuracy), and generated
/// tokens and evaluation seconds summed over the items.
inline constexpr int kEvaluationColumns = 15;
extern const char* const kEvaluationColumnNames[kEvaluationColumns];

/// The 95 % Wilson score interval of k successes in n trials ({NaN, NaN} for n = 0).
std::pair<double, double> wilson_interval(double k, double n);

}  // namespace clrp::store
