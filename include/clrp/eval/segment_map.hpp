// Which part of a case each explained token belongs to, so that relevance can
// be summed per prompt segment (docs/cases.md, "How relevance is summed").
//
// The explained sequence is tokens(rendered prompt + pair prefix). Each token
// is placed by its first byte: inside the raw prompt it belongs to the segment
// holding that byte (segment_at_byte); before or after the raw prompt inside
// the rendered text it is chat "template"; past the rendered text it is the
// pair's "prefix", except a reasoning model's generated thinking — from a
// "<think>" opened after the raw prompt (by the template's generation prompt
// or by the model) to the "</think>" that closes it, or to the end when the
// contrast lies inside it — which is "thinking"; a special token that is not
// spelled in the text (a BOS the tokenizer adds) is "special".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clrp/cases/case.hpp"
#include "clrp/text/tokenizer.hpp"

namespace clrp::eval {

/// Where one token of the explained sequence lies.
struct TokenPlace {
  enum class Kind { segment, template_text, thinking, prefix, special };
  Kind kind = Kind::special;
  int segment = -1;  ///< index into Case::segments (Kind::segment)
  /// Its bytes in the raw prompt, [begin, end) (Kind::segment; clipped to the prompt).
  std::size_t begin = 0, end = 0;
};

/// The place of every token of `ids` = tokens(rendered_text + prefix): each
/// token is placed by its first byte, as described above; the raw prompt is
/// found in the rendered text by its first occurrence. nullopt, with `why`,
/// when the tokens do not spell `rendered_text + prefix` or the raw prompt does
/// not occur in the rendered text (a template that changed the message).
std::optional<std::vector<TokenPlace>> place_tokens(const text::Tokenizer& tokenizer,
                                                    const std::vector<std::int32_t>& ids,
                                                    const cases::Case& c,
                                                    const std::string& rendered_text,
                                                    const std::string& prefix, std::string* why);

struct TokenGroup {
  std::string label;  ///< "fewshot", "question", ..., "template", "thinking", "prefix", "special"
  int segment = -1;   ///< index into Case::segments, -1 for the other groups
  std::vector<std::size_t> tokens;  ///< positions of the tokens it holds
};

/// place_tokens() as groups, in order of first appearance: one per case
/// segment (even when it got no token of its own), then template / thinking /
/// prefix / special when present.
std::optional<std::vector<TokenGroup>> group_tokens(const text::Tokenizer& tokenizer,
                                                    const std::vector<std::int32_t>& ids,
                                                    const cases::Case& c,
                                                    const std::string& rendered_text,
                                                    const std::string& prefix, std::string* why);

}  // namespace clrp::eval
