#include "clrp/util/error.hpp"

#include <utility>

namespace clrp {

namespace {

// Length of the valid UTF-8 character at s[i], or 0 when the bytes there are
// not one (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  return n;
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\r':
      out += "\\r";
      return;
    default:
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
  }
}

// what() is read as a C string: a NUL would end the message there.
std::string without_nuls(const std::string& message) {
  if (message.find('\0') == std::string::npos) return message;
  std::string out;
  for (char c : message)
    if (c == '\0')
      out += "\\x00";
    else
      out += c;
  return out;
}

}  // namespace

std::string excerpt(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (i + 1 > max) break;
      out += static_cast<char>(c);
      ++i;
    } else if (const std::size_t n = c >= 0x80 ? utf8_length(text, i) : 0; n > 0) {
      if (i + n > max) break;
      out.append(text.substr(i, n));
      i += n;
    } else {
      if (i + 1 > max) break;
      append_escaped(out, c);
      ++i;
    }
  }
  if (i < text.size()) out += "\u2026 (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string Where::describe() const {
  std::string out = file;
  auto sep = [&out] { out += out.empty() ? "" : ": "; };
  if (line) {
    sep();
    out += "line " + std::to_string(*line);
  }
  if (offset) {
    sep();
    out += "byte offset " + std::to_string(*offset);
  }
  if (!field.empty()) {
    sep();
    out += "field '" + excerpt(field) + "'";
  }
  return out;
}

Error::Error(const std::string& message)
    : std::runtime_error(without_nuls(message)), bare_(without_nuls(message)) {}

Error::Error(Where where, const std::string& message)
    : std::runtime_error(
          without_nuls(where.describe().empty() ? message : where.describe() + ": " + message)),
      where_(std::move(where)),
      bare_(without_nuls(message)) {}

}  // namespace clrp
