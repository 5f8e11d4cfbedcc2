#include "clrp/cases/case.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "clrp/util/error.hpp"
#include "utf8.hpp"

namespace clrp::cases {

namespace {
// One table per enum: the spelling in case files is the enumerator's name.
constexpr std::array<std::pair<Format, std::string_view>, 5> kFormats{{
    {Format::mc_letter, "mc_letter"},
    {Format::mc_cloze, "mc_cloze"},
    {Format::generative, "generative"},
    {Format::code, "code"},
    {Format::instructions, "instructions"},
}};
constexpr std::array<std::pair<SegmentKind, std::string_view>, 8> kKinds{{
    {SegmentKind::instruction, "instruction"},
    {SegmentKind::fewshot, "fewshot"},
    {SegmentKind::context, "context"},
    {SegmentKind::needle, "needle"},
    {SegmentKind::question, "question"},
    {SegmentKind::options, "options"},
    {SegmentKind::code, "code"},
    {SegmentKind::answer_prefix, "answer_prefix"},
}};
constexpr std::array<std::pair<Judge, std::string_view>, 5> kJudges{{
    {Judge::squad, "squad"},
    {Judge::number, "number"},
    {Judge::math, "math"},
    {Judge::first_word, "first_word"},
    {Judge::contains, "contains"},
}};

constexpr std::array<std::pair<PairMethod, std::string_view>, 5> kPairMethods{{
    {PairMethod::letter, "letter"},
    {PairMethod::cloze, "cloze"},
    {PairMethod::gold_divergence, "gold_divergence"},
    {PairMethod::counterfactual, "counterfactual"},
    {PairMethod::imported, "imported"},
}};

template <typename E, std::size_t N>
std::string_view lookup(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [e, s] : table)
    if (e == value) return s;
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view s) {
  for (const auto& [e, name] : table)
    if (name == s) return e;
  return std::nullopt;
}
}  // namespace

std::string_view name(Format f) {
  return lookup(kFormats, f);
}
std::string_view name(SegmentKind k) {
  return lookup(kKinds, k);
}
std::string_view name(PairMethod m) {
  return lookup(kPairMethods, m);
}
std::optional<PairMethod> parse_pair_method(std::string_view s) {
  return lookup<PairMethod>(kPairMethods, s);
}
std::string_view name(Judge j) {
  return lookup(kJudges, j);
}
std::optional<Format> parse_format(std::string_view s) {
  return lookup(kFormats, s);
}
std::optional<SegmentKind> parse_segment_kind(std::string_view s) {
  return lookup(kKinds, s);
}
std::optional<Judge> parse_judge(std::string_view s) {
  return lookup(kJudges, s);
}

void finalize(Case& c) {
  c.prompt.clear();
  std::size_t chars = 0;
  for (std::size_t i = 0; i < c.segments.size(); ++i) {
    Segment& s = c.segments[i];
    if (auto bad = detail::find_invalid_utf8(s.text))
      throw Error(Where{"", "segments[" + std::to_string(i) + "].text", *bad, std::nullopt},
                  "invalid UTF-8");
    const std::size_t n = detail::count_code_points(s.text);
    s.span.chars = {chars, chars + n};
    s.span.bytes = {c.prompt.size(), c.prompt.size() + s.text.size()};
    c.prompt += s.text;
    chars += n;
  }
  // Evidence is authored in code points; the bytes follow from the prompt.
  for (std::size_t i = 0; i < c.evidence.size(); ++i) {
    TextSpan& e = c.evidence[i];
    const auto begin = detail::byte_offset_of(c.prompt, e.chars.begin);
    const auto end = detail::byte_offset_of(c.prompt, e.chars.end);
    if (!begin || !end || e.chars.begin > e.chars.end)
      throw Error(Where{"", "evidence[" + std::to_string(i) + "]", std::nullopt, std::nullopt},
                  "span [" + std::to_string(e.chars.begin) + ", " + std::to_string(e.chars.end) +
                      ") is outside the prompt of " + std::to_string(chars) + " characters");
    e.bytes = {*begin, *end};
  }
}

void mark_failed_instructions(Case& c, const std::vector<bool>& followed) {
  const auto* g = std::get_if<InstructionGold>(&c.gold);
  if (g == nullptr || g->evidence.empty()) return;
  std::vector<Span> spans;
  for (std::size_t i = 0; i < g->evidence.size() && i < followed.size(); ++i)
    if (!followed[i]) spans.insert(spans.end(), g->evidence[i].begin(), g->evidence[i].end());
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<TextSpan> merged;
  for (const Span& s : spans)
    if (!merged.empty() && s.begin <= merged.back().chars.end)
      merged.back().chars.end = std::max(merged.back().chars.end, s.end);
    else
      merged.push_back({s, {}});
  c.evidence = std::move(merged);
  finalize(c);
}

std::optional<std::size_t> segment_at_byte(const Case& c, std::size_t byte) {
  // Segments are contiguous and ordered: find the first whose end lies past `byte`.
  auto it = std::upper_bound(c.segments.begin(), c.segments.end(), byte,
                             [](std::size_t b, const Segment& s) { return b < s.span.bytes.end; });
  if (it == c.segments.end()) return std::nullopt;
  return static_cast<std::size_t>(it - c.segments.begin());
}

const std::string& correct_continuation(const Case& c) {
  if (const auto* g = std::get_if<ChoiceGold>(&c.gold)) return g->continuations.at(g->index);
  if (const auto* g = std::get_if<AnswerGold>(&c.gold)) return g->reference;
  if (const auto* g = std::get_if<CodeGold>(&c.gold)) return g->reference;
  static const std::string none;
  return none;
}

}  // namespace clrp::cases
