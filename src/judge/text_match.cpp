#include "clrp/judge/text_match.hpp"

#include <algorithm>
#include <map>

#include "words.hpp"

namespace clrp::judge {

namespace {

using detail::is_space;
using detail::split_ws;

// Python's string.punctuation.
bool is_ascii_punct(char c) {
  static constexpr std::string_view kPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  return kPunct.find(c) != std::string_view::npos;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

// Punctuation that may trail a LAMBADA word: ASCII and the typographic
// quotes (UTF-8 for ’ ” “ ‘ and the ellipsis …).
std::string strip_word_punct(std::string_view w) {
  static constexpr std::string_view kUtf8[] = {"\xE2\x80\x99", "\xE2\x80\x9D", "\xE2\x80\x9C",
                                               "\xE2\x80\x98", "\xE2\x80\xA6"};
  auto strip_end = [&](bool front) {
    for (;;) {
      if (w.empty()) return;
      const char c = front ? w.front() : w.back();
      if (is_ascii_punct(c)) {
        front ? w.remove_prefix(1) : w.remove_suffix(1);
        continue;
      }
      bool removed = false;
      for (std::string_view q : kUtf8) {
        if (front ? w.starts_with(q) : w.ends_with(q)) {
          front ? w.remove_prefix(q.size()) : w.remove_suffix(q.size());
          removed = true;
        }
      }
      if (!removed) return;
    }
  };
  strip_end(true);
  strip_end(false);
  return std::string(w);
}

}  // namespace

std::string squad_normalize(std::string_view text) {
  return join(squad_tokens(text));
}

std::vector<std::string> squad_tokens(std::string_view text) {
  // lower -> remove punctuation -> remove articles -> fix whitespace, in the
  // script's order (punctuation goes first, so "the-end" is one word).
  std::string s;
  s.reserve(text.size());
  for (char c : text) {
    if (is_ascii_punct(c)) continue;
    s += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::vector<std::string> words = split_ws(s);
  std::erase_if(words, [](const std::string& w) { return w == "a" || w == "an" || w == "the"; });
  return words;
}

double exact_match(std::string_view prediction, std::string_view gold) {
  return squad_normalize(prediction) == squad_normalize(gold) ? 1.0 : 0.0;
}

double token_f1(std::string_view prediction, std::string_view gold) {
  const std::vector<std::string> p = squad_tokens(prediction);
  const std::vector<std::string> g = squad_tokens(gold);
  if (p.empty() || g.empty()) return p.empty() && g.empty() ? 1.0 : 0.0;
  std::map<std::string, int> counts;
  for (const std::string& t : g)
    ++counts[t];
  int same = 0;
  for (const std::string& t : p) {
    auto it = counts.find(t);
    if (it != counts.end() && it->second > 0) {
      --it->second;
      ++same;
    }
  }
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

double max_exact_match(std::string_view prediction, const std::vector<std::string>& golds) {
  double best = 0;
  for (const std::string& g : golds)
    best = std::max(best, exact_match(prediction, g));
  return best;
}

double max_token_f1(std::string_view prediction, const std::vector<std::string>& golds) {
  double best = 0;
  for (const std::string& g : golds)
    best = std::max(best, token_f1(prediction, g));
  return best;
}

bool alias_match(std::string_view prediction, const std::vector<std::string>& aliases) {
  const std::string p = squad_normalize(prediction);
  return std::any_of(aliases.begin(), aliases.end(),
                     [&](const std::string& a) { return squad_normalize(a) == p; });
}

std::string first_line(std::string_view generation) {
  std::size_t start = 0;
  while (start <= generation.size()) {
    std::size_t end = generation.find('\n', start);
    if (end == std::string_view::npos) end = generation.size();
    const std::string_view line = trim(generation.substr(start, end - start));
    if (!line.empty()) return std::string(line);
    start = end + 1;
  }
  return "";
}

bool lambada_correct(std::string_view continuation, std::string_view target_word) {
  const std::vector<std::string> words = split_ws(continuation);
  if (words.empty()) return false;
  const std::string target = strip_word_punct(trim(target_word));
  return !target.empty() && strip_word_punct(words.front()) == target;
}

std::string lambada_last_word(std::string_view passage) {
  const std::vector<std::string> words = split_ws(passage);
  return words.empty() ? "" : strip_word_punct(words.back());
}

}  // namespace clrp::judge
