// GGUF metadata of a SentencePiece tokenizer (tokenizer.ggml.model "llama") ->
// TokenizerSpec: the pipeline Hugging Face transformers 4.57 builds when it
// loads the GGUF (transformers/integrations/ggml.py), so that clrp's ids equal
// `AutoTokenizer.from_pretrained(dir, gguf_file=...)`'s. Which pipeline
// depends on general.architecture:
//
//   gemma2, gemma3 (GGUFGemmaConverter): a *Unigram* model over the pieces and
//     their scores, Replace(" " -> "▁") normaliser, Split(" ") pre-tokenizer,
//     byte fallback; only bos/eos/unk/pad become added (special) tokens, the
//     other CONTROL and USER_DEFINED pieces stay ordinary vocabulary entries.
//   llama, deci, decilm (GGUFLlamaConverter): a BPE model whose merges are
//     derived from the scores, Prepend("▁") + Replace(" " -> "▁") normaliser
//     (the "legacy" Llama-2 pipeline), byte fallback; CONTROL pieces become
//     special added tokens.
//
// llama.cpp tokenizes these files differently: its SPM tokenizer merges
// adjacent pieces greedily by score (SentencePiece BPE), and Gemma's GGUF
// scores are BPE ranks (-rank), not Unigram log-probabilities. So where
// transformers' Unigram Viterbi search prefers several pieces to one (Gemma-3:
// "Hello world" -> "Hello", "▁w", "or", "ld" instead of "Hello", "▁world"),
// llama.cpp and Gemma's own tokenizer.model give fewer tokens. llama.cpp also
// matches CONTROL/USER_DEFINED pieces ("<start_of_turn>", "\n\n") as special
// tokens before segmenting; transformers leaves them to the Viterbi search,
// where their score (-1000, higher than most pieces) mostly makes them win.
//
// transformers ignores tokenizer.ggml.add_bos_token/add_eos_token (its fast
// tokenizer classes add bos, not eos); clrp follows the GGUF flags, whose
// defaults (bos yes, eos no) are the same.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "clrp/io/gguf.hpp"
#include "clrp/util/error.hpp"
#include "tokenizer_gguf_fields.hpp"
#include "tokenizer_spec.hpp"

namespace clrp::text::detail {

namespace {

// llama.cpp's llama_token_type.
enum TokenType : std::int64_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

constexpr std::string_view kMeta = "\xE2\x96\x81";  // U+2581 "▁"

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<double> scores;
  std::vector<std::int64_t> types;  ///< empty when the file has none
};

Vocabulary read_vocabulary(const io::GgufFile& g) {
  const std::string& origin = g.path();
  Vocabulary v;
  v.tokens = g.get_string_array("tokenizer.ggml.tokens");
  const std::size_t n = v.tokens.size();
  if (n == 0)
    throw Error(Where{origin, "tokenizer.ggml.tokens", std::nullopt}, "the vocabulary is empty");
  if (n > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw Error(Where{origin, "tokenizer.ggml.tokens", std::nullopt}, "too many tokens");
  if (!g.has("tokenizer.ggml.scores"))
    throw Error(Where{origin, "tokenizer.ggml.scores", std::nullopt},
                "missing: a SentencePiece ('llama') tokenizer needs the score of every piece");
  v.scores = g.get_float_array("tokenizer.ggml.scores");
  if (v.scores.size() != n)
    throw Error(
        Where{origin, "tokenizer.ggml.scores", std::nullopt},
        "has " + std::to_string(v.scores.size()) + " entries for " + std::to_string(n) + " tokens");
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v.scores[i]))
      throw Error(Where{origin, "tokenizer.ggml.scores[" + std::to_string(i) + "]", std::nullopt},
                  "score is not a finite number");
  if (g.has("tokenizer.ggml.token_type")) {
    v.types = g.get_int_array("tokenizer.ggml.token_type");
    if (v.types.size() != n)
      throw Error(Where{origin, "tokenizer.ggml.token_type", std::nullopt},
                  "has " + std::to_string(v.types.size()) + " entries for " + std::to_string(n) +
                      " tokens");
    for (std::size_t i = 0; i < n; ++i) {
      const std::string field = "tokenizer.ggml.token_type[" + std::to_string(i) + "]";
      if (v.types[i] < kUndefined || v.types[i] > kByte)
        throw Error(Where{origin, field, std::nullopt},
                    "unknown token type " + std::to_string(v.types[i]) + " (0..6)");
      const std::string& t = v.tokens[i];
      // A BYTE piece must name its byte, or byte fallback would emit garbage.
      if (v.types[i] == kByte && !(t.size() == 6 && t.compare(0, 3, "<0x") == 0 && is_hex(t[3]) &&
                                   is_hex(t[4]) && t[5] == '>'))
        throw Error(Where{origin, "tokenizer.ggml.tokens[" + std::to_string(i) + "]", std::nullopt},
                    "token '" + excerpt(t) + "' has type BYTE but is not of the form <0xNN>");
    }
  }
  return v;
}

// Python's str.isspace() for every code point of non-empty `s`, with at least one ' '.
bool is_space_run(std::string_view s) {
  if (s.empty() || s.find(' ') == std::string_view::npos) return false;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_decode(s, i, cp);
    if (!is_python_space(cp)) return false;
    i += n;
  }
  return true;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

DecoderStep decoder(DecoderStep::Kind kind, std::string pattern = {}, std::string content = {}) {
  DecoderStep d;
  d.kind = kind;
  d.pattern = std::move(pattern);
  d.content = std::move(content);
  return d;
}

DecoderStep strip_one_space() {
  DecoderStep d = decoder(DecoderStep::Kind::Strip, {}, " ");
  d.start = 1;
  return d;
}

NormalizerStep replace_space() {
  NormalizerStep n;
  n.kind = NormalizerStep::Kind::Replace;
  n.literal = " ";
  n.content = std::string(kMeta);
  return n;
}

// GGUFGemmaConverter.
void gemma_pipeline(const io::GgufFile& g, Vocabulary v, TokenizerSpec& spec) {
  auto& model = spec.model;
  model.kind = BpeSpec::Kind::Unigram;
  model.byte_fallback = true;
  model.unigram_unk_id = spec.unk_id;
  spec.unk_field = "tokenizer.ggml.unknown_token_id";
  // GGUFGemmaConverter.vocab: the tab byte piece becomes a literal tab (which
  // may duplicate an existing "\t" piece: then the later one wins), pieces of
  // white space with a blank become that many "▁".
  model.pieces.reserve(v.tokens.size());
  model.vocab.reserve(v.tokens.size());
  for (std::size_t i = 0; i < v.tokens.size(); ++i) {
    std::string piece = std::move(v.tokens[i]);
    if (piece == "<0x09>") {
      piece = "\t";
    } else if (is_space_run(piece)) {
      const std::size_t n = code_points(piece);
      piece.clear();
      for (std::size_t k = 0; k < n; ++k)
        piece += kMeta;
    }
    model.vocab[piece] = static_cast<std::int32_t>(i);
    model.pieces.emplace_back(std::move(piece), v.scores[i]);
  }
  spec.normalizers.push_back(replace_space());
  PreTokenizerStep split;
  split.kind = PreTokenizerStep::Kind::Split;
  split.regex = std::make_shared<const Regex>(" ", true);
  split.behavior = SplitBehavior::MergedWithPrevious;
  spec.pre_tokenizers.push_back(std::move(split));
  // GemmaTokenizerFast registers its bos/eos/unk/pad as special tokens.
  for (const auto& id : {spec.bos_id, spec.eos_id, spec.unk_id, spec.pad_id}) {
    if (!id) continue;
    AddedTokenSpec t;
    t.content = model.pieces[static_cast<std::size_t>(*id)].first;
    t.special = true;
    t.normalized = false;
    spec.added_tokens.push_back(std::move(t));
  }
  spec.has_decoder = true;
  spec.decoders.push_back(decoder(DecoderStep::Kind::Replace, std::string(kMeta), " "));
  spec.decoders.push_back(decoder(DecoderStep::Kind::ByteFallback));
  spec.decoders.push_back(decoder(DecoderStep::Kind::Fuse));
  if (gguf_bool(g, "tokenizer.ggml.add_space_prefix", true))
    spec.decoders.push_back(strip_one_space());
}

// GGUFTokenizerSkeleton's merges for a vocabulary without any: for every
// distinct piece (first occurrence order, score of its last occurrence),
// every split into two pieces of the vocabulary, sorted by the scores of the
// two parts, highest first; then all of them by the score of the piece,
// highest first. Python's sorts are stable, and so are these.
std::vector<std::pair<std::string, std::string>> merges_from_scores(const Vocabulary& v,
                                                                    const TokenMap& vocab) {
  struct Merge {
    std::string_view left, right;
    double score, left_score, right_score;
  };
  auto score_of = [&](std::string_view piece) {
    return v.scores[static_cast<std::size_t>(vocab.find(piece)->second)];
  };
  std::vector<Merge> all;
  std::vector<Merge> local;
  std::unordered_set<std::string_view> seen;
  seen.reserve(v.tokens.size());
  for (const std::string& piece : v.tokens) {
    if (!seen.insert(piece).second) continue;
    const double piece_score = score_of(piece);
    local.clear();
    for (std::size_t cut = 0; cut < piece.size();) {
      cut += utf8_length(static_cast<unsigned char>(piece[cut]));
      if (cut >= piece.size()) break;
      const std::string_view left = std::string_view(piece).substr(0, cut);
      const std::string_view right = std::string_view(piece).substr(cut);
      if (vocab.find(left) == vocab.end() || vocab.find(right) == vocab.end()) continue;
      local.push_back({left, right, piece_score, score_of(left), score_of(right)});
    }
    std::stable_sort(local.begin(), local.end(), [](const Merge& a, const Merge& b) {
      if (a.left_score != b.left_score) return a.left_score > b.left_score;
      return a.right_score > b.right_score;
    });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(all.size());
  for (const auto& m : all)
    out.emplace_back(std::string(m.left), std::string(m.right));
  return out;
}

// GGUFLlamaConverter (legacy Llama-2 pipeline).
void llama_pipeline(const io::GgufFile& g, const Vocabulary& v, TokenizerSpec& spec) {
  auto& model = spec.model;
  model.vocab.reserve(v.tokens.size());
  for (std::size_t i = 0; i < v.tokens.size(); ++i)
    model.vocab[v.tokens[i]] = static_cast<std::int32_t>(i);  // a later duplicate wins
  if (g.has("tokenizer.ggml.merges")) {
    const auto merges = g.get_string_array("tokenizer.ggml.merges");
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const auto space = merges[i].find(' ');
      if (space == std::string::npos || merges[i].find(' ', space + 1) != std::string::npos)
        throw Error(
            Where{g.path(), "tokenizer.ggml.merges[" + std::to_string(i) + "]", std::nullopt},
            "a merge must be two tokens separated by one space, found '" + excerpt(merges[i]) +
                "'");
      model.merges.emplace_back(merges[i].substr(0, space), merges[i].substr(space + 1));
    }
  } else {
    model.merges = merges_from_scores(v, model.vocab);
  }
  if (spec.unk_id) model.unk_token = v.tokens[static_cast<std::size_t>(*spec.unk_id)];
  model.fuse_unk = true;
  model.byte_fallback = true;
  spec.unk_field = "tokenizer.ggml.unknown_token_id";
  auto special = [&](std::int32_t id) {
    AddedTokenSpec t;
    t.content = v.tokens[static_cast<std::size_t>(id)];
    t.special = true;
    t.normalized = false;
    spec.added_tokens.push_back(std::move(t));
  };
  if (!v.types.empty()) {
    for (std::size_t i = 0; i < v.types.size(); ++i)
      if (v.types[i] == kControl) special(static_cast<std::int32_t>(i));
  } else {
    for (const auto& id : {spec.unk_id, spec.bos_id, spec.eos_id})
      if (id) special(*id);
  }
  const bool add_prefix_space = gguf_bool(g, "tokenizer.ggml.add_space_prefix", true);
  if (add_prefix_space) {
    NormalizerStep prepend;
    prepend.kind = NormalizerStep::Kind::Prepend;
    prepend.content = std::string(kMeta);
    spec.normalizers.push_back(std::move(prepend));
  }
  spec.normalizers.push_back(replace_space());
  spec.has_decoder = true;
  spec.decoders.push_back(decoder(DecoderStep::Kind::ByteFallback));
  spec.decoders.push_back(decoder(DecoderStep::Kind::Fuse));
  spec.decoders.push_back(decoder(DecoderStep::Kind::Replace, std::string(kMeta), " "));
  if (add_prefix_space) spec.decoders.push_back(strip_one_space());
}

}  // namespace

TokenizerSpec spm_spec_from_gguf(const io::GgufFile& g) {
  TokenizerSpec spec;
  spec.origin = g.path();
  spec.kind = "gguf";
  spec.merges_field = "tokenizer.ggml.merges";
  Vocabulary v = read_vocabulary(g);
  read_gguf_specials(g, v.tokens.size(), true, spec);
  const std::string arch = g.get_string_opt("general.architecture").value_or("");
  if (arch == "gemma2" || arch == "gemma3") {
    gemma_pipeline(g, std::move(v), spec);
  } else if (arch == "llama" || arch == "deci" || arch == "decilm") {
    llama_pipeline(g, v, spec);
  } else {
    throw Error(Where{g.path(), "general.architecture", std::nullopt},
                "'" + excerpt(arch) +
                    "': clrp knows the SentencePiece ('llama') tokenizer pipelines of the "
                    "architectures gemma2, gemma3, llama, deci and decilm");
  }
  return spec;
}

}  // namespace clrp::text::detail
