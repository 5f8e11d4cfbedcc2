// Finding where a failure went wrong: the searches behind a contrastive pair
// (docs/cases.md, "The contrastive pair"). They work on token ids and
// callbacks, so they can be tested without a model; evaluator.cpp wires them
// to the model, the tokenizer and the judges.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clrp::eval {

/// How far the counterfactual search may go.
struct CounterfactualBudget {
  int positions = 16;  ///< generated positions tried, from the first
  int k = 5;           ///< alternatives per position (top-k, the generated token excluded), ≤ 10
  int tokens = 0;      ///< cap on tokens generated after an alternative (0: the case's own budget)
};

struct CounterfactualHit {
  std::size_t position = 0;  ///< index into the generated tokens
  std::int32_t wrong = 0;    ///< the generated token there
  std::int32_t correct = 0;  ///< the highest-ranked alternative whose continuation passes
  int rank = 0;              ///< its rank among the position's top-k (0 = model's top)
};

struct CounterfactualResult {
  std::optional<CounterfactualHit> hit;
  int tried = 0;       ///< tries a try-by-try walk makes to reach the result (walk order)
  int run = 0;         ///< continuations actually generated and judged (whole rounds)
  std::string reason;  ///< why there is no hit ("no passing alternative in 16 positions x 5")
};

/// Continues the generation after generated[0, position) + `alternative`
/// and returns the whole completion's judgement (true: passes).
using TryAlternative = std::function<bool(std::size_t position, std::int32_t alternative)>;

/// One try: a position and an alternative token there.
using Try = std::pair<std::size_t, std::int32_t>;
/// Continues the generation of every try at once (one batch) and returns,
/// per try, whether its whole completion passes.
using TryAlternatives = std::function<std::vector<bool>(const std::vector<Try>& tries)>;

/// Walks the generated tokens in order; at each position tries the ranked
/// alternatives `top_ids[position]` (skipping the generated token, at most
/// budget.k of them). The first position where one passes is the failure
/// position, the generated token the wrong one, the highest-ranked passing
/// alternative the correct one.
///
/// Tries go `per_round` at a time, in walk order (position, then rank), and
/// the first passing try of a round decides: the pair found is the one a
/// try-by-try walk finds, and `tried` counts its tries; `run` counts the whole rounds.
CounterfactualResult counterfactual_search(const std::vector<std::int32_t>& generated,
                                           const std::vector<std::vector<std::int32_t>>& top_ids,
                                           const CounterfactualBudget& budget,
                                           const TryAlternatives& try_all, std::size_t per_round);
/// The same, one try at a time (per_round 1).
CounterfactualResult counterfactual_search(const std::vector<std::int32_t>& generated,
                                           const std::vector<std::vector<std::int32_t>>& top_ids,
                                           const CounterfactualBudget& budget,
                                           const TryAlternative& try_alternative);

/// First index where `model` leaves `gold` (their common prefix length);
/// nullopt when one is a prefix of the other.
std::optional<std::size_t> first_divergence(const std::vector<std::int32_t>& model,
                                            const std::vector<std::int32_t>& gold);

/// Why a failure has no pair (every exclusion is counted by one of these).
namespace no_pair {
inline constexpr const char* weak_preference = "delta_below_min";  ///< Δℓ < --min-delta
inline constexpr const char* no_divergence = "no_divergence";  ///< the output follows the gold text
inline constexpr const char* no_counterfactual = "no_passing_alternative";
inline constexpr const char* retokenized = "prefix_retokenizes";  ///< tokens(prompt+prefix) differ
inline constexpr const char* same_token = "same_first_token";     ///< wrong and gold start alike
inline constexpr const char* import_invalid = "import_invalid";  ///< an imported pair failed checks
inline constexpr const char* disabled = "pairs_disabled";
inline constexpr const char* no_reference =
    "no_reference";  ///< divergence asked, no gold text (IFEval)
}  // namespace no_pair

}  // namespace clrp::eval
