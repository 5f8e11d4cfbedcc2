// Pre-tokenizer regular expressions: Oniguruma syntax (as Hugging Face
// `tokenizers` reads it from tokenizer.json) run by PCRE2 in UTF + UCP mode,
// JIT-compiled where the platform allows. Internal to src/text.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clrp::text::detail {

/// A pattern PCRE2 rejected; `what()` says why, `offset` where in the pattern.
class RegexError : public std::runtime_error {
 public:
  RegexError(const std::string& message, std::size_t offset)
      : std::runtime_error(message), offset(offset) {}
  std::size_t offset;
};

/// Rewrites the Oniguruma constructs whose meaning differs in PCRE2: \s and \S
/// (Unicode White_Space, which excludes U+180E), \w and \W (L, M, N, Pc), \h
/// and \H (hexadecimal digits) and \uHHHH. Exposed for the unit tests.
std::string translate_onig_pattern(std::string_view pattern);

class Regex {
 public:
  /// Compiles `pattern`; `literal` takes it as plain text (Split's String pattern).
  explicit Regex(std::string_view pattern, bool literal = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// Appends the non-overlapping matches of valid UTF-8 `text` as byte ranges
  /// [start, end), iterating as onig's find_iter does: an empty match right
  /// where the previous match ended is skipped by one character.
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

}  // namespace clrp::text::detail
