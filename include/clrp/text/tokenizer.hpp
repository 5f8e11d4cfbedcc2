// Tokenizers equal to Hugging Face `tokenizers` (and, for GGUF files, to the
// tokenizer transformers builds from the GGUF).
//
// A Tokenizer is read from a `tokenizer.json` or from the metadata of a GGUF
// model. `encode(text)` gives the ids that `tokenizers.Tokenizer.encode(text).ids`
// gives (add_special_tokens=True by default): added tokens are matched first
// (leftmost-longest, with their lstrip/rstrip/single_word/normalized flags),
// the rest is normalised, pre-tokenised, and run through the model; the
// post-processor adds special tokens. Supported tokenizer.json parts:
//   model          BPE (merges, unk_token, fuse_unk, byte_fallback with
//                  <0xNN> tokens, ignore_merges, continuing_subword_prefix,
//                  end_of_word_suffix; dropout must be null or 0) and Unigram
//                  (pieces with scores, unk_id, byte_fallback);
//   normalizer     NFC, NFD, NFKC, NFKD, Replace (String or Regex pattern),
//                  Prepend, Sequence;
//   pre_tokenizer  Split, ByteLevel, Digits, Metaspace (prepend_scheme
//                  always/first/never, split true/false), Sequence;
//   post_processor TemplateProcessing, RobertaProcessing, BertProcessing,
//                  ByteLevel, Sequence;
//   decoder        ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace,
//                  Sequence.
// Anything else is refused with a clrp::Error naming the field. This covers
// the byte-level families (GPT-2, GPT-NeoX/OLMo, Llama-3, Qwen2, SmolLM/
// StarCoder) and the SentencePiece ones (Llama-2, Mistral, Gemma).
//
// GGUF: tokenizer model "gpt2" (byte-level BPE) holds no pre-tokenizer
// description, only the name of one in `tokenizer.ggml.pre`; each known name
// is mapped to the tokenizer.json pipeline of the model family it stands for
// (see tokenizer_gguf.cpp). For SmolLM2 ("smollm") that is the original SmolLM2
// tokenizer.json: digits split one by one, then GPT-2 byte-level BPE — what
// llama.cpp does too. (transformers' own GGUF conversion drops the digit split
// and so differs on numbers.) Tokenizer model "llama" (SentencePiece) gives
// the pipeline transformers builds from the GGUF: Unigram over the scores for
// Gemma-2/3, BPE with merges derived from the scores for Llama; llama.cpp
// segments these differently (see tokenizer_gguf_spm.cpp).
//
// Every problem with a file is a clrp::Error naming the file and the field
// (and the byte offset for JSON syntax errors). A normalizer sequence may make
// at most 64 x its input + 4 KiB bytes: checked after every step (and before a
// Replace builds its output), so a chain of expanding Replace steps is refused
// at the step that passes the bound, naming the file and that normalizer,
// instead of growing without limit. Encoding is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace clrp::io {
class GgufFile;
}

namespace clrp::text {

namespace detail {
struct TokenizerSpec;
}

class Tokenizer {
 public:
  /// Reads a Hugging Face tokenizer.json.
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  /// Parses tokenizer.json text; `origin` names it in messages.
  static std::unique_ptr<Tokenizer> from_tokenizer_json_text(std::string_view json,
                                                             const std::string& origin);
  /// Builds the tokenizer described by GGUF metadata (tokenizer.ggml.*).
  static std::unique_ptr<Tokenizer> from_gguf(const io::GgufFile& gguf);

  explicit Tokenizer(detail::TokenizerSpec spec);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  /// Token ids of UTF-8 `text` (clrp::Error when it is not valid UTF-8).
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  /// Text of `ids` as the tokenizer's decoder produces it; unknown ids are
  /// skipped, as Hugging Face does. Invalid UTF-8 becomes U+FFFD.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const;

  /// The decoded surface text of one token (U+FFFD where it holds part of a
  /// multi-byte character). clrp::Error for an unknown id.
  std::string token_string(std::int32_t id) const;
  /// The raw bytes one token stands for (byte-level tokens mapped back to bytes).
  std::string token_bytes(std::int32_t id) const;
  /// The vocabulary entry of `id` as written in the file (e.g. "Ġthe").
  std::optional<std::string> id_to_token(std::int32_t id) const;
  /// The id of a vocabulary entry or added token, written as in the file.
  std::optional<std::int32_t> token_to_id(std::string_view token) const;

  std::optional<std::int32_t> bos_id() const;
  std::optional<std::int32_t> eos_id() const;
  std::optional<std::int32_t> pad_id() const;
  std::optional<std::int32_t> unk_id() const;
  /// Sets the special ids a model directory declares outside tokenizer.json.
  void set_special_ids(std::optional<std::int32_t> bos, std::optional<std::int32_t> eos,
                       std::optional<std::int32_t> pad);

  /// One more than the largest id (vocabulary and added tokens): the number
  /// of rows an embedding matrix needs.
  std::int64_t vocab_size() const;
  /// Whether `id` is an added token flagged special (skipped by
  /// decode(..., skip_special_tokens=true)).
  bool is_special(std::int32_t id) const;
  /// The file it was read from.
  const std::string& source() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Loads the tokenizer of a model: a .gguf file, a Hugging Face model
/// directory (tokenizer.json, with bos/eos/pad from tokenizer_config.json or
/// config.json), or a tokenizer.json file itself.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path);

}  // namespace clrp::text
