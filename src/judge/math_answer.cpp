#include "clrp/judge/math_answer.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace clrp::judge {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
}

std::vector<std::string> split(const std::string& s, std::string_view sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    if (at == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, at - start));
    start = at + sep.size();
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The index of the brace that closes the one at `open`, or npos.
std::size_t matching_brace(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

// "\text{ cm}" at the end is a unit (MATH writes units with a leading space
// inside \text); everything from it on goes.
void remove_right_units(std::string& s) {
  const std::size_t at = s.find("\\text{ ");
  if (at != std::string::npos) s.erase(at);
}

// \text{abc} -> abc, for the wrappers models use around words and units.
void unwrap_text(std::string& s) {
  for (std::string_view cmd : {"\\text", "\\textbf", "\\mathrm", "\\mbox", "\\textrm"}) {
    std::size_t at = 0;
    while ((at = s.find(cmd, at)) != std::string::npos) {
      const std::size_t open = at + cmd.size();
      if (open >= s.size() || s[open] != '{') {
        at = open;
        continue;
      }
      const std::size_t close = matching_brace(s, open);
      if (close == std::string::npos) break;
      s = s.substr(0, at) + s.substr(open + 1, close - open - 1) + s.substr(close + 1);
    }
  }
}

// \sqrt3 -> \sqrt{3}: one character after \sqrt gets braces.
void fix_sqrt(std::string& s) {
  if (s.find("\\sqrt") == std::string::npos) return;
  const std::vector<std::string> parts = split(s, "\\sqrt");
  std::string out = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (!p.empty() && p[0] != '{') {
      out += "\\sqrt{" + p.substr(0, 1) + "}" + p.substr(1);
    } else {
      out += "\\sqrt" + p;
    }
  }
  s = out;
}

// \frac12 -> \frac{1}{2}, \frac1{72} -> \frac{1}{72}. Like the original, a
// \frac with fewer than two characters after it leaves the string as it was.
void fix_fracs(std::string& s) {
  const std::vector<std::string> parts = split(s, "\\frac");
  std::string out = parts[0];
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    out += "\\frac";
    if (!p.empty() && p[0] == '{') {
      out += p;
      continue;
    }
    if (p.size() < 2) return;
    const char a = p[0];
    const char b = p[1];
    if (b != '{') {
      out += std::string("{") + a + "}{" + b + "}" + p.substr(2);
    } else {
      out += std::string("{") + a + "}" + p.substr(1);
    }
  }
  s = out;
}

// "3/4" -> \frac{3}{4} when both sides are plain integers.
void fix_a_slash_b(std::string& s) {
  const std::vector<std::string> parts = split(s, "/");
  if (parts.size() != 2 || !all_digits(parts[0]) || !all_digits(parts[1])) return;
  // The original compares str(int(a)) to a, so leading zeros disqualify.
  if ((parts[0].size() > 1 && parts[0][0] == '0') || (parts[1].size() > 1 && parts[1][0] == '0')) {
    return;
  }
  s = "\\frac{" + parts[0] + "}{" + parts[1] + "}";
}

// Plain numbers only: "1,000" -> "1000", "3.0" -> "3", "2.50" -> "2.5".
void fix_plain_number(std::string& s) {
  std::string t = s;
  const bool negative = !t.empty() && t[0] == '-';
  if (negative) t.erase(0, 1);
  // Thousands commas: d{1,3}(,ddd)+ with an optional decimal part.
  const std::size_t dot = t.find('.');
  std::string int_part = t.substr(0, dot);
  const std::string frac_part = dot == std::string::npos ? "" : t.substr(dot + 1);
  if (int_part.find(',') != std::string::npos) {
    const std::vector<std::string> groups = split(int_part, ",");
    const bool grouped = all_digits(groups[0]) && groups[0].size() <= 3 &&
                         std::all_of(groups.begin() + 1, groups.end(), [](const std::string& g) {
                           return g.size() == 3 && all_digits(g);
                         });
    if (!grouped) return;
    int_part.clear();
    for (const std::string& g : groups)
      int_part += g;
  }
  if (!all_digits(int_part) || (dot != std::string::npos && !all_digits(frac_part))) return;
  std::string frac = frac_part;
  while (!frac.empty() && frac.back() == '0')
    frac.pop_back();
  s = (negative ? "-" : "") + int_part + (frac.empty() ? "" : "." + frac);
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::optional<std::string> last_boxed_content(std::string_view text) {
  std::size_t at = text.rfind("\\boxed");
  std::size_t cmd = 6;
  if (at == std::string_view::npos) {
    at = text.rfind("\\fbox");
    cmd = 5;
  }
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t i = at + cmd;
  if (i < text.size() && text[i] == ' ') {
    // "\boxed 5$": the content runs to the next "$".
    const std::size_t end = text.find('$', i);
    return trim(text.substr(i + 1, end == std::string_view::npos ? end : end - i - 1));
  }
  while (i < text.size() && text[i] != '{') {
    if (!std::isspace(static_cast<unsigned char>(text[i]))) return std::nullopt;
    ++i;
  }
  if (i >= text.size()) return std::nullopt;
  const std::size_t close = matching_brace(text, i);
  if (close == std::string_view::npos) return std::nullopt;
  return std::string(text.substr(i + 1, close - i - 1));
}

std::string math_normalize(std::string_view answer) {
  std::string s(answer);
  // --- the original strip_string, in its order ---
  replace_all(s, "\n", "");
  replace_all(s, "\\!", "");
  replace_all(s, "\\\\", "\\");
  replace_all(s, "tfrac", "frac");
  replace_all(s, "dfrac", "frac");
  replace_all(s, "\\left", "");
  replace_all(s, "\\right", "");
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_all(s, "\\$", "");
  remove_right_units(s);
  // --- additions: wrappers and spacing commands models produce ---
  unwrap_text(s);
  replace_all(s, "\\displaystyle", "");
  replace_all(s, "\\,", "");
  replace_all(s, "\\;", "");
  replace_all(s, "\\:", "");
  replace_all(s, "$", "");
  // --- the original again ---
  replace_all(s, "\\%", "");
  replace_all(s, "%", "");
  replace_all(s, " .", " 0.");
  replace_all(s, "{.", "{0.");
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  {
    const std::vector<std::string> sides = split(s, "=");
    if (sides.size() == 2 && sides[0].size() <= 2) s = sides[1];
  }
  fix_sqrt(s);
  replace_all(s, " ", "");
  fix_fracs(s);
  // --- additions: a sentence's period, plain number spelling ---
  if (s.size() > 1 && s.back() == '.') s.pop_back();
  fix_plain_number(s);
  // --- the original's last steps ---
  if (s == "0.5") s = "\\frac{1}{2}";
  fix_a_slash_b(s);
  return s;
}

bool math_equivalent(std::string_view a, std::string_view b) {
  return math_normalize(a) == math_normalize(b);
}

std::optional<std::string> math_extract(std::string_view output) {
  if (auto boxed = last_boxed_content(output)) return boxed;
  std::string low(output);
  std::transform(low.begin(), low.end(), low.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::size_t at = low.rfind("answer is");
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = output.substr(at + 9);
  if (rest.starts_with(":")) rest.remove_prefix(1);
  // Up to the end of the line; a sentence's final ". " ends it too, but a
  // decimal point does not.
  std::size_t end = rest.find('\n');
  if (end == std::string_view::npos) end = rest.size();
  rest = rest.substr(0, end);
  if (const std::size_t stop = rest.find(". "); stop != std::string_view::npos) {
    rest = rest.substr(0, stop);
  }
  std::string answer = trim(rest);
  // "$\frac{1}{2}$." -> \frac{1}{2}
  while (!answer.empty() && answer.back() == '.')
    answer.pop_back();
  if (answer.size() >= 2 && answer.front() == '$' && answer.back() == '$') {
    answer = trim(std::string_view(answer).substr(1, answer.size() - 2));
  }
  if (answer.empty()) return std::nullopt;
  return answer;
}

bool math_correct(std::string_view output, std::string_view gold_solution) {
  const std::optional<std::string> gold_boxed = last_boxed_content(gold_solution);
  const std::string gold = gold_boxed ? *gold_boxed : std::string(gold_solution);
  const std::optional<std::string> got = math_extract(output);
  return got && math_equivalent(*got, gold);
}

}  // namespace clrp::judge
