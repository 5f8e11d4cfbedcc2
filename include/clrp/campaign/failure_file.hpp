// Failure files: case files (docs/cases.md) whose every line carries its
// contrastive pair (`pair`, cases/pair.hpp), as `clrp evaluate --failures`
// writes them. They are read with the case reader itself, so a failure file
// means the same to `clrp run` as to `clrp explain --cases`.
//
// The explained tokens are tokenize(prompt + prefix); the contrast sits at the
// last of them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

struct FailureCase {
  cases::Case c;
  cases::Pair pair;      ///< c.pair, which every line of a failure file has
  std::size_t line = 0;  ///< 1-based line in its file
};

/// Reads every case of a failure file (clrp::Error at the first bad line,
/// naming file, line and field; a line without `pair` is an error).
std::vector<FailureCase> read_failure_file(const std::string& path);

/// `limit` cases chosen at random with `seed` (0 = all), kept in file order.
/// The choice depends only on (count, limit, seed): a partial Fisher–Yates
/// shuffle driven by splitmix64, the same on every platform and rank.
std::vector<std::size_t> sample_indices(std::size_t count, std::int64_t limit, std::uint64_t seed);

}  // namespace clrp::campaign
