// The tokenizer.ggml.* fields that byte-level BPE and SentencePiece GGUF
// tokenizers share: special ids and the bos/eos the encoder adds. Internal to
// src/text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tokenizer_spec.hpp"

namespace clrp::text::detail {

/// The token id stored under `key`, nullopt when absent or a "none" sentinel
/// (-1, UINT32_MAX); clrp::Error when outside a vocabulary of `n_tokens`.
std::optional<std::int32_t> gguf_token_id(const io::GgufFile& g, const std::string& key,
                                          std::size_t n_tokens);

/// A boolean field, `fallback` when absent.
bool gguf_bool(const io::GgufFile& g, const std::string& key, bool fallback);

/// Reads bos/eos/pad/unk ids into `spec` and adds the post-processor that
/// puts bos before (tokenizer.ggml.add_bos_token, default `add_bos_default`)
/// and eos after (add_eos_token, default false) the text.
void read_gguf_specials(const io::GgufFile& g, std::size_t n_tokens, bool add_bos_default,
                        TokenizerSpec& spec);

}  // namespace clrp::text::detail
