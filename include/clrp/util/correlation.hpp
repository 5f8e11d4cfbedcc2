// Pearson's correlation, for scores that compare two measurements of the same
// things (graph interventions: the change a graph predicts and the one measured).
#pragma once

#include <vector>

namespace clrp::util {

/// Pearson's r of paired values, over the pairs where both are finite; NaN with
/// fewer than three such pairs or when either side does not vary.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace clrp::util
