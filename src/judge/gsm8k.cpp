#include "clrp/judge/gsm8k.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "clrp/judge/math_answer.hpp"
#include "clrp/judge/numbers.hpp"

namespace clrp::judge {

namespace {

// The first number at or after `pos` on the same logical stretch of text:
// nothing but the number matters after a marker like "####".
std::optional<double> first_number_after(std::string_view text, std::size_t pos) {
  const std::vector<NumberMatch> found = find_numbers(text.substr(pos));
  if (found.empty()) return std::nullopt;
  return found.front().value;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::optional<double> gsm8k_gold(std::string_view answer_field) {
  const std::size_t marker = answer_field.rfind("####");
  if (marker == std::string_view::npos) return std::nullopt;
  return first_number_after(answer_field, marker + 4);
}

std::optional<double> gsm8k_extract(std::string_view output) {
  if (auto v = gsm8k_gold(output)) return v;
  const std::string low = lower(output);
  static constexpr std::array<std::string_view, 4> kMarkers = {
      "the answer is", "final answer:", "answer is", "answer:"};
  for (std::string_view marker : kMarkers) {
    const std::size_t at = low.rfind(marker);
    if (at == std::string::npos) continue;
    if (auto v = first_number_after(output, at + marker.size())) return v;
  }
  if (auto boxed = last_boxed_content(output)) {
    const std::vector<NumberMatch> found = find_numbers(*boxed);
    if (!found.empty()) return found.back().value;
  }
  const std::vector<NumberMatch> found = find_numbers(output);
  if (found.empty()) return std::nullopt;
  return found.back().value;
}

bool gsm8k_correct(std::string_view output, std::string_view answer_field) {
  const std::optional<double> gold = gsm8k_gold(answer_field);
  const std::optional<double> got = gsm8k_extract(output);
  return gold && got && numbers_equal(*gold, *got);
}

}  // namespace clrp::judge
