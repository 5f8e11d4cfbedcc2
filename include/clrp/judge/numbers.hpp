// Numbers as models and benchmarks write them.
//
// "1,234", "$18.00", "-7", "−7" (Unicode minus), "3/4", "12%", "2.5e3" all
// occur in gold answers and model outputs. These helpers find them in free
// text and compare them by value, so "3.0" equals "3" and "$1,000" equals
// "1000". Units and currency signs are not part of a number and are simply
// skipped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::judge {

/// A number found in text.
struct NumberMatch {
  std::string text;     ///< as written, e.g. "-1,234.5" or "3/4"
  double value = 0.0;   ///< its value
  std::size_t pos = 0;  ///< byte offset of its first character
};

/// Every number in `text`, left to right. A number is an optional minus
/// sign (ASCII or U+2212), digits with optional thousands commas ("1,234";
/// a comma not followed by exactly three digits ends the number), an
/// optional decimal part, an optional exponent, and optionally "/digits"
/// making a fraction. A minus sign glued to a preceding letter or digit is
/// read as a hyphen ("COVID-19" gives 19), not a sign.
std::vector<NumberMatch> find_numbers(std::string_view text);

/// `text` read as one number after trimming spaces, "$", "%", a trailing
/// period and surrounding LaTeX "$"; nullopt if anything else is left.
std::optional<double> parse_number(std::string_view text);

/// Equal up to a relative tolerance of 1e-6 (absolute near zero), enough to
/// absorb decimal rounding but not to equate different answers.
bool numbers_equal(double a, double b);

/// The shortest decimal that reads back as `value` and has no trailing
/// zeros: 3.0 -> "3", 2.50 -> "2.5", -0.0 -> "0".
std::string canonical_number(double value);

}  // namespace clrp::judge
