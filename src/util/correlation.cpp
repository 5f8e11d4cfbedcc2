#include "clrp/util/correlation.hpp"

#include <cmath>
#include <cstddef>

namespace clrp::util {

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  // Two passes (means, then centred sums): stable for values far from zero.
  double sx = 0, sy = 0;
  std::size_t n = 0;
  auto finite = [&](std::size_t i) { return std::isfinite(x[i]) && std::isfinite(y[i]); };
  const std::size_t size = x.size() < y.size() ? x.size() : y.size();
  for (std::size_t i = 0; i < size; ++i)
    if (finite(i)) sx += x[i], sy += y[i], ++n;
  if (n < 3) return std::nan("");
  const double mx = sx / static_cast<double>(n), my = sy / static_cast<double>(n);
  double xy = 0, xx = 0, yy = 0;
  for (std::size_t i = 0; i < size; ++i)
    if (finite(i)) {
      const double dx = x[i] - mx, dy = y[i] - my;
      xy += dx * dy, xx += dx * dx, yy += dy * dy;
    }
  if (xx <= 0 || yy <= 0) return std::nan("");
  return xy / std::sqrt(xx * yy);
}

}  // namespace clrp::util
