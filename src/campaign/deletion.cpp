#include "clrp/campaign/deletion.hpp"

#include <algorithm>
#include <numeric>

namespace clrp::campaign {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::vector<std::int64_t> random_deletion_order(const std::string& case_id,
                                                const std::vector<std::int64_t>& candidates) {
  const std::uint64_t seed = fnv1a64(case_id);
  std::vector<std::pair<std::uint64_t, std::int64_t>> keyed;
  for (auto p : candidates)
    keyed.emplace_back(splitmix64(seed ^ static_cast<std::uint64_t>(p)), p);
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::int64_t> out;
  for (const auto& k : keyed)
    out.push_back(k.second);
  return out;
}

std::vector<std::vector<std::int64_t>> deletion_orders(const std::string& case_id,
                                                       const std::vector<std::int8_t>& segment,
                                                       const std::vector<float>& relevance,
                                                       std::size_t rules) {
  std::vector<std::int64_t> candidates;
  for (std::size_t p = 0; p + 1 < segment.size(); ++p)
    if (segment[p] != -1) candidates.push_back(static_cast<std::int64_t>(p));
  std::vector<std::vector<std::int64_t>> orders;
  for (std::size_t r = 0; r < rules; ++r) {
    std::vector<std::int64_t> o = candidates;
    const auto rel = [&](std::int64_t p) {
      return relevance[static_cast<std::size_t>(p) * rules + r];
    };
    // Stable on the position order: equal relevance keeps the earlier token first.
    std::stable_sort(o.begin(), o.end(),
                     [&](std::int64_t a, std::int64_t b) { return rel(a) > rel(b); });
    orders.push_back(std::move(o));
  }
  orders.push_back(random_deletion_order(case_id, candidates));
  return orders;
}

std::int32_t tokens_to_flip(const DeltaOf& delta_of, const std::vector<std::int32_t>& ids,
                            const std::vector<std::int64_t>& order, double delta,
                            std::int64_t max_tokens, std::int64_t chunk) {
  if (delta <= 0) return 0;
  std::vector<char> gone(ids.size(), 0);
  const auto cap = std::min<std::int64_t>(max_tokens, static_cast<std::int64_t>(order.size()));
  for (std::int64_t first = 0; first < cap; first += std::max<std::int64_t>(chunk, 1)) {
    const std::int64_t last = std::min(cap, first + std::max<std::int64_t>(chunk, 1));
    std::vector<std::vector<std::int64_t>> shortened;
    for (std::int64_t k = first; k < last; ++k) {
      gone[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = 1;
      std::vector<std::int64_t>& kept = shortened.emplace_back();
      for (std::size_t p = 0; p < ids.size(); ++p)
        if (!gone[p]) kept.push_back(ids[p]);
    }
    const std::vector<double> deltas = delta_of(shortened);
    for (std::int64_t k = first; k < last; ++k)
      if (deltas[static_cast<std::size_t>(k - first)] <= 0) return static_cast<std::int32_t>(k + 1);
  }
  return -1;
}

}  // namespace clrp::campaign
