// The deletion test of one explained case (docs/store.md, "Aggregates"): delete
// the tokens a rule ranks highest towards the wrong token, one more at a time,
// and count how many go before the model prefers the correct token. The same
// definition as analysis/clrp_report/deletion.py: candidates are every token
// but special ones (segment −1) and the last (where the logits are read);
// order by signed relevance, largest first, ties to the earlier token; a
// deleted token is removed from the sequence (positions close up).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clrp/model/decoder.hpp"

namespace clrp::campaign {

/// The random baseline's order: candidates sorted by
/// splitmix64(fnv1a64(case_id) ^ position), ties to the earlier token. A pure
/// function of the case, so every rank count gives the same order (and Python
/// can recompute it: tests/oracle/test_campaign.py).
std::vector<std::int64_t> random_deletion_order(const std::string& case_id,
                                                const std::vector<std::int64_t>& candidates);

/// Tokens deleted, in `order`, until Δℓ = logit(wrong) − logit(correct) at the
/// last position is <= 0: 0 when `delta` (the undeleted Δℓ) is <= 0 already,
/// −1 when `max_tokens` deletions (or every candidate) do not flip it. One
/// KV-free forward of the whole shortened sequence per deletion.
std::int32_t tokens_to_flip(const model::DecoderModel& decoder,
                            const std::vector<std::int32_t>& ids,
                            const std::vector<std::int64_t>& order, std::int32_t wrong,
                            std::int32_t correct, double delta, std::int64_t max_tokens);

/// Deletion orders for each rule (token relevance [T, R]) then the random one.
std::vector<std::vector<std::int64_t>> deletion_orders(const std::string& case_id,
                                                       const std::vector<std::int8_t>& segment,
                                                       const std::vector<float>& relevance,
                                                       std::size_t rules);

}  // namespace clrp::campaign
