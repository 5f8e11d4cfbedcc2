#include "clrp/eval/segment_map.hpp"

namespace clrp::eval {

std::optional<std::vector<TokenGroup>> group_tokens(const text::Tokenizer& tokenizer,
                                                    const std::vector<std::int32_t>& ids,
                                                    const cases::Case& c,
                                                    const std::string& rendered_text,
                                                    const std::string& prefix, std::string* why) {
  const std::string text = rendered_text + prefix;
  const std::size_t prompt_at = rendered_text.find(c.prompt);
  if (prompt_at == std::string::npos) {
    if (why) *why = "the raw prompt does not occur in the rendered prompt";
    return std::nullopt;
  }
  const std::size_t prompt_end = prompt_at + c.prompt.size();
  std::vector<TokenGroup> groups;
  for (std::size_t i = 0; i < c.segments.size(); ++i)
    groups.push_back({std::string(cases::name(c.segments[i].kind)), static_cast<int>(i), {}});
  auto other = [&](const std::string& label) -> TokenGroup& {
    for (auto& g : groups)
      if (g.segment < 0 && g.label == label) return g;
    groups.push_back({label, -1, {}});
    return groups.back();
  };
  std::size_t pos = 0;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const std::string bytes = tokenizer.token_bytes(ids[t]);
    if (!bytes.empty() && text.compare(pos, bytes.size(), bytes) == 0) {
      if (pos >= rendered_text.size())
        other("prefix").tokens.push_back(t);
      else if (pos < prompt_at || pos >= prompt_end)
        other("template").tokens.push_back(t);
      else
        groups[*cases::segment_at_byte(c, pos - prompt_at)].tokens.push_back(t);
      pos += bytes.size();
    } else if (tokenizer.is_special(ids[t])) {
      other("special").tokens.push_back(t);
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
  return groups;
}

}  // namespace clrp::eval
