// UTF-8 checks and code-point offsets for case files (internal to src/cases).
//
// Case files count spans in code points; the tokenizer works on bytes. These
// helpers convert between the two on text already known to be valid UTF-8.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace clrp::cases::detail {

/// Byte offset of the first byte that does not start a well-formed UTF-8
/// sequence (overlong forms, surrogates and code points above U+10FFFF are
/// malformed), or nullopt when `s` is valid.
std::optional<std::size_t> find_invalid_utf8(std::string_view s);

/// Number of code points of valid UTF-8 text.
std::size_t count_code_points(std::string_view s);

/// Byte offset of code point `cp` of valid UTF-8 text (cp may equal the
/// number of code points: the end); nullopt when `cp` is past the end.
std::optional<std::size_t> byte_offset_of(std::string_view s, std::size_t cp);

}  // namespace clrp::cases::detail
