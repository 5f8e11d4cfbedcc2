#include "clrp/judge/numbers.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace clrp::judge {

namespace {

constexpr std::string_view kUnicodeMinus = "\xE2\x88\x92";

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::size_t digits_at(std::string_view s, std::size_t i) {
  std::size_t n = 0;
  while (i + n < s.size() && is_digit(s[i + n]))
    ++n;
  return n;
}

double to_double(const std::string& plain) {
  double v = 0;
  std::from_chars(plain.data(), plain.data() + plain.size(), v);
  return v;
}

// Scans one unsigned decimal at i (digits, thousands groups, fraction,
// exponent). Returns its length (0: none) and appends its digits, without
// commas, to `plain`.
std::size_t scan_decimal(std::string_view s, std::size_t i, std::string& plain) {
  const std::size_t start = i;
  std::size_t n = digits_at(s, i);
  // ".5" is a number too, but not a sentence's final period.
  if (n == 0) {
    if (i < s.size() && s[i] == '.' && digits_at(s, i + 1) > 0) {
      plain += "0";
    } else {
      return 0;
    }
  }
  plain.append(s.substr(i, n));
  i += n;
  // Thousands groups: ",ddd" not followed by another digit.
  while (n > 0 && n <= 3 && i < s.size() && s[i] == ',' && digits_at(s, i + 1) == 3) {
    plain.append(s.substr(i + 1, 3));
    i += 4;
  }
  if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1])) {
    const std::size_t f = digits_at(s, i + 1);
    plain.append(s.substr(i, f + 1));
    i += f + 1;
  }
  // An exponent only when digits follow ("3e5"; not "3 eggs" or "3e").
  if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const std::size_t e = digits_at(s, j);
    if (e > 0 && (j + e >= s.size() || !is_alnum(s[j + e]))) {
      plain += 'e';
      plain.append(s.substr(i + 1, j + e - i - 1));
      i = j + e;
    }
  }
  return i - start;
}

}  // namespace

std::vector<NumberMatch> find_numbers(std::string_view text) {
  std::vector<NumberMatch> out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    bool negative = false;
    std::size_t sign_len = 0;
    if (text[i] == '-') {
      sign_len = 1;
    } else if (text.substr(i).starts_with(kUnicodeMinus)) {
      sign_len = kUnicodeMinus.size();
    }
    if (sign_len > 0) {
      const bool glued = i > 0 && is_alnum(text[i - 1]);
      negative = !glued;
      i += sign_len;
      if (!negative) start = i;
    }
    std::string plain;
    const std::size_t len = scan_decimal(text, i, plain);
    if (len == 0) {
      i = sign_len > 0 ? i : i + 1;
      continue;
    }
    std::size_t end = i + len;
    double value = to_double(plain);
    // A fraction "a/b" with integer parts and a non-zero denominator.
    if (plain.find_first_of(".e") == std::string::npos && end + 1 < text.size() &&
        text[end] == '/' && digits_at(text, end + 1) > 0) {
      const std::size_t d = digits_at(text, end + 1);
      const double den = to_double(std::string(text.substr(end + 1, d)));
      if (den != 0 && (end + 1 + d >= text.size() || text[end + 1 + d] != '.' ||
                       !(end + 2 + d < text.size() && is_digit(text[end + 2 + d])))) {
        value /= den;
        end += 1 + d;
      }
    }
    if (negative) value = -value;
    out.push_back({std::string(text.substr(start, end - start)), value, start});
    i = end;
  }
  return out;
}

std::optional<double> parse_number(std::string_view text) {
  auto strip = [&text] {
    for (bool changed = true; changed;) {
      changed = false;
      while (!text.empty() && (text.front() == ' ' || text.front() == '$' || text.front() == '\n' ||
                               text.front() == '\t')) {
        text.remove_prefix(1);
        changed = true;
      }
      while (!text.empty() && (text.back() == ' ' || text.back() == '$' || text.back() == '%' ||
                               text.back() == '.' || text.back() == '\n' || text.back() == '\t')) {
        text.remove_suffix(1);
        changed = true;
      }
      if (text.starts_with("\\$")) {
        text.remove_prefix(2);
        changed = true;
      }
      if (text.ends_with("\\%")) {
        text.remove_suffix(2);
        changed = true;
      }
    }
  };
  strip();
  const std::vector<NumberMatch> found = find_numbers(text);
  if (found.size() != 1 || found[0].pos != 0 || found[0].text.size() != text.size()) {
    return std::nullopt;
  }
  return found[0].value;
}

bool numbers_equal(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return false;
  const double scale = std::max({1.0, std::fabs(a), std::fabs(b)});
  return std::fabs(a - b) <= 1e-6 * scale;
}

std::string canonical_number(double value) {
  if (value == 0) return "0";
  char buf[64];
  // %.15g round-trips every value the judges see (at most 15 significant
  // digits in any benchmark answer) and drops trailing zeros.
  std::snprintf(buf, sizeof buf, "%.15g", value);
  return buf;
}

}  // namespace clrp::judge
