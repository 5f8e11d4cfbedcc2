#include "clrp/eval/pairs.hpp"

#include <algorithm>

namespace clrp::eval {

CounterfactualResult counterfactual_search(const std::vector<std::int32_t>& generated,
                                           const std::vector<std::vector<std::int32_t>>& top_ids,
                                           const CounterfactualBudget& budget,
                                           const TryAlternatives& try_all, std::size_t per_round) {
  CounterfactualResult r;
  const std::size_t positions = std::min(
      {generated.size(), top_ids.size(), static_cast<std::size_t>(std::max(0, budget.positions))});
  // Every try in walk order (position, then rank), with its rank.
  std::vector<Try> tries;
  std::vector<int> ranks;
  for (std::size_t p = 0; p < positions; ++p) {
    int here = 0;
    for (std::size_t rank = 0; rank < top_ids[p].size() && here < budget.k; ++rank) {
      if (top_ids[p][rank] == generated[p]) continue;  // the model's own choice: that path failed
      tries.emplace_back(p, top_ids[p][rank]);
      ranks.push_back(static_cast<int>(rank));
      ++here;
    }
  }
  const std::size_t step = std::max<std::size_t>(1, per_round);
  for (std::size_t at = 0; at < tries.size(); at += step) {
    const std::size_t end = std::min(tries.size(), at + step);
    const std::vector<Try> round(tries.begin() + static_cast<std::ptrdiff_t>(at),
                                 tries.begin() + static_cast<std::ptrdiff_t>(end));
    r.run += static_cast<int>(round.size());
    const std::vector<bool> passes = try_all(round);
    // The first passing try in walk order decides, as in a try-by-try walk.
    for (std::size_t i = 0; i < round.size(); ++i)
      if (passes[i]) {
        const auto [p, alt] = round[i];
        r.hit = CounterfactualHit{p, generated[p], alt, ranks[at + i]};
        r.tried = static_cast<int>(at + i + 1);
        return r;
      }
  }
  r.tried = static_cast<int>(tries.size());
  r.reason = "no passing alternative in " + std::to_string(positions) + " positions x " +
             std::to_string(budget.k) + " alternatives";
  return r;
}

CounterfactualResult counterfactual_search(const std::vector<std::int32_t>& generated,
                                           const std::vector<std::vector<std::int32_t>>& top_ids,
                                           const CounterfactualBudget& budget,
                                           const TryAlternative& try_alternative) {
  return counterfactual_search(
      generated, top_ids, budget,
      [&](const std::vector<Try>& tries) {
        return std::vector<bool>{try_alternative(tries[0].first, tries[0].second)};
      },
      1);
}

std::optional<std::size_t> first_divergence(const std::vector<std::int32_t>& model,
                                            const std::vector<std::int32_t>& gold) {
  const auto m = std::mismatch(model.begin(), model.end(), gold.begin(), gold.end());
  if (m.first == model.end() || m.second == gold.end()) return std::nullopt;
  return static_cast<std::size_t>(m.first - model.begin());
}

}  // namespace clrp::eval
