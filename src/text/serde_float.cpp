#include "serde_float.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace clrp::text::detail {

namespace {

// 10^k as the nearest double (serde_json's POW10 table holds these literals).
double pow10(int k) {
  static const auto table = [] {
    std::array<double, 309> t{};
    for (int i = 0; i <= 308; ++i)
      t[static_cast<std::size_t>(i)] = std::strtod(("1e" + std::to_string(i)).c_str(), nullptr);
    return t;
  }();
  return table[static_cast<std::size_t>(k)];
}

}  // namespace

double serde_json_f64(double value) {
  if (!std::isfinite(value) || value == 0.0) return value;
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  const char* p = buf;
  const char* end = res.ptr;
  const bool negative = *p == '-';
  if (negative) ++p;
  std::uint64_t significand = 0;
  int digits = 0, exponent = 0;
  bool fraction = false;
  for (; p < end && *p != 'e'; ++p) {
    if (*p == '.') {
      fraction = true;
      continue;
    }
    if (digits == 19) return value;  // beyond serde's integer fast path; not written by tokenizers
    significand = significand * 10 + static_cast<std::uint64_t>(*p - '0');
    if (significand != 0) ++digits;
    if (fraction) --exponent;
  }
  if (p < end) exponent += std::atoi(p + 1);
  // serde_json::de::Deserializer::f64_from_parts: one conversion, one scaling.
  double f = static_cast<double>(significand);
  while (exponent < -308) {
    f /= 1e308;
    exponent += 308;
  }
  if (exponent >= 0) {
    if (exponent > 308) return value;
    f *= pow10(exponent);
  } else {
    f /= pow10(-exponent);
  }
  return negative ? -f : f;
}

}  // namespace clrp::text::detail
