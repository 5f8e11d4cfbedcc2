// Failure files: case files (docs/cases.md) whose lines carry one more field,
// `pair`, the contrastive pair found when the model failed the case:
//
//   "pair": {"prefix": "<text appended to the prompt before the contrast>",
//            "wrong":   {"id": 330, "token": " B", "logit": 17.2},
//            "correct": {"id": 331, "token": " C", "logit": 15.9},
//            "delta": 1.3, "method": "letter", "model": "smollm2"}
//
// The explained tokens are tokenize(prompt + prefix); the contrast sits at the
// last of them. CaseReader rejects unknown fields, so until it knows `pair`
// this reader takes `pair` off each raw JSON line itself and hands the rest to
// cases::case_from_json (all of the case checks still apply). When the case
// reader learns the field, read_failure_file becomes a thin wrapper over it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

struct PairToken {
  std::int64_t id = -1;
  std::string token;
  double logit = 0;
};

struct ContrastPair {
  std::string prefix;  ///< appended to the prompt; may be empty
  PairToken wrong, correct;
  double delta = 0;  ///< Δℓ as the model that found the pair measured it
  std::string method, model;
};

struct FailureCase {
  cases::Case c;
  ContrastPair pair;
  std::size_t line = 0;  ///< 1-based line in its file
};

/// Parses one `pair` object; throws clrp::Error naming `where` and the field.
ContrastPair pair_from_json(const nlohmann::json& j, const Where& where);

/// Reads every case of a failure file (clrp::Error at the first bad line,
/// naming file, line and field; a line without `pair` is an error).
std::vector<FailureCase> read_failure_file(const std::string& path);

/// `limit` cases chosen at random with `seed` (0 = all), kept in file order.
/// The choice depends only on (count, limit, seed): a partial Fisher–Yates
/// shuffle driven by splitmix64, the same on every platform and rank.
std::vector<std::size_t> sample_indices(std::size_t count, std::int64_t limit, std::uint64_t seed);

}  // namespace clrp::campaign
