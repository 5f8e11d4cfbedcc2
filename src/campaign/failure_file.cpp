#include "clrp/campaign/failure_file.hpp"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "clrp/cases/case_file.hpp"
#include "clrp/util/error.hpp"

namespace clrp::campaign {

namespace {

// SplitMix64: a tiny generator whose output is specified bit for bit.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<FailureCase> read_failure_file(const std::string& path) {
  // Stops at the first bad line (or repeated id), naming file, line and field.
  cases::CaseReader reader(path);
  std::vector<FailureCase> out;
  while (auto c = reader.next()) {
    const std::size_t line = reader.counts().lines;
    const Where where{path, "pair", std::nullopt, line};
    require(c->pair.has_value(), where, "missing (this is a case file, not a failure file)");
    FailureCase f;
    f.pair = *c->pair;
    f.c = std::move(*c);
    f.line = line;
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<std::size_t> sample_indices(std::size_t count, std::int64_t limit, std::uint64_t seed) {
  std::vector<std::size_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0);
  if (limit <= 0 || static_cast<std::size_t>(limit) >= count) return idx;
  std::uint64_t state = seed;
  const auto k = static_cast<std::size_t>(limit);
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(splitmix64(state) % (count - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace clrp::campaign
