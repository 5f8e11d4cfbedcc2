// Byte-level BPE tokenizers, equal to Hugging Face `tokenizers`.
//
// A Tokenizer is read from a `tokenizer.json` (model type BPE with byte-level
// pre-tokenization: GPT-2, GPT-NeoX/OLMo, Llama-3, Qwen2, SmolLM/StarCoder
// style files) or from the metadata of a GGUF model whose tokenizer model is
// "gpt2". `encode(text)` gives the ids that `tokenizers.Tokenizer.encode(text).ids`
// gives (add_special_tokens=True by default): added tokens are matched first
// (leftmost-longest, with their lstrip/rstrip/single_word/normalized flags),
// the rest is normalised (NFC/NFD/NFKC/NFKD), pre-tokenised (Split, ByteLevel,
// Digits, Sequence) and BPE-merged; the post-processor (TemplateProcessing,
// Roberta/Bert processing, ByteLevel) adds special tokens.
//
// A GGUF file holds no pre-tokenizer description, only the name of one in
// `tokenizer.ggml.pre`; each known name is mapped to the tokenizer.json
// pipeline of the model family it stands for (see tokenizer_gguf.cpp). For
// SmolLM2 ("smollm") that is the original SmolLM2 tokenizer.json: digits split
// one by one, then GPT-2 byte-level BPE — what llama.cpp does too. (transformers'
// own GGUF conversion drops the digit split and so differs on numbers.)
//
// Every problem with a file is a clrp::Error naming the file and the field
// (and the byte offset for JSON syntax errors). Encoding is thread-safe.
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
