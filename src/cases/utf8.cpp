#include "utf8.hpp"

namespace clrp::cases::detail {

std::optional<std::size_t> find_invalid_utf8(std::string_view s) {
  const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = byte(i);
    if (b < 0x80) {
      ++i;
    } else if (b >= 0xC2 && b <= 0xDF) {  // C0, C1 would be overlong
      if (!cont(i + 1)) return i;
      i += 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      if (!cont(i + 1) || !cont(i + 2)) return i;
      const unsigned char b1 = byte(i + 1);
      if (b == 0xE0 && b1 < 0xA0) return i;   // overlong
      if (b == 0xED && b1 >= 0xA0) return i;  // UTF-16 surrogate
      i += 3;
    } else if (b >= 0xF0 && b <= 0xF4) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return i;
      const unsigned char b1 = byte(i + 1);
      if (b == 0xF0 && b1 < 0x90) return i;   // overlong
      if (b == 0xF4 && b1 >= 0x90) return i;  // above U+10FFFF
      i += 4;
    } else {
      return i;  // stray continuation byte, C0/C1, F5..FF
    }
  }
  return std::nullopt;
}

std::size_t count_code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::optional<std::size_t> byte_offset_of(std::string_view s, std::size_t cp) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (seen == cp) return i;
    ++seen;
  }
  if (seen == cp) return s.size();
  return std::nullopt;
}

}  // namespace clrp::cases::detail
