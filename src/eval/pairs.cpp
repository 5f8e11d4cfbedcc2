#include "clrp/eval/pairs.hpp"

#include <algorithm>

namespace clrp::eval {

CounterfactualResult counterfactual_search(const std::vector<std::int32_t>& generated,
                                           const std::vector<std::vector<std::int32_t>>& top_ids,
                                           const CounterfactualBudget& budget,
                                           const TryAlternative& try_alternative) {
  CounterfactualResult r;
  const std::size_t positions = std::min(
      {generated.size(), top_ids.size(), static_cast<std::size_t>(std::max(0, budget.positions))});
  for (std::size_t p = 0; p < positions; ++p) {
    int tried_here = 0;
    for (std::size_t rank = 0; rank < top_ids[p].size() && tried_here < budget.k; ++rank) {
      const std::int32_t alt = top_ids[p][rank];
      if (alt == generated[p]) continue;  // the model's own choice: that path failed
      ++tried_here;
      ++r.tried;
      if (try_alternative(p, alt)) {
        r.hit = CounterfactualHit{p, generated[p], alt, static_cast<int>(rank)};
        return r;
      }
    }
  }
  r.reason = "no passing alternative in " + std::to_string(positions) + " positions x " +
             std::to_string(budget.k) + " alternatives";
  return r;
}

std::optional<std::size_t> first_divergence(const std::vector<std::int32_t>& model,
                                            const std::vector<std::int32_t>& gold) {
  const auto m = std::mismatch(model.begin(), model.end(), gold.begin(), gold.end());
  if (m.first == model.end() || m.second == gold.end()) return std::nullopt;
  return static_cast<std::size_t>(m.first - model.begin());
}

}  // namespace clrp::eval
