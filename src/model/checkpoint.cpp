#include "clrp/model/checkpoint.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <set>
#include <string_view>

#include "clrp/io/gguf.hpp"
#include "clrp/io/read_file.hpp"
#include "clrp/io/safetensors.hpp"
#include "clrp/util/error.hpp"
#include "family_weights.hpp"

namespace fs = std::filesystem;

namespace clrp::model {

namespace {

std::string shape_string(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i)
    out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Undo llama.cpp's q/k permutation: GGUF rows are ordered (head, pair, half)
// so that ggml's interleaved rotary works; Hugging Face orders (head, half, pair).
void unpermute_rotary_rows(std::vector<float>& w, std::int64_t rows, std::int64_t cols,
                           std::int64_t heads) {
  const std::int64_t head_dim = rows / heads;
  const std::int64_t half = head_dim / 2;
  std::vector<float> out(w.size());
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t j = 0; j < half; ++j)
      for (std::int64_t s = 0; s < 2; ++s) {
        const std::int64_t src = h * head_dim + j * 2 + s;     // GGUF row
        const std::int64_t dst = h * head_dim + s * half + j;  // Hugging Face row
        std::copy_n(w.begin() + src * cols, cols, out.begin() + dst * cols);
      }
  w.swap(out);
}

}  // namespace

std::string gguf_tensor_name(const std::string& hf, Family family) {
  static const std::pair<const char*, const char*> kTop[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  for (const auto& [h, g] : kTop)
    if (hf == h) return g;
  static const std::regex kLayer(R"(model\.layers\.(\d+)\.(.+))");
  static const std::pair<const char*, const char*> kBlock[] = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.o_proj.bias", "attn_output.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
  };
  // The norm before the MLP is "ffn_norm" in GGUF; in Hugging Face naming it is
  // post_attention_layernorm, unless the family normalises the attention output
  // (Gemma-3: family_weights.hpp): then post_attention_layernorm is that norm
  // ("post_attention_norm") and pre_feedforward_layernorm the one before the MLP.
  const bool post_norm = detail::family_weights(family).gguf_attention_post_norm;
  std::smatch m;
  if (std::regex_match(hf, m, kLayer)) {
    const std::string blk = "blk." + m[1].str() + ".";
    if (m[2] == "post_attention_layernorm.weight")
      return blk + (post_norm ? "post_attention_norm.weight" : "ffn_norm.weight");
    if (post_norm && m[2] == "pre_feedforward_layernorm.weight") return blk + "ffn_norm.weight";
    for (const auto& [h, g] : kBlock)
      if (m[2] == h) return blk + g;
  }
  return "";
}

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint c;
  c.path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    c.format_ = CheckpointFormat::HuggingFace;
    c.config_file_ = (fs::path(path) / "config.json").string();
    if (const std::string kind = io::file_kind(c.config_file_); kind != "a regular file")
      throw Error(Where{path}, "not a Hugging Face model directory: config.json is " +
                                   (kind == "missing" ? kind : kind + ", not a regular file"));
    c.config_ = read_hf_config(c.config_file_);
    c.weights_ = std::make_shared<io::SafetensorsCheckpoint>(path);
  } else {
    io::refuse_pickled_weights(path);
    if (fs::path(path).extension() != ".gguf")
      throw Error(Where{path}, "expected a Hugging Face model directory or a .gguf file");
    c.format_ = CheckpointFormat::Gguf;
    auto g = std::make_shared<io::GgufFile>(path);
    c.gguf_ = g.get();
    c.weights_ = g;
    c.config_ = read_gguf_config(*g);
  }
  return c;
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  if (!config_file_.empty()) out.push_back(config_file_);
  for (auto& f : weights_->files())
    out.push_back(f);
  return out;
}

const io::TensorInfo* Checkpoint::find(const std::string& hf_name) const {
  if (format_ == CheckpointFormat::HuggingFace) return weights_->find(hf_name);
  const std::string g = gguf_tensor_name(hf_name, config_.family);
  return g.empty() ? nullptr : weights_->find(g);
}

const io::TensorInfo& Checkpoint::get(const std::string& hf_name) const {
  if (const auto* t = find(hf_name)) return *t;
  const std::string g =
      format_ == CheckpointFormat::Gguf ? gguf_tensor_name(hf_name, config_.family) : "";
  throw Error(Where{weights_->files().front(), g.empty() ? hf_name : g},
              "tensor missing from the model files" +
                  (g.empty() ? "" : " (Hugging Face name " + hf_name + ")"));
}

std::vector<float> Checkpoint::read(const std::string& hf_name,
                                    const std::vector<std::int64_t>& shape) const {
  const auto& t = get(hf_name);
  if (t.shape != shape)
    throw Error(Where{t.file, t.name}, "shape " + shape_string(t.shape) +
                                           " does not match the config, which implies " +
                                           shape_string(shape));
  if (!io::dtype_is_float_convertible(t.dtype))
    throw Error(Where{t.file, t.name},
                "storage type " + std::string(io::dtype_name(t.dtype)) + " is not a float type");
  // A NaN or infinity in a weight would otherwise surface only as non-finite
  // logits, with no hint of where it came from. Checked chunk by chunk as the
  // tensor is converted, in the stored order (before any re-ordering below), so
  // the byte offset is the element's (or its block's).
  std::vector<float> w(static_cast<std::size_t>(t.numel()));
  // It costs ~8 % of model load (SmolLM2 Q4_1: ~0.1 s of ~1.25 s); the
  // environment variable CLRP_SKIP_WEIGHT_CHECK=1 turns it off.
  static const bool kSkip = [] {
    const char* v = std::getenv("CLRP_SKIP_WEIGHT_CHECK");
    return v != nullptr && std::string_view(v) == "1";
  }();
  std::int64_t bad = t.numel();
  if (kSkip)
    weights_->read_f32(t, w);
  else
    bad = weights_->read_f32_finite(t, w);
  if (bad < t.numel()) {
    const auto i = static_cast<std::size_t>(bad);
    const auto block = static_cast<std::size_t>(io::dtype_block_elements(t.dtype));
    const auto at =
        t.file_offset + i / block * static_cast<std::uint64_t>(io::dtype_block_bytes(t.dtype));
    throw Error(Where{t.file, t.name, at},
                "weight element " + std::to_string(i) + " of " + std::to_string(w.size()) + " is " +
                    (std::isnan(w[i]) ? "NaN"
                     : w[i] > 0       ? "+inf"
                                      : "-inf") +
                    (block > 1 ? " (in the " + std::string(io::dtype_name(t.dtype)) +
                                     " block at this offset)"
                               : "") +
                    "; the model file is corrupt or was saved after its training diverged");
  }
  if (format_ == CheckpointFormat::Gguf &&
      detail::family_weights(config_.family).gguf_rotary_permuted && shape.size() == 2) {
    if (hf_name.ends_with("self_attn.q_proj.weight"))
      unpermute_rotary_rows(w, shape[0], shape[1], config_.num_heads);
    else if (hf_name.ends_with("self_attn.k_proj.weight"))
      unpermute_rotary_rows(w, shape[0], shape[1], config_.num_kv_heads);
  }
  return w;
}

std::vector<std::string> Checkpoint::storage_types() const {
  std::set<std::string> types;
  for (const auto& t : weights_->tensors())
    types.insert(std::string(io::dtype_name(t.dtype)));
  return {types.begin(), types.end()};
}

}  // namespace clrp::model
