#include "tokenizer_gguf_fields.hpp"

#include <limits>

#include "clrp/io/gguf.hpp"
#include "clrp/util/error.hpp"

namespace clrp::text::detail {

std::optional<std::int32_t> gguf_token_id(const io::GgufFile& g, const std::string& key,
                                          std::size_t n_tokens) {
  const auto v = g.get_int_opt(key);
  if (!v) return std::nullopt;
  if (*v < 0 || static_cast<std::uint64_t>(*v) >= n_tokens) {
    // llama.cpp writes -1 / UINT32_MAX style sentinels for "none".
    if (*v == -1 || *v == std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    throw Error(Where{g.path(), key, std::nullopt}, "token id " + std::to_string(*v) +
                                                        " is outside the vocabulary of " +
                                                        std::to_string(n_tokens) + " tokens");
  }
  return static_cast<std::int32_t>(*v);
}

bool gguf_bool(const io::GgufFile& g, const std::string& key, bool fallback) {
  return g.has(key) ? g.get_bool(key) : fallback;
}

void read_gguf_specials(const io::GgufFile& g, std::size_t n_tokens, bool add_bos_default,
                        TokenizerSpec& spec) {
  const std::string& origin = g.path();
  spec.bos_id = gguf_token_id(g, "tokenizer.ggml.bos_token_id", n_tokens);
  spec.eos_id = gguf_token_id(g, "tokenizer.ggml.eos_token_id", n_tokens);
  spec.pad_id = gguf_token_id(g, "tokenizer.ggml.padding_token_id", n_tokens);
  spec.unk_id = gguf_token_id(g, "tokenizer.ggml.unknown_token_id", n_tokens);
  const bool add_bos = gguf_bool(g, "tokenizer.ggml.add_bos_token", add_bos_default);
  const bool add_eos = gguf_bool(g, "tokenizer.ggml.add_eos_token", false);
  PostTemplate post;
  if (add_bos) {
    if (!spec.bos_id)
      throw Error(Where{origin, "tokenizer.ggml.bos_token_id", std::nullopt},
                  "missing, but tokenizer.ggml.add_bos_token asks for it");
    post.items.emplace_back(std::vector<std::int32_t>{*spec.bos_id});
  }
  post.items.emplace_back(std::nullopt);
  if (add_eos) {
    if (!spec.eos_id)
      throw Error(Where{origin, "tokenizer.ggml.eos_token_id", std::nullopt},
                  "missing, but tokenizer.ggml.add_eos_token asks for it");
    post.items.emplace_back(std::vector<std::int32_t>{*spec.eos_id});
  }
  if (add_bos || add_eos) spec.post_processors.push_back(std::move(post));
}

}  // namespace clrp::text::detail
