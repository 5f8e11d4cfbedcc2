#include "clrp/lrp/faithfulness.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "clrp/util/bootstrap.hpp"

namespace clrp::lrp {

namespace {

// 64-bit FNV-1a (offset basis 14695981039346656037, prime 2^40 + 435).
std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// Σ over the distinct steps (sorted by k) of the trapezoids of y over x = k / n.
double trapezoid(const std::vector<std::int32_t>& steps, const std::vector<double>& y,
                 std::int64_t n) {
  std::vector<std::size_t> idx(steps.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t a, std::size_t b) { return steps[a] < steps[b]; });
  double area = 0;
  for (std::size_t i = 1; i < idx.size(); ++i) {
    const std::size_t a = idx[i - 1], b = idx[i];
    if (steps[a] == steps[b]) continue;
    area += static_cast<double>(steps[b] - steps[a]) / static_cast<double>(n) * (y[a] + y[b]) / 2;
  }
  return area;
}

}  // namespace

const char* to_string(Removal r) {
  return r == Removal::remove ? "delete" : "zero";
}

std::optional<Removal> parse_removal(std::string_view name) {
  if (name == "delete") return Removal::remove;
  if (name == "zero") return Removal::zero;
  return std::nullopt;
}

std::vector<char> removable_tokens(const std::vector<std::int8_t>& segment,
                                   const std::vector<std::int32_t>& ids,
                                   const std::function<bool(std::int32_t)>& is_special) {
  std::vector<char> removable(segment.size(), 0);
  for (std::size_t p = 0; p < segment.size(); ++p)
    removable[p] = segment[p] != -1 && !(is_special && is_special(ids.at(p)));
  return removable;
}

std::vector<std::int64_t> removal_candidates(const std::vector<char>& removable) {
  std::vector<std::int64_t> candidates;
  for (std::size_t p = 0; p + 1 < removable.size(); ++p)
    if (removable[p] != 0) candidates.push_back(static_cast<std::int64_t>(p));
  return candidates;
}

std::vector<std::int64_t> random_order(const std::string& case_id,
                                       const std::vector<std::int64_t>& candidates,
                                       std::uint64_t seed) {
  const std::uint64_t base = fnv1a64(case_id) ^ (seed * kGolden);
  std::vector<std::pair<std::uint64_t, std::int64_t>> keyed;
  keyed.reserve(candidates.size());
  for (auto p : candidates)
    keyed.emplace_back(util::splitmix64(base ^ static_cast<std::uint64_t>(p)), p);
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::int64_t> out;
  out.reserve(keyed.size());
  for (const auto& k : keyed)
    out.push_back(k.second);
  return out;
}

std::vector<std::int64_t> relevance_order(const std::vector<std::int64_t>& candidates,
                                          const std::vector<float>& relevance, std::size_t rules,
                                          std::size_t rule, bool most_first) {
  std::vector<std::int64_t> o = candidates;
  const auto rel = [&](std::int64_t p) {
    return relevance[static_cast<std::size_t>(p) * rules + rule];
  };
  // Stable on the position order: equal relevance keeps the earlier token first.
  if (most_first)
    std::stable_sort(o.begin(), o.end(),
                     [&](std::int64_t a, std::int64_t b) { return rel(a) > rel(b); });
  else
    std::stable_sort(o.begin(), o.end(),
                     [&](std::int64_t a, std::int64_t b) { return rel(a) < rel(b); });
  return o;
}

ValueInput remove_tokens(const std::vector<std::int32_t>& ids,
                         const std::vector<std::int64_t>& order, std::int64_t k, Removal op) {
  std::vector<char> gone(ids.size(), 0);
  for (std::int64_t i = 0; i < k; ++i)
    gone[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = 1;
  ValueInput in;
  for (std::size_t p = 0; p < ids.size(); ++p) {
    if (gone[p] && op == Removal::remove) continue;
    if (gone[p]) in.zeroed.push_back(static_cast<std::int64_t>(in.ids.size()));
    in.ids.push_back(ids[p]);
  }
  return in;
}

std::int32_t tokens_to_flip(const DeltaOf& delta_of, const std::vector<std::int32_t>& ids,
                            const std::vector<std::int64_t>& order, double delta,
                            std::int64_t max_tokens, Removal op, std::int64_t chunk) {
  if (delta <= 0) return 0;
  chunk = std::max<std::int64_t>(chunk, 1);
  const auto cap = std::min<std::int64_t>(max_tokens, static_cast<std::int64_t>(order.size()));
  for (std::int64_t first = 0; first < cap; first += chunk) {
    const std::int64_t last = std::min(cap, first + chunk);
    std::vector<ValueInput> inputs;
    for (std::int64_t k = first; k < last; ++k)
      inputs.push_back(remove_tokens(ids, order, k + 1, op));
    const std::vector<double> deltas = delta_of(inputs);
    for (std::int64_t k = first; k < last; ++k)
      if (deltas[static_cast<std::size_t>(k - first)] <= 0) return static_cast<std::int32_t>(k + 1);
  }
  return -1;
}

std::vector<std::vector<std::int64_t>> deletion_orders(const std::string& case_id,
                                                       const std::vector<char>& removable,
                                                       const std::vector<float>& relevance,
                                                       std::size_t rules, std::uint64_t seed) {
  const std::vector<std::int64_t> candidates = removal_candidates(removable);
  std::vector<std::vector<std::int64_t>> orders;
  for (std::size_t r = 0; r < rules; ++r)
    orders.push_back(relevance_order(candidates, relevance, rules, r, true));
  orders.push_back(random_order(case_id, candidates, seed));
  return orders;
}

std::vector<std::int32_t> removal_steps(const FaithfulnessOptions& opt, std::int64_t n) {
  std::vector<std::int32_t> steps{0};
  for (std::int64_t k = 1; k <= opt.single_tokens; ++k)
    steps.push_back(static_cast<std::int32_t>(std::min(k, n)));
  for (const double f : opt.fractions) {
    // ⌈f·N⌉, forgiving the rounding error of f·N itself (0.3·10 is 3.0000000000000004).
    const auto k = static_cast<std::int64_t>(std::ceil(f * static_cast<double>(n) - 1e-9));
    steps.push_back(static_cast<std::int32_t>(std::clamp<std::int64_t>(k, 0, n)));
  }
  return steps;
}

FaithfulnessCurves faithfulness_curves(const DeltaOf& delta_of,
                                       const std::vector<std::int32_t>& ids,
                                       const std::vector<char>& removable,
                                       const std::vector<float>& relevance, std::size_t rules,
                                       const std::string& case_id, double delta,
                                       const FaithfulnessOptions& opt) {
  FaithfulnessCurves out;
  const std::vector<std::int64_t> candidates = removal_candidates(removable);
  const auto n = static_cast<std::int64_t>(candidates.size());
  out.candidates = n;
  out.steps = removal_steps(opt, n);
  const std::size_t S = out.steps.size(), C = 2 * rules + 1, O = opt.operators.size();

  std::vector<std::vector<std::int64_t>> orders;
  for (std::size_t r = 0; r < rules; ++r) {
    orders.push_back(relevance_order(candidates, relevance, rules, r, true));
    orders.push_back(relevance_order(candidates, relevance, rules, r, false));
  }
  orders.push_back(random_order(case_id, candidates, opt.seed));

  // Every (operator, curve, step) names an input; equal inputs (step 0, all
  // candidates gone, orders that agree on a prefix) are evaluated once.
  std::map<ValueInput, std::size_t> index;
  std::vector<ValueInput> inputs;
  std::vector<std::size_t> which(O * C * S, SIZE_MAX);  // SIZE_MAX: the unremoved input
  for (std::size_t o = 0; o < O; ++o)
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t s = 0; s < S; ++s) {
        if (out.steps[s] == 0) continue;
        ValueInput in = remove_tokens(ids, orders[c], out.steps[s], opt.operators[o]);
        const auto [it, fresh] = index.try_emplace(std::move(in), inputs.size());
        if (fresh) inputs.push_back(it->first);
        which[(o * C + c) * S + s] = it->second;
      }
  const std::vector<double> values = inputs.empty() ? std::vector<double>{} : delta_of(inputs);
  out.forwards = inputs.size();
  out.delta.resize(O * C * S);
  for (std::size_t i = 0; i < which.size(); ++i)
    out.delta[i] = static_cast<float>(which[i] == SIZE_MAX ? delta : values.at(which[i]));

  out.area.assign(O * rules * 2, std::nan(""));
  out.flip.assign(O * (rules + 1), -1);
  const auto curve = [&](std::size_t o, std::size_t c) {
    std::vector<double> y(S);
    for (std::size_t s = 0; s < S; ++s)
      y[s] = out.delta[(o * C + c) * S + s];
    return y;
  };
  for (std::size_t o = 0; o < O; ++o) {
    const std::vector<double> random = curve(o, 2 * rules);
    for (std::size_t r = 0; r < rules; ++r) {
      if (n == 0 || delta == 0) continue;
      const std::vector<double> most = curve(o, 2 * r), least = curve(o, 2 * r + 1);
      std::vector<double> gap(S), gap_random(S);
      for (std::size_t s = 0; s < S; ++s) {
        gap[s] = least[s] - most[s];
        gap_random[s] = random[s] - most[s];
      }
      out.area[(o * rules + r) * 2] = trapezoid(out.steps, gap, n) / std::abs(delta);
      out.area[(o * rules + r) * 2 + 1] = trapezoid(out.steps, gap_random, n) / std::abs(delta);
    }
    for (std::size_t j = 0; j <= rules; ++j) {
      const std::size_t c = j < rules ? 2 * j : 2 * rules;
      std::int32_t& flip = out.flip[o * (rules + 1) + j];
      if (delta <= 0) {
        flip = 0;
        continue;
      }
      for (std::int64_t k = 1; k <= std::min(opt.single_tokens, n); ++k)
        if (out.delta[(o * C + c) * S + static_cast<std::size_t>(k)] <= 0) {
          flip = static_cast<std::int32_t>(k);
          break;
        }
    }
  }
  return out;
}

const char* const kCaseOutcomeNames[kCaseOutcomes] = {
    "not_a_failure", "input_informative", "graph_informative", "neither", "graph_not_tested"};

bool graph_passes(const GraphScores& scores, const OutcomeThresholds& thresholds) {
  // Written so that NaN scores (too few nodes, no spread, Δℓ = 0) fail.
  return scores.correlation >= thresholds.graph_correlation &&
         scores.kept_share >= thresholds.graph_kept_share;
}

CaseOutcome classify(const FaithfulnessCurves& curves, const std::vector<std::int8_t>& segment,
                     const std::vector<std::int8_t>& evidence, const std::vector<float>& relevance,
                     std::size_t rules, double delta, std::int64_t top_k,
                     const OutcomeThresholds& thresholds, const std::optional<GraphScores>& graph) {
  std::vector<char> ranked(segment.size());
  for (std::size_t p = 0; p < segment.size(); ++p)
    ranked[p] = segment[p] != -1;
  const std::vector<std::int64_t> candidates = removal_candidates(ranked);
  const std::size_t S = curves.steps.size(), C = 2 * rules + 1;
  const std::size_t O = S == 0 ? 0 : curves.delta.size() / (C * S);
  std::size_t in_evidence = 0;
  for (const std::int64_t p : candidates)
    in_evidence += evidence[static_cast<std::size_t>(p)] != 0;
  CaseOutcome out;
  for (std::size_t r = 0; r < rules; ++r) {
    const auto rel = [&](std::int64_t p) {
      return static_cast<double>(relevance[static_cast<std::size_t>(p) * rules + r]);
    };
    // The top tokens undo the failure at a step where as many random ones do not.
    bool informative = false;
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t s = 1; s < S; ++s)
        informative = informative || (curves.delta[(o * C + 2 * r) * S + s] <= 0 &&
                                      curves.delta[(o * C + 2 * rules) * S + s] > 0);
    std::int8_t pattern = -1;
    if (in_evidence > 0) {
      // Recovery: the evidence among the top k by |relevance| (ties to the earlier token).
      std::vector<std::int64_t> order = candidates;
      std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
        return std::abs(rel(a)) > std::abs(rel(b));
      });
      std::size_t found = 0;
      for (std::size_t j = 0;
           j < std::min<std::size_t>(order.size(), static_cast<std::size_t>(top_k)); ++j)
        found += evidence[static_cast<std::size_t>(order[j])] != 0;
      informative = informative || static_cast<double>(found) / static_cast<double>(in_evidence) >=
                                       thresholds.recovery;
      double evidence_abs = 0, total_abs = 0, evidence_signed = 0, toward_wrong = 0, outside = 0;
      for (const std::int64_t p : candidates) {
        const bool ev = evidence[static_cast<std::size_t>(p)] != 0;
        total_abs += std::abs(rel(p));
        if (ev) evidence_abs += std::abs(rel(p)), evidence_signed += rel(p);
        if (rel(p) > 0) {
          toward_wrong += rel(p);
          if (!ev) outside += rel(p);
        }
      }
      const double token_share =
          static_cast<double>(in_evidence) / static_cast<double>(candidates.size());
      pattern = 0;
      if (evidence_signed > 0 ||
          (total_abs > 0 && evidence_abs / total_abs < thresholds.urt_ratio * token_share))
        pattern |= kUnderweightedRelevant;
      if (toward_wrong > 0 && outside / toward_wrong > thresholds.oit_share)
        pattern |= kOverweightedIrrelevant;
    }
    const Outcome o = !(delta > 0)                       ? Outcome::not_a_failure
                      : informative                      ? Outcome::input_informative
                      : !graph                           ? Outcome::graph_not_tested
                      : graph_passes(*graph, thresholds) ? Outcome::graph_informative
                                                         : Outcome::neither;
    out.outcome.push_back(static_cast<std::int8_t>(o));
    out.pattern.push_back(pattern);
  }
  return out;
}

}  // namespace clrp::lrp
