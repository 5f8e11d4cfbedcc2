// Per-family tables (config readers, weight layouts) are indexed by Family:
// each must list every family once, in the enum's order. Private to model/.
#pragma once

#include <cstddef>

#include "clrp/model/config.hpp"

namespace clrp::model::detail {

/// True when `rows` has one row per Family, row i for the family with value i.
template <class Row, std::size_t N>
constexpr bool follows_family_enum(const Row (&rows)[N]) {
  if (N != kFamilyCount) return false;
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(rows[i].family) != i) return false;
  return true;
}

}  // namespace clrp::model::detail
