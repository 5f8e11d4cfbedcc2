// The parts of a tokenizer (BPE or Unigram model, byte-level or SentencePiece
// style pipeline), as read from tokenizer.json or GGUF metadata, before
// Tokenizer puts them together. Internal to src/text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "regex.hpp"
#include "unicode.hpp"

namespace clrp::io {
class GgufFile;
}

namespace clrp::text::detail {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

/// tokenizers' AddedToken.
struct AddedTokenSpec {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedTokenSpec&) const = default;
};

/// One normalizer of tokenizers' Sequence.
struct NormalizerStep {
  enum class Kind { Unicode, Replace, Prepend };
  Kind kind = Kind::Unicode;
  NormalForm form = NormalForm::NFC;   ///< Unicode
  std::string literal;                 ///< Replace with a String pattern (non-empty)
  std::shared_ptr<const Regex> regex;  ///< Replace with a Regex pattern
  std::string content;                 ///< Replace: the replacement; Prepend: the prefix
  std::string field;                   ///< where it is in the file, for messages
};

/// Metaspace's prepend_scheme: where the replacement character goes in front.
enum class PrependScheme { Always, First, Never };

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel, Digits, Metaspace };
  Kind kind = Kind::Split;
  std::shared_ptr<const Regex> regex;  ///< Split's pattern; ByteLevel's when use_regex;
                                       ///< Metaspace's replacement when split
  std::string replacement;             ///< Metaspace: one character, UTF-8
  PrependScheme prepend_scheme = PrependScheme::Always;  ///< Metaspace
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;   ///< ByteLevel
  bool individual_digits = false;  ///< Digits
};

/// One post-processor that adds special tokens (TemplateProcessing's "single",
/// RobertaProcessing, BertProcessing): ids before and after the sequence.
struct PostTemplate {
  /// Items in order; an empty optional stands for the sequence itself.
  std::vector<std::optional<std::vector<std::int32_t>>> items;
};

struct DecoderStep {
  enum class Kind { ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace };
  Kind kind = Kind::ByteLevel;
  std::string pattern, content;     ///< Replace: pattern -> content; Strip: content (one char);
                                    ///< Metaspace: content is the replacement character
  std::size_t start = 0, stop = 0;  ///< Strip
  PrependScheme prepend_scheme = PrependScheme::Always;  ///< Metaspace
};

/// The model: BPE (vocab + merges) or Unigram (pieces with scores).
struct BpeSpec {
  enum class Kind { BPE, Unigram };
  Kind kind = Kind::BPE;
  /// Token -> id. For Unigram a later duplicate piece wins, as in tokenizers.
  TokenMap vocab;
  /// Unigram: every piece in id order with its score (duplicates kept).
  std::vector<std::pair<std::string, double>> pieces;
  std::optional<std::int32_t> unigram_unk_id;  ///< Unigram's unk_id
  /// Merges in rank order, as token strings.
  std::vector<std::pair<std::string, std::string>> merges;
  std::optional<std::string> unk_token;
  std::optional<std::string> continuing_subword_prefix, end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

struct TokenizerSpec {
  std::string origin;                         ///< the file it came from, for messages
  std::string kind;                           ///< "tokenizer.json" or "gguf"
  std::string merges_field = "model.merges";  ///< where the merges are, for messages
  BpeSpec model;
  std::vector<AddedTokenSpec> added_tokens;   ///< in file order
  std::string unk_field = "model.unk_token";  ///< where the unknown token is, for messages
  std::vector<NormalizerStep> normalizers;    ///< applied in order
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::vector<PostTemplate> post_processors;
  bool has_decoder = false;
  std::vector<DecoderStep> decoders;
  std::optional<std::int32_t> bos_id, eos_id, pad_id, unk_id;
};

/// The regex of GPT-2's ByteLevel pre-tokenizer.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

/// The compiled GPT-2 pattern, shared.
std::shared_ptr<const Regex> gpt2_regex();

/// Parses a tokenizer.json text (found in file `origin`).
TokenizerSpec parse_tokenizer_json(std::string_view json_text, const std::string& origin);

/// The pipeline transformers builds from a GGUF whose tokenizer model is
/// "llama" (SentencePiece); see tokenizer_gguf_spm.cpp.
TokenizerSpec spm_spec_from_gguf(const io::GgufFile& gguf);

/// The text of byte-fallback token `b`: "<0x0A>" (upper-case hex, as tokenizers writes it).
std::string byte_token(unsigned char b);

}  // namespace clrp::text::detail
