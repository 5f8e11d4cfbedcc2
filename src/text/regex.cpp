#include "regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cctype>
#include <memory>

#include "clrp/util/error.hpp"
#include "unicode.hpp"

namespace clrp::text::detail {

namespace {

// Unicode White_Space, what Oniguruma's \s matches (PCRE2's UCP \s also takes U+180E).
constexpr std::string_view kSpaceBody =
    "\\x{09}-\\x{0D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";
// Its complement, for \S inside a bracketed class.
constexpr std::string_view kNonSpaceBody =
    "\\x{00}-\\x{08}\\x{0E}-\\x{1F}\\x{21}-\\x{84}\\x{86}-\\x{9F}\\x{A1}-\\x{167F}"
    "\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}\\x{2030}-\\x{205E}"
    "\\x{2060}-\\x{2FFF}\\x{3001}-\\x{10FFFF}";
constexpr std::string_view kWordBody = "\\p{L}\\p{M}\\p{N}\\p{Pc}";
constexpr std::string_view kHexBody = "0-9A-Fa-f";

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

std::string escape_literal(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) {
      if (u < 0x20 || u == 0x7F) {
        static const char* hex = "0123456789ABCDEF";
        out += "\\x{";
        out += hex[u >> 4];
        out += hex[u & 15];
        out += '}';
        continue;
      }
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0)
    return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread match context with a JIT stack large enough for long inputs.
struct MatchResources {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchResources() {
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    if (context != nullptr) {
      if (stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
      // Bounds for pathological patterns from untrusted files.
      pcre2_set_match_limit(context, 50'000'000);
      pcre2_set_depth_limit(context, 100'000);
    }
  }
  ~MatchResources() {
    if (context != nullptr) pcre2_match_context_free(context);
    if (stack != nullptr) pcre2_jit_stack_free(stack);
  }
};
MatchResources& match_resources() {
  thread_local MatchResources resources;
  return resources;
}

}  // namespace

std::string translate_onig_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char d = p[i + 1];
      ++i;
      switch (d) {
        case 's':
          out += in_class ? std::string(kSpaceBody) : "[" + std::string(kSpaceBody) + "]";
          break;
        case 'S':
          out += in_class ? std::string(kNonSpaceBody) : "[^" + std::string(kSpaceBody) + "]";
          break;
        case 'w':
          out += in_class ? std::string(kWordBody) : "[" + std::string(kWordBody) + "]";
          break;
        case 'W':
          if (in_class)
            out += "\\W";
          else
            out += "[^" + std::string(kWordBody) + "]";
          break;
        case 'h':
          out += in_class ? std::string(kHexBody) : "[" + std::string(kHexBody) + "]";
          break;
        case 'H':
          if (in_class)
            out += "\\H";
          else
            out += "[^" + std::string(kHexBody) + "]";
          break;
        case 'u':
          if (i + 4 < p.size() && is_hex(p[i + 1]) && is_hex(p[i + 2]) && is_hex(p[i + 3]) &&
              is_hex(p[i + 4])) {
            out += "\\x{";
            out.append(p.substr(i + 1, 4));
            out += '}';
            i += 4;
          } else {
            out += "\\u";
          }
          break;
        default:
          out += '\\';
          out += d;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // a leading ']' is literal
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      // POSIX class [:name:] inside a bracket expression: copy it whole.
      const auto end = p.find(":]", i + 2);
      if (end != std::string_view::npos) {
        out.append(p.substr(i, end + 2 - i));
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

Regex::Regex(std::string_view pattern, bool literal) : pattern_(pattern) {
  const std::string translated =
      literal ? escape_literal(pattern) : translate_onig_pattern(pattern);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
      PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &error, &error_offset, nullptr);
  if (code == nullptr) {
    // Offsets refer to the translated pattern; they equal the original's up to
    // the first rewritten escape, which is where most mistakes are found anyway.
    throw RegexError(pcre2_message(error), error_offset);
  }
  // JIT is an optimisation: when the platform lacks it, the interpreter runs.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text,
                     std::vector<std::pair<std::size_t, std::size_t>>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code, nullptr), &pcre2_match_data_free);
  if (!data) throw std::bad_alloc();
  auto& resources = match_resources();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const std::size_t n = text.size();
  std::size_t last_end = 0;
  bool have_last = false;
  std::size_t last_match_end = 0;
  while (last_end <= n) {
    const int rc =
        pcre2_match(code, subject, n, last_end, PCRE2_NO_UTF_CHECK, data.get(), resources.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0)
      throw Error("pre-tokenizer regex '" + excerpt(pattern_) +
                  "' failed on the input: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.get());
    const std::size_t s = ov[0], e = ov[1];
    if (s > e || e > n)  // only \K tricks can do this
      throw Error("pre-tokenizer regex '" + excerpt(pattern_) +
                  "' reported a match that ends before it starts");
    if (s == e && have_last && last_match_end == e) {
      if (last_end >= n) break;
      last_end += utf8_length(static_cast<unsigned char>(text[last_end]));
      continue;
    }
    last_end = e;
    last_match_end = e;
    have_last = true;
    out.emplace_back(s, e);
  }
}

}  // namespace clrp::text::detail
