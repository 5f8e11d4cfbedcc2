// The deletion test of one explained case (docs/store.md, "Aggregates"): delete
// the tokens a rule ranks highest towards the wrong token, one more at a time,
// and count how many go before the model prefers the correct token (the one
// implementation; the report reads its results from the store). Candidates are every token
// but special ones (segment −1) and the last (where the logits are read);
// order by signed relevance, largest first, ties to the earlier token; a
// deleted token is removed from the sequence (positions close up).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clrp::campaign {

/// The random baseline's order: candidates sorted by
/// splitmix64(fnv1a64(case_id) ^ position), ties to the earlier token. A pure
/// function of the case, so every rank count gives the same order (and Python
/// can recompute it: tests/oracle/test_campaign.py).
std::vector<std::int64_t> random_deletion_order(const std::string& case_id,
                                                const std::vector<std::int64_t>& candidates);

/// Δℓ = logit(wrong) − logit(correct) at the last position of each token
/// sequence: KV-free forwards of the whole sequences (a pipeline group
/// streams them through its stages together).
using DeltaOf = std::function<std::vector<double>(const std::vector<std::vector<std::int64_t>>&)>;

/// Tokens deleted, in `order`, until Δℓ at the last position is <= 0: 0 when
/// `delta` (the undeleted Δℓ) is <= 0 already, −1 when `max_tokens` deletions
/// (or every candidate) do not flip it. The shortened sequences are evaluated
/// `chunk` at a time, in order, stopping after the chunk that flips: the
/// answer does not depend on `chunk`, only the forwards spent past the flip
/// (at most chunk − 1).
std::int32_t tokens_to_flip(const DeltaOf& delta_of, const std::vector<std::int32_t>& ids,
                            const std::vector<std::int64_t>& order, double delta,
                            std::int64_t max_tokens, std::int64_t chunk = 1);

/// Deletion orders for each rule (token relevance [T, R]) then the random one.
std::vector<std::vector<std::int64_t>> deletion_orders(const std::string& case_id,
                                                       const std::vector<std::int8_t>& segment,
                                                       const std::vector<float>& relevance,
                                                       std::size_t rules);

}  // namespace clrp::campaign
