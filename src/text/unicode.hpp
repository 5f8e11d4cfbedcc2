// UTF-8 and Unicode helpers of the tokenizer (internal to src/text).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace clrp::text::detail {

/// Byte offset of the first byte that does not start a well-formed UTF-8
/// sequence (surrogates and overlong forms count as malformed), or nullopt.
std::optional<std::size_t> find_invalid_utf8(std::string_view s);

/// Decodes the code point starting at s[i] of a *valid* UTF-8 string and
/// returns its length in bytes.
inline std::size_t utf8_decode(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if (b0 < 0xE0) {
    cp = (char32_t(b0 & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
    return 2;
  }
  if (b0 < 0xF0) {
    cp = (char32_t(b0 & 0x0F) << 12) |
         (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
         (static_cast<unsigned char>(s[i + 2]) & 0x3F);
    return 3;
  }
  cp = (char32_t(b0 & 0x07) << 18) | (char32_t(static_cast<unsigned char>(s[i + 1]) & 0x3F) << 12) |
       (char32_t(static_cast<unsigned char>(s[i + 2]) & 0x3F) << 6) |
       (static_cast<unsigned char>(s[i + 3]) & 0x3F);
  return 4;
}

/// Length in bytes of the UTF-8 sequence led by `lead` (valid input assumed).
inline std::size_t utf8_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

void append_utf8(std::string& out, char32_t cp);

/// Bytes to text the way Rust's String::from_utf8_lossy does it: each maximal
/// ill-formed subpart becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

/// Python's str.isspace() for one code point (what str.strip() removes).
bool is_python_space(char32_t cp);

/// Unicode general category N (Nd, Nl, No): Rust's char::is_numeric.
bool is_numeric(char32_t cp);

/// Unicode normalisation forms.
enum class NormalForm { NFC, NFD, NFKC, NFKD };
/// Normalises valid UTF-8 text.
std::string normalize(std::string_view text, NormalForm form);

/// GPT-2's byte-level alphabet: byte b is written as the UTF-8 text
/// byte_to_unicode()[b]; unicode_to_byte(c) inverts it (-1 when c is not in it).
const std::array<std::string, 256>& byte_to_unicode();
int unicode_to_byte(char32_t c);

}  // namespace clrp::text::detail
