// Per-transition edge pruning, while the edges are computed.
//
// Mass mode keeps the smallest set of edges holding a fraction p of the
// transition's absolute edge mass: sort |w| descending, find the first k whose
// cumulative mass reaches p·total, keep every edge with |w| ≥ |w_k| (ties
// included) — the reference study's per-layer cumulative-mass rule. Without
// sorting all T² weights: a first pass histograms |w| by the top 16 bits of its
// float representation (monotone in |w|), which locates the bin holding the
// cut; a second pass keeps the edges above that bin and collects those inside
// it, which are then sorted to place the cut exactly. The two passes see the
// same blocks (kept in memory, or recomputed when the budget says so).
// Threshold mode keeps |w| > threshold in one pass. Internal to graph/.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "clrp/graph/graph.hpp"

namespace clrp::graph::detail {

class EdgePruner {
 public:
  EdgePruner(PruneMode mode, double fraction, double threshold);

  /// Mass mode needs a histogram pass before the selecting pass.
  bool needs_histogram() const { return mode_ == PruneMode::Mass; }
  /// First pass (mass mode): accounts for every edge of `block`.
  void observe(const EdgeBlock& block);
  /// Between the passes: locates the bin that holds the cut.
  void locate_cut();
  /// Selecting pass: keeps the edges above the cut's bin, collects those in it.
  void select(const EdgeBlock& block);
  /// The kept edges, ordered by (target, source).
  std::vector<Edge> finish();

  double total_mass() const { return total_mass_; }
  double threshold() const { return threshold_; }

 private:
  static constexpr std::size_t kBins = 1u << 16;
  template <typename Visit>
  static void for_each_edge(const EdgeBlock& block, Visit&& visit);

  PruneMode mode_;
  double fraction_, threshold_;
  std::vector<double> bin_mass_;
  double total_mass_ = 0;
  std::int64_t cut_bin_ = -1;  ///< mass mode: bins above are kept, the cut lies inside this one
  double mass_above_ = 0;      ///< mass of the bins above cut_bin_
  std::vector<Edge> kept_, boundary_;
};

}  // namespace clrp::graph::detail
