// Whitespace handling shared by the text judges (ASCII whitespace, as the
// reference SQuAD and DROP scripts' str.split() sees it for normalised text).
// Internal to the judge module.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clrp::judge::detail {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// The non-empty runs of non-whitespace characters of `text`, in order.
std::vector<std::string> split_ws(std::string_view text);

}  // namespace clrp::judge::detail
