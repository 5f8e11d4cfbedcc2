// Is an explanation faithful to the model? Remove the tokens it ranks, and
// watch Δℓ = logit(wrong) − logit(correct) (docs/faithfulness.md).
//
// The one implementation of removal tests: the campaign's deletion test and
// faithfulness curves, and `clrp explain --faithfulness`, all build their
// inputs and read their results here; how the shortened inputs are run (a
// pipeline group, a whole model) is the caller's `DeltaOf`.
//
//   - Candidates: every token marked removable (not a special token: neither
//     one the tokenizer adds nor a special token of the vocabulary, such as a
//     chat template's <|im_start|>) but the last (the explained position,
//     where the logits are read).
//   - Orders: per rule most-relevant-first (signed relevance toward the wrong
//     token, largest first) and least-relevant-first (smallest first), ties to
//     the earlier token in both; one seeded random order shared by the rules.
//   - Operators: `delete` removes the token (positions close up); `zero` keeps
//     it but replaces its token embedding by zeros (its position stays, and so
//     does a learned position embedding): the AttnLRP authors' choice.
//   - Steps: 0 tokens, single tokens 1..K, then fractions f of the N
//     candidates (⌈f·N⌉), clipped to N: a fixed count S = 1 + K + |F| per case.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "clrp/model/zeroed_state.hpp"

namespace clrp::lrp {

enum class Removal : std::int8_t {
  remove = 0,  ///< "delete": the token leaves the sequence
  zero = 1,    ///< "zero": its token embedding becomes zeros
};
const char* to_string(Removal r);
std::optional<Removal> parse_removal(std::string_view name);

/// One input whose Δℓ a forward pass measures: token ids, the positions (into
/// `ids`) whose token embedding is zeroed (the zero operator; empty otherwise)
/// and hidden states zeroed on the way up (graph interventions,
/// graph/interventions.hpp; rows count within `ids`).
struct ValueInput {
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> zeroed;
  std::vector<model::ZeroedState> states;
  bool operator<(const ValueInput& o) const {
    return std::tie(ids, zeroed, states) < std::tie(o.ids, o.zeroed, o.states);
  }
};

/// Δℓ at the last position of each input (NaN where a forward failed): KV-free
/// forwards, as many at once as the caller can batch.
using DeltaOf = std::function<std::vector<double>(const std::vector<ValueInput>&)>;

/// Which tokens may be removed: segment != −1 (tokens the tokenizer adds, or
/// a text the tokens do not spell) and not `is_special` (the vocabulary's
/// special tokens; may be empty).
std::vector<char> removable_tokens(const std::vector<std::int8_t>& segment,
                                   const std::vector<std::int32_t>& ids,
                                   const std::function<bool(std::int32_t)>& is_special);

/// Positions that may be removed: removable ones, the last token excluded.
std::vector<std::int64_t> removal_candidates(const std::vector<char>& removable);

/// The random order: candidates sorted by util::splitmix64(fnv1a64(case_id) ^ p ^
/// seed·0x9e3779b97f4a7c15), ties to the earlier token. A pure function of
/// the case and the seed, so every rank count gives the same order
/// (tests/oracle/faithfulness_reference.py recomputes it).
std::vector<std::int64_t> random_order(const std::string& case_id,
                                       const std::vector<std::int64_t>& candidates,
                                       std::uint64_t seed);

/// Candidates by relevance[p·rules + rule]: largest first (`most_first`) or
/// smallest first, ties to the earlier token.
std::vector<std::int64_t> relevance_order(const std::vector<std::int64_t>& candidates,
                                          const std::vector<float>& relevance, std::size_t rules,
                                          std::size_t rule, bool most_first);

/// `ids` with the first `k` positions of `order` removed by `op`.
ValueInput remove_tokens(const std::vector<std::int32_t>& ids,
                         const std::vector<std::int64_t>& order, std::int64_t k, Removal op);

/// Tokens removed, in `order`, until Δℓ at the last position is <= 0: 0 when
/// `delta` (the unremoved Δℓ) is <= 0 already, −1 when `max_tokens` removals
/// (or every candidate) do not flip it. Inputs are evaluated `chunk` at a
/// time, in order, stopping after the chunk that flips: the answer does not
/// depend on `chunk`, only the forwards spent past the flip.
std::int32_t tokens_to_flip(const DeltaOf& delta_of, const std::vector<std::int32_t>& ids,
                            const std::vector<std::int64_t>& order, double delta,
                            std::int64_t max_tokens, Removal op, std::int64_t chunk = 1);

/// The deletion test's orders: each rule's most-relevant-first, then random.
std::vector<std::vector<std::int64_t>> deletion_orders(const std::string& case_id,
                                                       const std::vector<char>& removable,
                                                       const std::vector<float>& relevance,
                                                       std::size_t rules, std::uint64_t seed);

struct FaithfulnessOptions {
  std::vector<Removal> operators{Removal::remove, Removal::zero};
  std::int64_t single_tokens = 5;  ///< K
  std::vector<double> fractions{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  std::uint64_t seed = 0;  ///< of the random order
  std::int64_t steps() const {
    return 1 + single_tokens + static_cast<std::int64_t>(fractions.size());
  }
};

/// Tokens removed at each of the S steps for `candidates` N (docs/faithfulness.md).
std::vector<std::int32_t> removal_steps(const FaithfulnessOptions& opt, std::int64_t candidates);

/// A case's faithfulness curves. With O operators, R rules, S steps, the
/// C = 2R + 1 curves are rule r most-relevant-first (2r), least-relevant-first
/// (2r + 1), then the random order (2R).
struct FaithfulnessCurves {
  std::int64_t candidates = 0;      ///< N
  std::vector<std::int32_t> steps;  ///< [S] tokens removed
  std::vector<float> delta;         ///< [O, C, S] Δℓ after each step (step 0: the case's Δℓ)
  /// [O, R, 2] areas over x = k / N (trapezoids over the distinct steps),
  /// divided by |Δℓ|: least- minus most-relevant-first (the area between
  /// the curves), and random minus most-relevant-first. NaN without
  /// candidates or with Δℓ = 0.
  std::vector<double> area;
  /// [O, R + 1] tokens to flip along each rule's most-relevant-first order,
  /// then the random one, read off the single-token steps: 0 when Δℓ <= 0
  /// already, −1 when K steps do not flip it.
  std::vector<std::int32_t> flip;
  std::size_t forwards = 0;  ///< distinct inputs evaluated
};

/// Every curve of one case: `ids` [T] (the explained position last), which
/// may go, token relevance [T, R], Δℓ of the unremoved input. All inputs
/// go to `delta_of` in one call (identical ones once).
FaithfulnessCurves faithfulness_curves(const DeltaOf& delta_of,
                                       const std::vector<std::int32_t>& ids,
                                       const std::vector<char>& removable,
                                       const std::vector<float>& relevance, std::size_t rules,
                                       const std::string& case_id, double delta,
                                       const FaithfulnessOptions& opt);

/// What the explanation of one failure tells (docs/faithfulness.md,
/// "Outcomes and patterns"), per rule.
enum class Outcome : std::int8_t {
  not_a_failure = -1,     ///< Δℓ <= 0: the model prefers the correct token
  input_informative = 0,  ///< the top tokens undo the failure where random ones do not, or
                          ///< hold the evidence
  graph_informative = 1,  ///< input attribution is not, the attribution graph passes its test
  neither = 2,            ///< neither is
  graph_not_tested = 3,   ///< input attribution is not informative; no graph test (yet)
};
inline constexpr int kCaseOutcomes = 5;  ///< codes −1 .. 3
/// Names of the outcomes by code + 1.
extern const char* const kCaseOutcomeNames[kCaseOutcomes];

/// Pattern bits where the evidence is known (−1: no evidence among the
/// removable tokens): relevant tokens underweighted (URT), irrelevant tokens
/// overweighted (OIT) — the reference study's two patterns.
inline constexpr std::int8_t kUnderweightedRelevant = 1;
inline constexpr std::int8_t kOverweightedIrrelevant = 2;

struct OutcomeThresholds {
  /// Input attribution recovers the evidence: at least this share of the
  /// evidence among its top k tokens by |relevance|.
  double recovery = 0.5;
  /// URT: the evidence's share of |relevance| below this multiple of its
  /// share of the tokens (or its signed relevance pushing toward the wrong token).
  double urt_ratio = 1.0;
  /// OIT: tokens outside the evidence carry more than this share of the
  /// relevance toward the wrong token.
  double oit_share = 0.5;
  /// The attribution graph passes its intervention test (graph/interventions.hpp):
  /// the changes of Δℓ it predicts and those measured correlate at least this
  /// well (Pearson's r) ...
  double graph_correlation = 0.5;
  /// ... and its kept edges trace at least this share of Δℓ to the tokens.
  double graph_kept_share = 0.1;
};

/// A graph's intervention scores (graph/interventions.hpp), for classify().
struct GraphScores {
  double correlation = 0;
  double kept_share = 0;
};

/// Whether a graph with `scores` passes the test under `thresholds` (NaN fails).
bool graph_passes(const GraphScores& scores, const OutcomeThresholds& thresholds);

/// Per rule: the outcome code (Outcome) and the pattern bits of one case.
struct CaseOutcome {
  std::vector<std::int8_t> outcome;  ///< [R]
  std::vector<std::int8_t> pattern;  ///< [R]
};

/// Classifies a case from its curves (faithfulness_curves), its tokens'
/// segments [T] (the store's column), evidence tokens [T] and token
/// relevance [T, R]; `top_k` is the recovery's k. Recovery and patterns rank
/// the tokens with a segment (not −1) but the last — the tokens the store's
/// evidence_recovery aggregate ranks, so the two agree.
CaseOutcome classify(const FaithfulnessCurves& curves, const std::vector<std::int8_t>& segment,
                     const std::vector<std::int8_t>& evidence, const std::vector<float>& relevance,
                     std::size_t rules, double delta, std::int64_t top_k,
                     const OutcomeThresholds& thresholds,
                     const std::optional<GraphScores>& graph = std::nullopt);

}  // namespace clrp::lrp
