#include "clrp/util/bootstrap.hpp"

#include <algorithm>
#include <cmath>

namespace clrp::util {

namespace {
constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;
}  // namespace

std::uint64_t splitmix64(std::uint64_t x) {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::pair<double, double> bootstrap_interval(const std::vector<double>& values,
                                             std::uint64_t seed) {
  const std::uint64_t n = values.size();
  if (n == 0) return {std::nan(""), std::nan("")};
  std::vector<double> means(kBootstrapResamples);
  for (std::uint64_t b = 0; b < means.size(); ++b) {
    double sum = 0;
    for (std::uint64_t i = 0; i < n; ++i)
      sum += values[splitmix64(seed * kGolden + b * n + i) % n];
    means[b] = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  return {means[25], means[974]};
}

}  // namespace clrp::util
