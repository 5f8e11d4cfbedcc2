// DROP (Dua et al., 2019): answers are a number, a date or a set of spans.
//
// This is the metric of the official drop_eval.py, rewritten:
//  * each span is normalised token by token (tokens split on spaces and
//    hyphens): lowercase; ASCII punctuation removed unless the token is a
//    number; numbers rewritten canonically ("5" and "5.0" agree); articles
//    removed; whitespace collapsed;
//  * exact match: the normalised spans, as sets, are equal and equally many;
//  * F1: each span becomes a bag (a set) of tokens; gold and predicted bags
//    are paired by a maximum-weight one-to-one assignment of their F1
//    scores, where a pair scores 0 when the gold bag has numbers and the
//    predicted one shares none of them; the paired scores are averaged over
//    max(#gold, #predicted) and rounded to two decimals.
// The assignment is exact (a bitmask search, as linear_sum_assignment
// would find) for up to 12 spans on the smaller side and greedy above that;
// DROP answers have at most a handful of spans. Against several gold
// answers, exact match and F1 are each the maximum over them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clrp::judge {

struct DropScore {
  double exact_match = 0.0;
  double f1 = 0.0;
};

/// DROP's span normalisation ("The 3-yard run!" -> "3.0 yard run").
std::string drop_normalize(std::string_view span);

/// A list of predicted spans against one gold answer (its list of spans).
DropScore drop_score(const std::vector<std::string>& predicted,
                     const std::vector<std::string>& gold);

/// The best over several gold answers (DROP's validation set has several).
DropScore drop_max_score(const std::vector<std::string>& predicted,
                         const std::vector<std::vector<std::string>>& golds);

/// A generated answer is one span, as lm-evaluation-harness scores it.
inline DropScore drop_max_score(std::string_view prediction,
                                const std::vector<std::vector<std::string>>& golds) {
  return drop_max_score(std::vector<std::string>{std::string(prediction)}, golds);
}

}  // namespace clrp::judge
