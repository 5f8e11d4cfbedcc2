// The tokenizer pipeline, step for step as Hugging Face `tokenizers` 0.22 runs
// it: added vocabulary -> normalizer -> pre-tokenizers -> model (BPE or
// Unigram) -> post-processor; and the decoders back.
#include "clrp/text/tokenizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "clrp/util/error.hpp"
#include "tokenizer_spec.hpp"
#include "unigram.hpp"

namespace clrp::text {

using detail::AddedTokenSpec;
using detail::DecoderStep;
using detail::NormalizerStep;
using detail::PrependScheme;
using detail::PreTokenizerStep;
using detail::SplitBehavior;

namespace {

// ---------------------------------------------------------------------------
// Pieces of text on their way through the pipeline.

struct Piece {
  std::string text;
  std::int32_t token = -1;  // >= 0: already an added token, left alone by later steps
  // Starts where the input text starts (tokenizers' offsets_original().0 == 0),
  // which Metaspace's prepend_scheme "first" asks.
  bool at_origin = false;
};

using Ranges = std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>>;  // (range, flag)

bool is_word_char(char32_t cp) {
  if (cp == '_' || cp == 0x200C || cp == 0x200D) return true;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool is_white_space(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// Last code point of valid UTF-8 `s` (non-empty).
char32_t last_code_point(std::string_view s) {
  std::size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80)
    --i;
  char32_t cp = 0;
  detail::utf8_decode(s, i, cp);
  return cp;
}

// ---------------------------------------------------------------------------
// Added tokens: leftmost-longest matching of a set of literal strings.

class LiteralMatcher {
 public:
  void add(std::string pattern, std::int32_t id) {
    if (pattern.empty()) return;
    first_bytes_.set(static_cast<unsigned char>(pattern[0]));
    patterns_.push_back({std::move(pattern), id});
  }
  void finish() {
    // Longest first; among equal lengths the earlier pattern wins (stable).
    std::stable_sort(patterns_.begin(), patterns_.end(),
                     [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
    for (std::size_t k = 0; k < patterns_.size(); ++k)
      by_first_[static_cast<unsigned char>(patterns_[k].text[0])].push_back(k);
  }
  bool empty() const { return patterns_.empty(); }

  // Next leftmost-longest match at or after `from`: (start, end, id).
  bool find(std::string_view s, std::size_t from, std::size_t& start, std::size_t& end,
            std::int32_t& id) const {
    for (std::size_t p = from; p < s.size(); ++p) {
      const auto b = static_cast<unsigned char>(s[p]);
      if (!first_bytes_.test(b)) continue;
      for (std::size_t k : by_first_[b]) {
        const auto& e = patterns_[k];
        if (e.text.size() <= s.size() - p && s.compare(p, e.text.size(), e.text) == 0) {
          start = p;
          end = p + e.text.size();
          id = e.id;
          return true;
        }
      }
    }
    return false;
  }

 private:
  struct Entry {
    std::string text;
    std::int32_t id;
  };
  std::vector<Entry> patterns_;
  std::bitset<256> first_bytes_;
  std::array<std::vector<std::size_t>, 256> by_first_;
};

// ---------------------------------------------------------------------------
// Split behaviours over (range, is_match) lists; returns (range, remove).

Ranges apply_behavior(Ranges matches, SplitBehavior behavior) {
  Ranges out;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto& m : matches)
        out.push_back({m.first, false});
      return out;
    case SplitBehavior::Removed:
      return matches;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (auto& [range, is_match] : matches) {
        if (is_match == previous && !out.empty())
          out.back().first.second = range.second;
        else
          out.push_back({range, false});
        previous = is_match;
      }
      return out;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (auto& [range, is_match] : matches) {
        if (is_match && !previous && !out.empty())
          out.back().first.second = range.second;
        else
          out.push_back({range, false});
        previous = is_match;
      }
      return out;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        const auto& [range, is_match] = *it;
        if (is_match && !previous && !out.empty())
          out.back().first.first = range.first;
        else
          out.push_back({range, false});
        previous = is_match;
      }
      std::reverse(out.begin(), out.end());
      return out;
    }
  }
  return out;
}

// Pattern::find_matches of tokenizers for a regex.
Ranges regex_matches(const detail::Regex& re, std::string_view s,
                     std::vector<std::pair<std::size_t, std::size_t>>& scratch) {
  Ranges out;
  if (s.empty()) {
    out.push_back({{0, 0}, false});
    return out;
  }
  scratch.clear();
  re.find_all(s, scratch);
  std::size_t prev = 0;
  for (auto [start, end] : scratch) {
    if (prev != start) out.push_back({{prev, start}, false});
    out.push_back({{start, end}, true});
    prev = end;
  }
  if (prev != s.size()) out.push_back({{prev, s.size()}, false});
  return out;
}

// Pattern::find_matches of tokenizers for a character predicate (Digits).
Ranges numeric_matches(std::string_view s) {
  Ranges out;
  if (s.empty()) {
    out.push_back({{0, 0}, false});
    return out;
  }
  std::size_t last_offset = 0, last_seen = 0;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = detail::utf8_decode(s, i, cp);
    last_seen = i + n;
    if (detail::is_numeric(cp)) {
      if (last_offset < i) out.push_back({{last_offset, i}, false});
      out.push_back({{i, i + n}, true});
      last_offset = i + n;
    }
    i += n;
  }
  if (last_seen > last_offset) out.push_back({{last_offset, last_seen}, false});
  return out;
}

void append_split(std::vector<Piece>& out, std::string_view s, const Ranges& ranges,
                  bool at_origin) {
  for (const auto& [range, remove] : ranges) {
    if (remove || range.second <= range.first) continue;  // empty pieces are dropped
    out.push_back({std::string(s.substr(range.first, range.second - range.first)), -1,
                   at_origin && range.first == 0});
  }
}

// Every occurrence of `pattern` (non-empty) in `s` replaced by `content`.
std::string replace_all(std::string_view s, std::string_view pattern, std::string_view content) {
  std::string r;
  r.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(pattern, pos)) != std::string_view::npos;
       pos = hit + pattern.size()) {
    r.append(s, pos, hit - pos);
    r += content;
  }
  r.append(s, pos, std::string_view::npos);
  return r;
}

// ---------------------------------------------------------------------------
// BPE

struct Symbol {
  std::int32_t c;
  std::int64_t prev, next;
  std::size_t len;
};

struct MergeEntry {
  std::size_t pos;
  std::uint32_t rank;
  std::int32_t new_id;
  bool operator<(const MergeEntry& o) const {  // priority_queue pops the "largest"
    if (rank != o.rank) return rank > o.rank;
    return pos > o.pos;
  }
};

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
         static_cast<std::uint32_t>(b);
}

}  // namespace

// ---------------------------------------------------------------------------

struct Tokenizer::Impl {
  detail::TokenizerSpec spec;

  // Model.
  std::vector<std::string> id_to_vocab;  // "" with !has_vocab_id for holes
  std::vector<bool> has_vocab_id;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::int32_t>> merges;
  std::optional<std::int32_t> unk;
  std::array<std::int32_t, 256> byte_fallback_ids{};
  bool byte_fallback_ok = false;
  std::unique_ptr<detail::UnigramModel> unigram;  // for a Unigram model

  // Added vocabulary.
  detail::TokenMap added_map;                                    // content -> id
  std::unordered_map<std::int32_t, AddedTokenSpec> added_map_r;  // id -> token
  std::unordered_set<std::string> special_set;
  LiteralMatcher raw_matcher, normalized_matcher;

  std::int64_t vocab_size = 0;

  // Per-word cache of BPE results.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>> cache;
  static constexpr std::size_t kCacheCapacity = 1 << 17;

  explicit Impl(detail::TokenizerSpec s);

  std::optional<std::int32_t> token_to_id(std::string_view token) const {
    if (auto it = added_map.find(token); it != added_map.end()) return it->second;
    if (auto it = spec.model.vocab.find(token); it != spec.model.vocab.end()) return it->second;
    return std::nullopt;
  }
  const std::string* id_to_token(std::int32_t id) const {
    if (auto it = added_map_r.find(id); it != added_map_r.end()) return &it->second.content;
    if (id >= 0 && static_cast<std::size_t>(id) < id_to_vocab.size() && has_vocab_id[id])
      return &id_to_vocab[id];
    return nullptr;
  }

  void split_added(std::vector<Piece>& pieces, const LiteralMatcher& matcher) const;
  void find_added(std::string_view sentence, bool at_origin, const LiteralMatcher& matcher,
                  std::vector<Piece>& out) const;
  void normalize(std::string& text) const;
  void pre_tokenize(std::vector<Piece>& pieces) const;
  void bpe(std::string_view word, std::vector<std::int32_t>& out) const;
  void model_encode(std::string_view word, std::vector<std::int32_t>& out) const;
  void merge_word(std::string_view word, std::vector<std::int32_t>& out) const;
  std::vector<std::string> run_decoders(std::vector<std::string> tokens) const;
};

Tokenizer::Impl::Impl(detail::TokenizerSpec s) : spec(std::move(s)) {
  const Where where{spec.origin, "", std::nullopt};
  auto& model = spec.model;
  const bool is_unigram = model.kind == detail::BpeSpec::Kind::Unigram;
  // Id -> token of the model vocabulary (Unigram: every piece, duplicates too).
  if (is_unigram) {
    for (const auto& [piece, score] : model.pieces)
      id_to_vocab.push_back(piece);
    has_vocab_id.assign(id_to_vocab.size(), true);
  } else {
    std::int64_t max_id = -1;
    for (const auto& [token, id] : model.vocab)
      max_id = std::max<std::int64_t>(max_id, id);
    id_to_vocab.resize(static_cast<std::size_t>(max_id + 1));
    has_vocab_id.assign(static_cast<std::size_t>(max_id + 1), false);
    for (const auto& [token, id] : model.vocab) {
      id_to_vocab[id] = token;
      has_vocab_id[id] = true;
    }
  }
  vocab_size = static_cast<std::int64_t>(id_to_vocab.size());

  // Merges: (left id, right id) -> (rank, merged id). A later duplicate wins, as in tokenizers.
  const std::size_t prefix_len =
      model.continuing_subword_prefix ? model.continuing_subword_prefix->size() : 0;
  merges.reserve(model.merges.size() * 2);
  for (std::size_t rank = 0; rank < model.merges.size(); ++rank) {
    const auto& [a, b] = model.merges[rank];
    const std::string field = spec.merges_field + "[" + std::to_string(rank) + "]";
    auto ia = model.vocab.find(a);
    if (ia == model.vocab.end())
      throw Error(Where{spec.origin, field, std::nullopt},
                  "merge refers to token '" + excerpt(a) + "', which is not in the vocabulary");
    auto ib = model.vocab.find(b);
    if (ib == model.vocab.end())
      throw Error(Where{spec.origin, field, std::nullopt},
                  "merge refers to token '" + excerpt(b) + "', which is not in the vocabulary");
    if (b.size() < prefix_len)
      throw Error(Where{spec.origin, field, std::nullopt},
                  "merge's right token is shorter than continuing_subword_prefix");
    const std::string merged = a + b.substr(prefix_len);
    auto im = model.vocab.find(merged);
    if (im == model.vocab.end())
      throw Error(Where{spec.origin, field, std::nullopt},
                  "merge result '" + excerpt(merged) + "' is not in the vocabulary");
    merges[pair_key(ia->second, ib->second)] = {static_cast<std::uint32_t>(rank), im->second};
  }
  if (model.unk_token) {
    auto it = model.vocab.find(*model.unk_token);
    if (it == model.vocab.end())
      throw Error(Where{spec.origin, "model.unk_token", std::nullopt},
                  "unknown token '" + excerpt(*model.unk_token) + "' is not in the vocabulary");
    unk = it->second;
  }
  if (model.byte_fallback) {
    byte_fallback_ok = true;
    // A character whose bytes are not all byte tokens becomes the unknown
    // token, as in tokenizers; so a vocabulary with byte_fallback on and no
    // byte tokens at all (transformers writes such files when it converts a
    // GGUF tokenizer) encodes every unknown character as unk.
    for (int b = 0; b < 256; ++b) {
      auto it = model.vocab.find(detail::byte_token(static_cast<unsigned char>(b)));
      byte_fallback_ids[static_cast<std::size_t>(b)] = it == model.vocab.end() ? -1 : it->second;
    }
  }
  if (is_unigram) {
    unk = model.unigram_unk_id;
    unigram = std::make_unique<detail::UnigramModel>(model);
  }

  // Added vocabulary, as AddedVocabulary::add_tokens assigns ids.
  std::vector<AddedTokenSpec> special_tokens, added_tokens;
  for (const auto& t : spec.added_tokens) {
    if (t.special && !t.content.empty() && !special_set.count(t.content)) {
      special_tokens.push_back(t);
      special_set.insert(t.content);
    }
  }
  const auto model_size =
      static_cast<std::int64_t>(is_unigram ? model.pieces.size() : model.vocab.size());
  std::int64_t max_added = -1;  // largest id in added_map (its ids never change)
  for (const auto& t : spec.added_tokens) {
    if (t.content.empty()) continue;
    // An identical token is skipped. Every token with this content has the id
    // added_map holds for it, so that is the only place an identical one can be.
    if (auto it = added_map.find(t.content); it != added_map.end()) {
      auto r = added_map_r.find(it->second);
      if (r != added_map_r.end() && r->second == t) continue;
    }
    std::int64_t new_id;
    if (auto known = token_to_id(t.content)) {
      new_id = *known;
    } else {
      if (max_added < 0)
        new_id = model_size;
      else if (max_added >= model_size || model_size == 0)
        new_id = max_added + 1;
      else
        new_id = model_size;
    }
    if (new_id > INT32_MAX)
      throw Error(Where{spec.origin, "added_tokens", std::nullopt}, "too many added tokens");
    max_added = std::max(max_added, new_id);
    added_map[t.content] = static_cast<std::int32_t>(new_id);
    added_map_r[static_cast<std::int32_t>(new_id)] = t;
    if (!special_set.count(t.content)) added_tokens.push_back(t);
    vocab_size = std::max(vocab_size, new_id + 1);
  }
  auto add_to_matcher = [&](const AddedTokenSpec& t) {
    const std::int32_t id = added_map.at(t.content);
    if (t.normalized) {
      std::string content = t.content;
      normalize(content);
      normalized_matcher.add(std::move(content), id);
    } else {
      raw_matcher.add(t.content, id);
    }
  };
  for (const auto& t : special_tokens)
    add_to_matcher(t);
  for (const auto& t : added_tokens)
    add_to_matcher(t);
  raw_matcher.finish();
  normalized_matcher.finish();

  // Special ids that the post-processor or the GGUF named must exist.
  for (const auto& post : spec.post_processors)
    for (const auto& item : post.items)
      if (item)
        for (auto id : *item)
          if (!id_to_token(id))
            throw Error(Where{spec.origin, "post_processor", std::nullopt},
                        "special token id " + std::to_string(id) + " is not in the vocabulary");
  if (!spec.unk_id && unk) spec.unk_id = unk;
}

// AddedVocabulary::find_matches.
void Tokenizer::Impl::find_added(std::string_view sentence, bool at_origin,
                                 const LiteralMatcher& matcher, std::vector<Piece>& out) const {
  if (sentence.empty()) return;  // an empty piece is dropped anyway
  std::size_t start_offset = 0;
  std::size_t search_from = 0;
  std::size_t mstart = 0, mend = 0;
  std::int32_t id = -1;
  auto emit = [&](std::size_t a, std::size_t b, std::int32_t token) {
    if (b > a) out.push_back({std::string(sentence.substr(a, b - a)), token, at_origin && a == 0});
  };
  while (matcher.find(sentence, search_from, mstart, mend, id)) {
    search_from = mend;  // the matcher's own iteration is non-overlapping
    std::size_t start = mstart, stop = mend;
    const AddedTokenSpec& token = added_map_r.at(id);
    if (token.single_word) {
      const bool start_space =
          start == 0 || !is_word_char(last_code_point(sentence.substr(0, start)));
      bool stop_space = stop == sentence.size();
      if (!stop_space) {
        char32_t cp = 0;
        detail::utf8_decode(sentence, stop, cp);
        stop_space = !is_word_char(cp);
      }
      if (!stop_space || !start_space) continue;
    }
    if (token.lstrip) {
      std::size_t new_start = start;
      while (new_start > 0) {
        std::size_t k = new_start - 1;
        while (k > 0 && (static_cast<unsigned char>(sentence[k]) & 0xC0) == 0x80)
          --k;
        char32_t cp = 0;
        detail::utf8_decode(sentence, k, cp);
        if (!is_white_space(cp)) break;
        new_start = k;
      }
      start = std::max(new_start, start_offset);
    }
    if (token.rstrip) {
      while (stop < sentence.size()) {
        char32_t cp = 0;
        const std::size_t n = detail::utf8_decode(sentence, stop, cp);
        if (!is_white_space(cp)) break;
        stop += n;
      }
    }
    if (start_offset < start) emit(start_offset, start, -1);
    // tokenizers would emit overlapping pieces after an rstrip that ran into
    // the next match; the start is clamped instead so no byte is duplicated.
    start = std::max(start, start_offset);
    if (stop > start) out.push_back({std::string(sentence.substr(start, stop - start)), id, false});
    start_offset = std::max(stop, start_offset);
  }
  emit(start_offset, sentence.size(), -1);
}

void Tokenizer::Impl::split_added(std::vector<Piece>& pieces, const LiteralMatcher& matcher) const {
  if (matcher.empty()) return;
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    if (p.token >= 0)
      out.push_back(std::move(p));
    else
      find_added(p.text, p.at_origin, matcher, out);
  }
  pieces = std::move(out);
}

namespace {

// A normalizer's output is bounded by its input: 20 Replace steps that each
// double a character turn 100 characters into gigabytes. Checked after every
// step, and before a Replace builds its output, so a blow-up stops at the step
// that crosses the bound.
constexpr std::size_t kNormalizedGrowth = 64;
constexpr std::size_t kNormalizedSlack = 4096;

std::string_view normalizer_type(const NormalizerStep& step) {
  switch (step.kind) {
    case NormalizerStep::Kind::Unicode:
      return step.form == detail::NormalForm::NFC    ? "NFC"
             : step.form == detail::NormalForm::NFD  ? "NFD"
             : step.form == detail::NormalForm::NFKC ? "NFKC"
                                                     : "NFKD";
    case NormalizerStep::Kind::Replace:
      return "Replace";
    case NormalizerStep::Kind::Prepend:
      return "Prepend";
  }
  return "normalizer";
}

}  // namespace

void Tokenizer::Impl::normalize(std::string& text) const {
  const std::size_t input = text.size();
  const std::size_t limit = kNormalizedGrowth * input + kNormalizedSlack;
  auto check = [&](std::size_t index, std::size_t size) {
    if (size <= limit) return;
    const NormalizerStep& step = spec.normalizers[index];
    throw Error(Where{spec.origin, step.field.empty() ? "normalizer" : step.field},
                "normalizer " + std::to_string(index) + " (" + std::string(normalizer_type(step)) +
                    ") would make " + std::to_string(size) + " bytes of a " +
                    std::to_string(input) + "-byte input, more than the bound of " +
                    std::to_string(kNormalizedGrowth) + " x input + " +
                    std::to_string(kNormalizedSlack) +
                    " bytes; the tokenizer's normalizers blow "
                    "up their input");
  };
  for (std::size_t index = 0; index < spec.normalizers.size(); ++index) {
    const NormalizerStep& step = spec.normalizers[index];
    switch (step.kind) {
      case NormalizerStep::Kind::Unicode:
        text = detail::normalize(text, step.form);
        break;
      case NormalizerStep::Kind::Replace:
        if (!step.regex) {
          if (step.content.size() > step.literal.size()) {
            std::size_t hits = 0;
            for (std::size_t at = text.find(step.literal); at != std::string::npos;
                 at = text.find(step.literal, at + step.literal.size()))
              ++hits;
            check(index, text.size() + hits * (step.content.size() - step.literal.size()));
          }
          text = replace_all(text, step.literal, step.content);
        } else {
          std::vector<std::pair<std::size_t, std::size_t>> hits;
          step.regex->find_all(text, hits);
          std::size_t removed = 0;
          for (auto [a, b] : hits)
            removed += b - a;
          check(index, text.size() - removed + hits.size() * step.content.size());
          std::string r;
          std::size_t pos = 0;
          for (auto [a, b] : hits) {
            r.append(text, pos, a - pos);
            r += step.content;
            pos = b;
          }
          r.append(text, pos, std::string::npos);
          text = std::move(r);
        }
        break;
      case NormalizerStep::Kind::Prepend:
        if (!text.empty()) text.insert(0, step.content);
        break;
    }
    check(index, text.size());
  }
}

void Tokenizer::Impl::pre_tokenize(std::vector<Piece>& pieces) const {
  std::vector<std::pair<std::size_t, std::size_t>> scratch;
  for (const auto& step : spec.pre_tokenizers) {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 2);
    for (auto& p : pieces) {
      if (p.token >= 0) {
        out.push_back(std::move(p));
        continue;
      }
      switch (step.kind) {
        case PreTokenizerStep::Kind::Split: {
          Ranges m = regex_matches(*step.regex, p.text, scratch);
          if (step.invert)
            for (auto& r : m)
              r.second = !r.second;
          append_split(out, p.text, apply_behavior(std::move(m), step.behavior), p.at_origin);
          break;
        }
        case PreTokenizerStep::Kind::Digits: {
          append_split(out, p.text,
                       apply_behavior(numeric_matches(p.text), step.individual_digits
                                                                   ? SplitBehavior::Isolated
                                                                   : SplitBehavior::Contiguous),
                       p.at_origin);
          break;
        }
        case PreTokenizerStep::Kind::ByteLevel: {
          if (step.add_prefix_space && (p.text.empty() || p.text[0] != ' '))
            p.text.insert(0, 1, ' ');
          if (step.regex)
            append_split(out, p.text,
                         apply_behavior(regex_matches(*step.regex, p.text, scratch),
                                        SplitBehavior::Isolated),
                         p.at_origin);
          else if (!p.text.empty())
            out.push_back(std::move(p));
          break;
        }
        case PreTokenizerStep::Kind::Metaspace: {
          std::string t = replace_all(p.text, " ", step.replacement);
          const bool prepend = step.prepend_scheme == PrependScheme::Always ||
                               (step.prepend_scheme == PrependScheme::First && p.at_origin);
          if (prepend && t.compare(0, step.replacement.size(), step.replacement) != 0)
            t.insert(0, step.replacement);
          if (step.regex)  // split: each replacement starts a new piece
            append_split(out, t,
                         apply_behavior(regex_matches(*step.regex, t, scratch),
                                        SplitBehavior::MergedWithNext),
                         p.at_origin);
          else if (!t.empty())
            out.push_back({std::move(t), -1, p.at_origin});
          break;
        }
      }
    }
    if (step.kind == PreTokenizerStep::Kind::ByteLevel) {
      const auto& table = detail::byte_to_unicode();
      for (auto& p : out) {
        if (p.token >= 0) continue;
        std::string mapped;
        mapped.reserve(p.text.size() * 2);
        for (char c : p.text)
          mapped += table[static_cast<unsigned char>(c)];
        p.text = std::move(mapped);
      }
    }
    pieces = std::move(out);
  }
}

void Tokenizer::Impl::merge_word(std::string_view w, std::vector<std::int32_t>& out) const {
  const auto& model = spec.model;
  std::vector<Symbol> symbols;
  symbols.reserve(w.size());
  auto add = [&](std::int32_t c, std::size_t len) {
    const auto n = static_cast<std::int64_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = n;
    symbols.push_back({c, n - 1, -1, len});
  };
  bool has_unk = false;  // an unknown-token run waiting to be added
  std::int32_t unk_id_pending = 0;
  std::size_t unk_len = 0;
  std::string scratch;
  for (std::size_t i = 0; i < w.size();) {
    const std::size_t n = detail::utf8_length(static_cast<unsigned char>(w[i]));
    const std::size_t byte_len = std::min(n, w.size() - i);
    const bool is_first = i == 0, is_last = i + byte_len >= w.size();
    std::string_view s = w.substr(i, byte_len);
    if ((!is_first && model.continuing_subword_prefix) || (is_last && model.end_of_word_suffix)) {
      scratch.clear();
      if (!is_first && model.continuing_subword_prefix) scratch += *model.continuing_subword_prefix;
      scratch += s;
      if (is_last && model.end_of_word_suffix) scratch += *model.end_of_word_suffix;
      s = scratch;
    }
    i += byte_len;
    if (auto it = model.vocab.find(s); it != model.vocab.end()) {
      if (has_unk) {
        add(unk_id_pending, unk_len);
        has_unk = false;
      }
      add(it->second, byte_len);
      continue;
    }
    if (byte_fallback_ok) {
      bool all = true;
      for (char c : s)
        all = all && byte_fallback_ids[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        // tokenizers adds byte tokens without flushing a pending unknown token.
        for (char c : s)
          add(byte_fallback_ids[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk) {
      if (has_unk && model.fuse_unk) {
        unk_len += byte_len;
      } else {
        if (has_unk) add(unk_id_pending, unk_len);
        has_unk = true;
        unk_id_pending = *unk;
        unk_len = byte_len;
      }
    }
    // Without an unknown token the character is dropped, as in tokenizers.
  }
  if (has_unk) add(unk_id_pending, unk_len);

  // Word::merge_all.
  std::priority_queue<MergeEntry> queue;
  for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
    auto it = merges.find(pair_key(symbols[k].c, symbols[k + 1].c));
    if (it != merges.end()) queue.push({k, it->second.first, it->second.second});
  }
  while (!queue.empty()) {
    const MergeEntry top = queue.top();
    queue.pop();
    Symbol& cur = symbols[top.pos];
    if (cur.len == 0 || cur.next == -1) continue;
    const auto next_pos = static_cast<std::size_t>(cur.next);
    const Symbol right = symbols[next_pos];
    auto it = merges.find(pair_key(cur.c, right.c));
    if (it == merges.end() || it->second.second != top.new_id) continue;
    cur.c = top.new_id;
    cur.len += right.len;
    cur.next = right.next;
    symbols[next_pos].len = 0;
    if (right.next > -1 && static_cast<std::size_t>(right.next) < symbols.size())
      symbols[static_cast<std::size_t>(right.next)].prev = static_cast<std::int64_t>(top.pos);
    if (cur.prev >= 0) {
      const Symbol& prev = symbols[static_cast<std::size_t>(cur.prev)];
      auto pit = merges.find(pair_key(prev.c, cur.c));
      if (pit != merges.end())
        queue.push({static_cast<std::size_t>(cur.prev), pit->second.first, pit->second.second});
    }
    if (cur.next >= 0 && static_cast<std::size_t>(cur.next) < symbols.size()) {
      const Symbol& nxt = symbols[static_cast<std::size_t>(cur.next)];
      auto nit = merges.find(pair_key(cur.c, nxt.c));
      if (nit != merges.end()) queue.push({top.pos, nit->second.first, nit->second.second});
    }
  }
  for (const auto& sym : symbols)
    if (sym.len != 0) out.push_back(sym.c);
}

void Tokenizer::Impl::model_encode(std::string_view word, std::vector<std::int32_t>& out) const {
  if (!unigram) {
    merge_word(word, out);
    return;
  }
  if (!unigram->encode(word, out))
    throw Error(Where{spec.origin, spec.unk_field, std::nullopt},
                "the text holds a character the vocabulary lacks, and the model has no unknown "
                "token to stand for it");
}

void Tokenizer::Impl::bpe(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (spec.model.ignore_merges && !unigram) {
    if (auto it = spec.model.vocab.find(word); it != spec.model.vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < 256;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto it = cache.find(std::string(word)); it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::int32_t> ids;
  model_encode(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kCacheCapacity) cache.clear();
    cache.emplace(std::string(word), std::move(ids));
  }
}

std::vector<std::string> Tokenizer::Impl::run_decoders(std::vector<std::string> tokens) const {
  for (const auto& step : spec.decoders) {
    switch (step.kind) {
      case DecoderStep::Kind::ByteLevel: {
        std::string bytes;
        for (const auto& t : tokens) {
          std::string mapped;
          bool ok = true;
          for (std::size_t i = 0; i < t.size();) {
            char32_t cp = 0;
            const std::size_t n = detail::utf8_decode(t, i, cp);
            const int b = detail::unicode_to_byte(cp);
            if (b < 0) {
              ok = false;
              break;
            }
            mapped += static_cast<char>(b);
            i += n;
          }
          bytes += ok ? mapped : t;
        }
        tokens.assign(1, detail::utf8_lossy(bytes));
        break;
      }
      case DecoderStep::Kind::ByteFallback: {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
          if (pending.empty()) return;
          if (!detail::find_invalid_utf8(pending))
            out.push_back(pending);
          else
            for (std::size_t k = 0; k < pending.size(); ++k)
              out.push_back("\xEF\xBF\xBD");
          pending.clear();
        };
        for (auto& t : tokens) {
          const auto hexval = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
          };
          if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && hexval(t[3]) >= 0 &&
              hexval(t[4]) >= 0) {
            pending += static_cast<char>(hexval(t[3]) * 16 + hexval(t[4]));
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens = std::move(out);
        break;
      }
      case DecoderStep::Kind::Fuse: {
        std::string all;
        for (const auto& t : tokens)
          all += t;
        tokens.assign(1, std::move(all));
        break;
      }
      case DecoderStep::Kind::Replace: {
        if (step.pattern.empty()) break;
        for (auto& t : tokens) {
          std::string r;
          std::size_t pos = 0;
          for (std::size_t hit; (hit = t.find(step.pattern, pos)) != std::string::npos;
               pos = hit + step.pattern.size()) {
            r.append(t, pos, hit - pos);
            r += step.content;
          }
          r.append(t, pos, std::string::npos);
          t = std::move(r);
        }
        break;
      }
      case DecoderStep::Kind::Metaspace: {
        // The first token loses every replacement character (tokenizers'
        // Metaspace::decode_chain), unless nothing was prepended.
        for (std::size_t k = 0; k < tokens.size(); ++k)
          tokens[k] = replace_all(tokens[k], step.content,
                                  k == 0 && step.prepend_scheme != PrependScheme::Never ? "" : " ");
        break;
      }
      case DecoderStep::Kind::Strip: {
        for (auto& t : tokens) {
          std::size_t begin = 0, end = t.size();
          const std::string& c = step.content;
          for (std::size_t k = 0; k < step.start && !c.empty() &&
                                  t.compare(begin, c.size(), c) == 0 && begin + c.size() <= end;
               ++k)
            begin += c.size();
          for (std::size_t k = 0; k < step.stop && !c.empty() && end >= begin + c.size() &&
                                  t.compare(end - c.size(), c.size(), c) == 0;
               ++k)
            end -= c.size();
          t = t.substr(begin, end - begin);
        }
        break;
      }
    }
  }
  return tokens;
}

// ---------------------------------------------------------------------------

std::string detail::byte_token(unsigned char b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string{'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
}

Tokenizer::Tokenizer(detail::TokenizerSpec spec) : impl_(std::make_unique<Impl>(std::move(spec))) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json_text(std::string_view json,
                                                               const std::string& origin) {
  return std::make_unique<Tokenizer>(detail::parse_tokenizer_json(json, origin));
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  if (auto bad = detail::find_invalid_utf8(text))
    throw Error(Where{"", "text", *bad}, "input text is not valid UTF-8");
  const Impl& m = *impl_;
  std::vector<Piece> pieces;
  if (!text.empty()) pieces.push_back({std::string(text), -1, true});
  // 1. added tokens that match the raw text; 2. normalise the rest; 3. added
  // tokens that match normalised text.
  m.split_added(pieces, m.raw_matcher);
  if (!m.spec.normalizers.empty())
    for (auto& p : pieces)
      if (p.token < 0) m.normalize(p.text);
  m.split_added(pieces, m.normalized_matcher);
  std::erase_if(pieces, [](const Piece& p) { return p.token < 0 && p.text.empty(); });
  m.pre_tokenize(pieces);
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const auto& p : pieces) {
    if (p.token >= 0)
      ids.push_back(p.token);
    else
      m.bpe(p.text, ids);
  }
  if (add_special_tokens) {
    for (const auto& post : m.spec.post_processors) {
      std::vector<std::int32_t> out;
      out.reserve(ids.size() + 4);
      for (const auto& item : post.items) {
        if (item)
          out.insert(out.end(), item->begin(), item->end());
        else
          out.insert(out.end(), ids.begin(), ids.end());
      }
      ids = std::move(out);
    }
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (auto id : ids) {
    const std::string* t = m.id_to_token(id);
    if (t == nullptr) continue;
    if (skip_special_tokens && m.special_set.count(*t)) continue;
    tokens.push_back(*t);
  }
  if (!m.spec.has_decoder) {
    std::string out;
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      if (k) out += ' ';
      out += tokens[k];
    }
    return out;
  }
  std::string out;
  for (auto& t : m.run_decoders(std::move(tokens)))
    out += t;
  return out;
}

std::string Tokenizer::token_string(std::int32_t id) const {
  if (!impl_->id_to_token(id))
    throw Error(Where{impl_->spec.origin, "", std::nullopt},
                "token id " + std::to_string(id) + " is not in the vocabulary");
  const std::int32_t one[1] = {id};
  return decode(one, false);
}

std::string Tokenizer::token_bytes(std::int32_t id) const {
  const std::string* t = impl_->id_to_token(id);
  if (t == nullptr)
    throw Error(Where{impl_->spec.origin, "", std::nullopt},
                "token id " + std::to_string(id) + " is not in the vocabulary");
  bool byte_level = false;
  for (const auto& step : impl_->spec.decoders)
    byte_level = byte_level || step.kind == DecoderStep::Kind::ByteLevel;
  if (!byte_level) return *t;
  std::string bytes;
  for (std::size_t i = 0; i < t->size();) {
    char32_t cp = 0;
    const std::size_t n = detail::utf8_decode(*t, i, cp);
    const int b = detail::unicode_to_byte(cp);
    if (b < 0) return *t;  // not a byte-level token (e.g. an added token with spaces)
    bytes += static_cast<char>(b);
    i += n;
  }
  return bytes;
}

std::optional<std::string> Tokenizer::id_to_token(std::int32_t id) const {
  if (const std::string* t = impl_->id_to_token(id)) return *t;
  return std::nullopt;
}

std::optional<std::int32_t> Tokenizer::token_to_id(std::string_view token) const {
  return impl_->token_to_id(token);
}

std::optional<std::int32_t> Tokenizer::bos_id() const {
  return impl_->spec.bos_id;
}
std::optional<std::int32_t> Tokenizer::eos_id() const {
  return impl_->spec.eos_id;
}
std::optional<std::int32_t> Tokenizer::pad_id() const {
  return impl_->spec.pad_id;
}
std::optional<std::int32_t> Tokenizer::unk_id() const {
  return impl_->spec.unk_id;
}

void Tokenizer::set_special_ids(std::optional<std::int32_t> bos, std::optional<std::int32_t> eos,
                                std::optional<std::int32_t> pad) {
  if (bos) impl_->spec.bos_id = bos;
  if (eos) impl_->spec.eos_id = eos;
  if (pad) impl_->spec.pad_id = pad;
}

std::int64_t Tokenizer::vocab_size() const {
  return impl_->vocab_size;
}

bool Tokenizer::is_special(std::int32_t id) const {
  auto it = impl_->added_map_r.find(id);
  return it != impl_->added_map_r.end() && impl_->special_set.count(it->second.content) != 0;
}

const std::string& Tokenizer::source() const {
  return impl_->spec.origin;
}

}  // namespace clrp::text
