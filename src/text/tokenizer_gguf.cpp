// GGUF metadata of a byte-level BPE ("gpt2") tokenizer -> TokenizerSpec, and
// load_tokenizer() for model paths. SentencePiece ("llama") GGUF tokenizers
// are read in tokenizer_gguf_spm.cpp.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "clrp/io/gguf.hpp"
#include "clrp/io/json.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/text/tokenizer.hpp"
#include "clrp/util/error.hpp"
#include "tokenizer_gguf_fields.hpp"
#include "tokenizer_spec.hpp"

namespace clrp::text {

namespace {

namespace fs = std::filesystem;
using detail::PreTokenizerStep;
using detail::TokenizerSpec;

// Regexes of the Split pre-tokenizers in the families' tokenizer.json files.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

PreTokenizerStep byte_level(bool use_regex) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::ByteLevel;
  s.add_prefix_space = false;
  if (use_regex) s.regex = detail::gpt2_regex();
  return s;
}

PreTokenizerStep split(std::string_view pattern) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::Split;
  s.regex = std::make_shared<const detail::Regex>(pattern);
  s.behavior = detail::SplitBehavior::Isolated;
  return s;
}

PreTokenizerStep digits() {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::Digits;
  s.individual_digits = true;
  return s;
}

bool one_of(const std::string& v, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), v) != names.end();
}

constexpr const char* kSupportedPre =
    "gpt2, gpt-2, phi-2, roberta-bpe, llama3, llama-v3, llama-bpe, falcon3, pixtral, dbrx, "
    "smaug-bpe, qwen2, deepseek-r1-qwen, olmo, mpt, smollm, starcoder, refact, codeshell";

// The tokenizer.json pipeline that a `tokenizer.ggml.pre` name stands for.
// Returns the default of add_bos_token for that family (llama.cpp's).
bool apply_pre_type(const std::string& pre, TokenizerSpec& spec, const std::string& origin) {
  auto& steps = spec.pre_tokenizers;
  if (one_of(pre, {"gpt2", "gpt-2", "phi-2", "roberta-bpe"})) {
    steps.push_back(byte_level(true));
    return false;
  }
  if (one_of(pre, {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe"})) {
    // Meta's Llama-3 tokenizer.json; llama.cpp also ignores merges for whole-word hits.
    steps.push_back(split(kLlama3Pattern));
    steps.push_back(byte_level(false));
    spec.model.ignore_merges = true;
    return true;
  }
  if (one_of(pre, {"qwen2", "deepseek-r1-qwen"})) {
    spec.normalizers.push_back({});  // NFC
    steps.push_back(split(kQwen2Pattern));
    steps.push_back(byte_level(false));
    return false;
  }
  if (one_of(pre, {"olmo", "mpt"})) {
    // GPT-NeoX-20B's tokenizer.json (OLMo 1, MPT): NFC, then GPT-2 byte level.
    spec.normalizers.push_back({});  // NFC
    steps.push_back(byte_level(true));
    return false;
  }
  if (one_of(pre, {"smollm", "starcoder", "refact", "codeshell"})) {
    // StarCoder's tokenizer.json, which SmolLM/SmolLM2 reuse: digits one by one, then GPT-2.
    steps.push_back(digits());
    steps.push_back(byte_level(true));
    return false;
  }
  throw Error(Where{origin, "tokenizer.ggml.pre", std::nullopt},
              "unknown pre-tokenizer '" + excerpt(pre) + "' (supported: " + kSupportedPre + ")");
}

// bos/eos/pad of a Hugging Face model directory: tokenizer_config.json's token
// strings, else config.json's ids.
void apply_model_dir_specials(Tokenizer& tok, const fs::path& dir) {
  std::optional<std::int32_t> ids[3];
  const char* names[3] = {"bos_token", "eos_token", "pad_token"};
  const fs::path tc = dir / "tokenizer_config.json";
  if (io::regular_file_or_none(tc.string())) {
    const auto j = io::read_json_file(tc.string());
    for (int k = 0; k < 3; ++k) {
      if (!j.is_object() || !j.contains(names[k])) continue;
      const auto& v = j[names[k]];
      std::string content;
      if (v.is_string())
        content = v.get<std::string>();
      else if (v.is_object() && v.contains("content") && v["content"].is_string())
        content = v["content"].get<std::string>();
      else
        continue;
      ids[k] = tok.token_to_id(content);
      if (!ids[k])
        throw Error(Where{tc.string(), names[k], std::nullopt},
                    "token '" + excerpt(content) + "' is not in the tokenizer's vocabulary");
    }
  }
  const fs::path cfg = dir / "config.json";
  if (io::regular_file_or_none(cfg.string())) {
    const auto j = io::read_json_file(cfg.string());
    const char* keys[3] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    for (int k = 0; k < 3; ++k) {
      if (ids[k] || !j.is_object() || !j.contains(keys[k])) continue;
      auto v = j[keys[k]];
      if (v.is_array() && !v.empty()) v = v[0];
      if (v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
          v.get<std::int64_t>() < tok.vocab_size())
        ids[k] = static_cast<std::int32_t>(v.get<std::int64_t>());
    }
  }
  tok.set_special_ids(ids[0], ids[1], ids[2]);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const io::GgufFile& g) {
  const std::string& origin = g.path();
  const std::string model = g.get_string("tokenizer.ggml.model");
  if (model == "llama") return std::make_unique<Tokenizer>(detail::spm_spec_from_gguf(g));
  if (model != "gpt2")
    throw Error(Where{origin, "tokenizer.ggml.model", std::nullopt},
                "tokenizer model '" + excerpt(model) +
                    "' is not supported: clrp reads byte-level BPE ('gpt2') and SentencePiece "
                    "('llama') GGUF tokenizers");
  TokenizerSpec spec;
  spec.origin = origin;
  spec.kind = "gguf";
  spec.merges_field = "tokenizer.ggml.merges";
  const auto tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty())
    throw Error(Where{origin, "tokenizer.ggml.tokens", std::nullopt}, "the vocabulary is empty");
  if (tokens.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw Error(Where{origin, "tokenizer.ggml.tokens", std::nullopt}, "too many tokens");
  std::vector<std::int64_t> types;
  if (g.has("tokenizer.ggml.token_type")) {
    types = g.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size())
      throw Error(Where{origin, "tokenizer.ggml.token_type", std::nullopt},
                  "has " + std::to_string(types.size()) + " entries for " +
                      std::to_string(tokens.size()) + " tokens");
  }
  spec.model.vocab.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i)
    spec.model.vocab[tokens[i]] = static_cast<std::int32_t>(i);  // a later duplicate wins
  if (g.has("tokenizer.ggml.merges")) {
    const auto merges = g.get_string_array("tokenizer.ggml.merges");
    spec.model.merges.reserve(merges.size());
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const auto& line = merges[i];
      const auto space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        throw Error(
            Where{origin, "tokenizer.ggml.merges[" + std::to_string(i) + "]", std::nullopt},
            "a merge must be two tokens separated by one space, found '" + excerpt(line) + "'");
      spec.model.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
  }
  // Control tokens are the special added tokens; user-defined ones plain added tokens.
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (types[i] != 3 && types[i] != 4) continue;
    detail::AddedTokenSpec t;
    t.content = tokens[i];
    t.special = types[i] == 3;
    t.normalized = false;
    spec.added_tokens.push_back(std::move(t));
  }
  const std::string pre = g.get_string_opt("tokenizer.ggml.pre").value_or("");
  if (pre.empty())
    throw Error(Where{origin, "tokenizer.ggml.pre", std::nullopt},
                "missing: without it the pre-tokenizer of this byte-level BPE vocabulary is "
                "unknown");
  const bool add_bos_default = apply_pre_type(pre, spec, origin);

  detail::read_gguf_specials(g, tokens.size(), add_bos_default, spec);
  spec.has_decoder = true;
  spec.decoders.push_back({detail::DecoderStep::Kind::ByteLevel, "", "", 0, 0});
  return std::make_unique<Tokenizer>(std::move(spec));
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path) {
  std::error_code ec;
  const fs::path p(model_path);
  if (fs::is_directory(p, ec)) {
    const fs::path json = p / "tokenizer.json";
    if (const std::string kind = io::file_kind(json.string()); kind != "a regular file")
      throw Error(Where{model_path}, kind == "missing"
                                         ? "model directory has no tokenizer.json"
                                         : "tokenizer.json is " + kind + ", not a regular file");
    auto tok = Tokenizer::from_tokenizer_json(json.string());
    apply_model_dir_specials(*tok, p);
    return tok;
  }
  if (const std::string kind = io::file_kind(model_path); kind != "a regular file")
    throw Error(Where{model_path},
                (kind == "missing" ? "no such file or directory" : "is " + kind) +
                    " (expected a .gguf file, a tokenizer.json or a Hugging Face model directory)");
  if (p.extension() == ".json") {
    auto tok = Tokenizer::from_tokenizer_json(model_path);
    apply_model_dir_specials(*tok, p.parent_path());
    return tok;
  }
  const io::GgufFile gguf(model_path);
  return Tokenizer::from_gguf(gguf);
}

}  // namespace clrp::text
