// Seeded randomness that Python can recompute, and the percentile bootstrap
// built on it (docs/faithfulness.md, "Aggregates").
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace clrp::util {

/// The 64-bit finaliser of SplitMix64 (Steele, Lea, Flood 2014) applied to
/// x + 0x9e3779b97f4a7c15: a pure function of x, so every rank and a Python
/// reimplementation draw the same numbers.
std::uint64_t splitmix64(std::uint64_t x);

/// Resamples a percentile bootstrap draws (1,000: the 2.5 and 97.5 %
/// percentiles are the 26th and 975th sorted means).
inline constexpr int kBootstrapResamples = 1000;

/// The 95 % percentile-bootstrap interval of the mean of `values`: resample b
/// (0 ≤ b < 1000) takes, for i = 0..n−1, element splitmix64(seed·φ + b·n + i)
/// mod n (φ = 0x9e3779b97f4a7c15, arithmetic mod 2^64); the interval is the
/// 26th and 975th of the 1,000 sorted resample means. NaN, NaN without values.
std::pair<double, double> bootstrap_interval(const std::vector<double>& values, std::uint64_t seed);

}  // namespace clrp::util
