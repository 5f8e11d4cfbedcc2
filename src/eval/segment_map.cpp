#include "clrp/eval/segment_map.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace clrp::eval {

std::optional<std::vector<TokenPlace>> place_tokens(const text::Tokenizer& tokenizer,
                                                    const std::vector<std::int32_t>& ids,
                                                    const cases::Case& c,
                                                    const std::string& rendered_text,
                                                    const std::string& prefix, std::string* why) {
  const std::string text = rendered_text + prefix;
  // The raw prompt in the rendered text; a template that trims the message
  // (Llama-3's `| trim`) keeps it without its outer whitespace, whose bytes
  // then have no token. `lead`: the raw bytes dropped in front.
  std::size_t lead = 0, length = c.prompt.size();
  std::size_t prompt_at = rendered_text.find(c.prompt);
  if (prompt_at == std::string::npos) {
    constexpr std::string_view kBlank = " \t\n\r\f\v";
    const std::string_view raw = c.prompt;
    lead = std::min(raw.find_first_not_of(kBlank), raw.size());
    length = lead == raw.size() ? 0 : raw.find_last_not_of(kBlank) + 1 - lead;
    if (length > 0) prompt_at = rendered_text.find(raw.substr(lead, length));
  }
  if (prompt_at == std::string::npos || length == 0) {
    if (why) *why = "the raw prompt does not occur in the rendered prompt";
    return std::nullopt;
  }
  const std::size_t prompt_end = prompt_at + length;
  // Thinking: every "<think>" after the raw prompt to its "</think>" (or to the
  // end); only the part in the prefix counts, the template's own is template.
  constexpr std::string_view kOpen = "<think>", kClose = "</think>";
  std::vector<std::pair<std::size_t, std::size_t>> thinking;
  for (std::size_t open = text.find(kOpen, prompt_end); open != std::string::npos;) {
    const std::size_t close = text.find(kClose, open);
    const std::size_t end = close == std::string::npos ? text.size() : close + kClose.size();
    thinking.emplace_back(std::max(open, rendered_text.size()), end);
    open = text.find(kOpen, end);
  }
  const auto in_thinking = [&thinking](std::size_t pos) {
    return std::any_of(thinking.begin(), thinking.end(),
                       [pos](const auto& span) { return pos >= span.first && pos < span.second; });
  };
  std::vector<TokenPlace> places(ids.size());
  std::size_t pos = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::string bytes = tokenizer.token_bytes(ids[t]);
    TokenPlace& p = places[t];
    if (!bytes.empty() && text.compare(pos, bytes.size(), bytes) == 0) {
      if (pos >= rendered_text.size() && in_thinking(pos)) {
        p.kind = TokenPlace::Kind::thinking;
      } else if (pos >= rendered_text.size()) {
        p.kind = TokenPlace::Kind::prefix;
      } else if (pos < prompt_at || pos >= prompt_end) {
        p.kind = TokenPlace::Kind::template_text;
      } else {
        p.kind = TokenPlace::Kind::segment;
        p.begin = pos - prompt_at + lead;
        p.end = std::min(pos + bytes.size(), prompt_end) - prompt_at + lead;
        p.segment = static_cast<int>(*cases::segment_at_byte(c, p.begin));
      }
      pos += bytes.size();
    } else if (tokenizer.is_special(ids[t])) {
      p.kind = TokenPlace::Kind::special;  // added by the tokenizer, not in the text
    } else {
      if (why)
        *why = "token " + std::to_string(t) + " does not spell the text at byte " +
               std::to_string(pos);
      return std::nullopt;
    }
  }
  if (pos != text.size()) {
    if (why)
      *why = "the tokens spell " + std::to_string(pos) + " of " + std::to_string(text.size()) +
             " bytes";
    return std::nullopt;
  }
  return places;
}

std::optional<std::vector<TokenGroup>> group_tokens(const text::Tokenizer& tokenizer,
                                                    const std::vector<std::int32_t>& ids,
                                                    const cases::Case& c,
                                                    const std::string& rendered_text,
                                                    const std::string& prefix, std::string* why) {
  const auto places = place_tokens(tokenizer, ids, c, rendered_text, prefix, why);
  if (!places) return std::nullopt;
  std::vector<TokenGroup> groups;
  for (std::size_t i = 0; i < c.segments.size(); ++i)
    groups.push_back({std::string(cases::name(c.segments[i].kind)), static_cast<int>(i), {}});
  auto other = [&](const std::string& label) -> TokenGroup& {
    for (auto& g : groups)
      if (g.segment < 0 && g.label == label) return g;
    groups.push_back({label, -1, {}});
    return groups.back();
  };
  for (std::size_t t = 0; t < places->size(); ++t) {
    const TokenPlace& p = (*places)[t];
    switch (p.kind) {
      case TokenPlace::Kind::segment:
        groups[static_cast<std::size_t>(p.segment)].tokens.push_back(t);
        break;
      case TokenPlace::Kind::template_text:
        other("template").tokens.push_back(t);
        break;
      case TokenPlace::Kind::thinking:
        other("thinking").tokens.push_back(t);
        break;
      case TokenPlace::Kind::prefix:
        other("prefix").tokens.push_back(t);
        break;
      case TokenPlace::Kind::special:
        other("special").tokens.push_back(t);
        break;
    }
  }
  return groups;
}

}  // namespace clrp::eval
