// Alternatives as prose, for messages and help texts: "a, b or c".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace clrp {

/// The names joined as "a", "a or b", "a, b or c"; "" for none.
inline std::string choices_text(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace clrp
