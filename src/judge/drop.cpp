#include "clrp/judge/drop.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "clrp/judge/numbers.hpp"
#include "words.hpp"

namespace clrp::judge {

namespace {

using detail::is_space;
using detail::split_ws;

using Bag = std::set<std::string>;

bool is_ascii_punct(char c) {
  static constexpr std::string_view kPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  return kPunct.find(c) != std::string_view::npos;
}

// Python's float(text) for plain decimal spellings: sign, digits, one
// point, exponent. ("inf", "nan" and "1_000", which Python also accepts,
// never occur as DROP answers.)
bool as_number(std::string_view t, double& value) {
  if (t.empty()) return false;
  std::string_view body = t;
  if (body.front() == '+') body.remove_prefix(1);
  if (body.empty()) return false;
  const char* end = body.data() + body.size();
  const auto [ptr, ec] = std::from_chars(body.data(), end, value);
  return ec == std::errc() && ptr == end;
}

bool is_number(std::string_view t) {
  double ignored = 0;
  return as_number(t, ignored);
}

double bag_f1(const Bag& predicted, const Bag& gold) {
  std::size_t common = 0;
  for (const std::string& t : predicted)
    common += gold.count(t);
  const double precision =
      predicted.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(predicted.size());
  const double recall =
      gold.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(gold.size());
  if (precision == 0.0 && recall == 0.0) return 0.0;
  return 2 * precision * recall / (precision + recall);
}

// A pair counts only if the gold bag has no numbers or shares one.
bool numbers_agree(const Bag& gold, const Bag& predicted) {
  bool gold_has_number = false;
  for (const std::string& t : gold) {
    if (!is_number(t)) continue;
    gold_has_number = true;
    if (predicted.count(t) > 0) return true;
  }
  return !gold_has_number;
}

// The maximum total of a one-to-one assignment of rows to columns of
// `score` (rows <= columns), by a search over subsets of columns.
double best_assignment(const std::vector<std::vector<double>>& score, std::size_t cols) {
  const std::size_t rows = score.size();
  if (rows == 0 || cols == 0) return 0.0;
  if (cols > 12) {
    // Greedy fallback: best remaining pair first.
    std::vector<bool> row_used(rows), col_used(cols);
    double total = 0;
    for (std::size_t k = 0; k < rows; ++k) {
      double best = -1;
      std::size_t br = 0, bc = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) {
          if (!row_used[r] && !col_used[c] && score[r][c] > best) {
            best = score[r][c];
            br = r;
            bc = c;
          }
        }
      }
      row_used[br] = col_used[bc] = true;
      total += best;
    }
    return total;
  }
  // dp[mask]: best total for the first popcount(mask) rows using `mask`.
  std::vector<double> dp(std::size_t{1} << cols, -1.0);
  dp[0] = 0.0;
  double best = 0.0;
  for (std::size_t mask = 0; mask < dp.size(); ++mask) {
    if (dp[mask] < 0) continue;
    const auto row = static_cast<std::size_t>(__builtin_popcountll(mask));
    if (row == rows) {
      best = std::max(best, dp[mask]);
      continue;
    }
    for (std::size_t c = 0; c < cols; ++c) {
      if (mask & (std::size_t{1} << c)) continue;
      const std::size_t next = mask | (std::size_t{1} << c);
      dp[next] = std::max(dp[next], dp[mask] + score[row][c]);
    }
  }
  return best;
}

}  // namespace

std::string drop_normalize(std::string_view span) {
  std::string out;
  std::size_t start = 0;
  // Tokens: split on ' ' and '-' (only those; other whitespace stays inside
  // a token until the whitespace fix below).
  while (start <= span.size()) {
    std::size_t end = span.find_first_of(" -", start);
    if (end == std::string_view::npos) end = span.size();
    std::string token(span.substr(start, end - start));
    start = end + 1;
    for (char& c : token) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (!is_number(token)) std::erase_if(token, is_ascii_punct);
    double value = 0;
    if (as_number(token, value)) token = canonical_number(value);
    std::vector<std::string> words = split_ws(token);
    std::erase_if(words, [](const std::string& w) { return w == "a" || w == "an" || w == "the"; });
    for (const std::string& w : words) {
      if (!out.empty()) out += ' ';
      out += w;
    }
  }
  return out;
}

DropScore drop_score(const std::vector<std::string>& predicted,
                     const std::vector<std::string>& gold) {
  std::vector<std::string> p_spans, g_spans;
  std::vector<Bag> p_bags, g_bags;
  for (const std::string& s : predicted) {
    p_spans.push_back(drop_normalize(s));
    const std::vector<std::string> words = split_ws(p_spans.back());
    p_bags.emplace_back(words.begin(), words.end());
  }
  for (const std::string& s : gold) {
    g_spans.push_back(drop_normalize(s));
    const std::vector<std::string> words = split_ws(g_spans.back());
    g_bags.emplace_back(words.begin(), words.end());
  }
  DropScore out;
  const std::set<std::string> p_set(p_spans.begin(), p_spans.end());
  const std::set<std::string> g_set(g_spans.begin(), g_spans.end());
  out.exact_match = (p_set == g_set && p_spans.size() == g_spans.size()) ? 1.0 : 0.0;

  const std::size_t n = std::max(p_bags.size(), g_bags.size());
  if (n == 0) return out;
  // Rows are the smaller side so the subset search stays small.
  const bool gold_rows = g_bags.size() <= p_bags.size();
  const std::vector<Bag>& rows = gold_rows ? g_bags : p_bags;
  const std::vector<Bag>& cols = gold_rows ? p_bags : g_bags;
  std::vector<std::vector<double>> score(rows.size(), std::vector<double>(cols.size(), 0.0));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const Bag& g = gold_rows ? rows[r] : cols[c];
      const Bag& p = gold_rows ? cols[c] : rows[r];
      if (numbers_agree(g, p)) score[r][c] = bag_f1(p, g);
    }
  }
  const double f1 = best_assignment(score, cols.size()) / static_cast<double>(n);
  out.f1 = std::round(f1 * 100.0) / 100.0;
  return out;
}

DropScore drop_max_score(const std::vector<std::string>& predicted,
                         const std::vector<std::vector<std::string>>& golds) {
  DropScore best;
  for (const std::vector<std::string>& gold : golds) {
    const DropScore s = drop_score(predicted, gold);
    best.exact_match = std::max(best.exact_match, s.exact_match);
    best.f1 = std::max(best.f1, s.f1);
  }
  return best;
}

}  // namespace clrp::judge
