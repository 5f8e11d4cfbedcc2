#include "prune.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace clrp::graph::detail {

namespace {

// The histogram bin of |w| > 0: the top 16 bits of its IEEE float (sign 0,
// exponent, 7 mantissa bits), which order non-negative floats as their values do.
std::size_t bin_of(float magnitude) {
  return std::bit_cast<std::uint32_t>(magnitude) >> 16;
}

bool by_position(const Edge& a, const Edge& b) {
  return a.target != b.target ? a.target < b.target : a.source < b.source;
}

}  // namespace

EdgePruner::EdgePruner(PruneMode mode, double fraction, double threshold)
    : mode_(mode), fraction_(fraction), threshold_(threshold) {
  if (mode_ == PruneMode::Mass) bin_mass_.assign(kBins, 0.0);
}

template <typename Visit>
void EdgePruner::for_each_edge(const EdgeBlock& block, Visit&& visit) {
  const at::Tensor v = block.values.to(at::kFloat).contiguous();
  const float* data = v.data_ptr<float>();
  const auto rows = static_cast<std::int64_t>(block.targets.size());
  if (block.diagonal) {
    for (std::int64_t r = 0; r < rows; ++r)
      if (data[r] != 0.0f)
        visit(static_cast<std::int32_t>(block.targets[r]),
              static_cast<std::int32_t>(block.targets[r]), data[r]);
    return;
  }
  const std::int64_t cols = v.size(1);
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto target = static_cast<std::int32_t>(block.targets[r]);
    const float* row = data + r * cols;
    for (std::int64_t c = 0; c < cols; ++c)
      if (row[c] != 0.0f) visit(static_cast<std::int32_t>(c), target, row[c]);
  }
}

void EdgePruner::observe(const EdgeBlock& block) {
  for_each_edge(block, [&](std::int32_t, std::int32_t, float w) {
    const float m = std::fabs(w);
    bin_mass_[bin_of(m)] += m;
  });
}

void EdgePruner::locate_cut() {
  total_mass_ = 0;
  for (double m : bin_mass_)
    total_mass_ += m;
  cut_bin_ = -1;
  mass_above_ = 0;
  if (total_mass_ <= 0) return;
  const double want = fraction_ * total_mass_;
  std::int64_t lowest = -1;
  for (std::int64_t b = static_cast<std::int64_t>(kBins) - 1; b >= 0; --b) {
    const double m = bin_mass_[static_cast<std::size_t>(b)];
    if (m <= 0) continue;
    lowest = b;
    if (mass_above_ + m >= want) {
      cut_bin_ = b;
      return;
    }
    mass_above_ += m;
  }
  // Rounding left `want` just above the summed mass: the cut is in the lowest bin.
  cut_bin_ = lowest;
  mass_above_ -= bin_mass_[static_cast<std::size_t>(lowest)];
}

void EdgePruner::select(const EdgeBlock& block) {
  if (mode_ == PruneMode::Threshold) {
    for_each_edge(block, [&](std::int32_t s, std::int32_t t, float w) {
      total_mass_ += std::fabs(w);
      if (std::fabs(w) > threshold_) kept_.push_back({s, t, w});
    });
    return;
  }
  if (cut_bin_ < 0) return;  // nothing to keep (no mass)
  const auto cut = static_cast<std::size_t>(cut_bin_);
  for_each_edge(block, [&](std::int32_t s, std::int32_t t, float w) {
    const std::size_t b = bin_of(std::fabs(w));
    if (b > cut)
      kept_.push_back({s, t, w});
    else if (b == cut)
      boundary_.push_back({s, t, w});
  });
}

std::vector<Edge> EdgePruner::finish() {
  if (mode_ == PruneMode::Mass && !boundary_.empty()) {
    // Place the cut exactly inside its bin: largest |w| first, then keep every
    // edge at least as large as the one whose cumulative mass reaches p·total.
    std::sort(boundary_.begin(), boundary_.end(), [](const Edge& a, const Edge& b) {
      const float ma = std::fabs(a.weight), mb = std::fabs(b.weight);
      return ma != mb ? ma > mb : by_position(a, b);
    });
    const double want = fraction_ * total_mass_;
    double cumulative = mass_above_;
    float cut = std::fabs(boundary_.back().weight);
    for (const Edge& e : boundary_) {
      cumulative += std::fabs(e.weight);
      if (cumulative >= want) {
        cut = std::fabs(e.weight);
        break;
      }
    }
    threshold_ = cut;
    for (const Edge& e : boundary_)
      if (std::fabs(e.weight) >= cut) kept_.push_back(e);
    boundary_.clear();
  }
  std::sort(kept_.begin(), kept_.end(), by_position);
  return std::move(kept_);
}

}  // namespace clrp::graph::detail
