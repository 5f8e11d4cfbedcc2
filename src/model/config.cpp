#include "clrp/model/config.hpp"

#include <cmath>
#include <optional>

#include "clrp/util/error.hpp"

namespace clrp::model {

std::int64_t ModelConfig::rotary_dim() const {
  return static_cast<std::int64_t>(
      std::llround(static_cast<double>(head_dim) * partial_rotary_factor));
}

double ModelConfig::attention_scale_or_default() const {
  return attention_scale > 0 ? attention_scale : 1.0 / std::sqrt(static_cast<double>(head_dim));
}

void ModelConfig::interleave_sliding_layers(std::int64_t window, std::int64_t period) {
  layer_window.assign(static_cast<std::size_t>(num_layers), 0);
  layer_rope.assign(static_cast<std::size_t>(num_layers), LayerRope::Global);
  for (std::int64_t i = 0; i < num_layers; ++i)
    if ((i + 1) % period != 0) {
      layer_window[static_cast<std::size_t>(i)] = window;
      layer_rope[static_cast<std::size_t>(i)] = LayerRope::Local;
    }
}

std::int64_t ModelConfig::layer_parameter_count() const {
  const std::int64_t h = hidden_size;
  const std::int64_t q = num_heads * head_dim;
  const std::int64_t kv = num_kv_heads * head_dim;
  std::int64_t attn = h * q + 2 * h * kv + q * h;
  if (attention_bias) attn += q + 2 * kv;
  if (attention_out_bias) attn += h;
  std::int64_t mlp = (gated_mlp ? 3 : 2) * h * intermediate_size;
  if (mlp_bias) mlp += (gated_mlp ? 2 : 1) * intermediate_size + h;
  const std::int64_t norm_params = norm == NormKind::LayerNorm ? 2 * h : h;
  const int block_norms = attn_pre_norm + attn_post_norm + mlp_pre_norm + mlp_post_norm;
  std::int64_t qk_norm_params = 0;
  if (qk_norm == QKNorm::PerHead) qk_norm_params = 2 * head_dim;
  if (qk_norm == QKNorm::Full) qk_norm_params = q + kv;
  return attn + mlp + block_norms * norm_params + qk_norm_params;
}

std::int64_t ModelConfig::tape_values_per_token() const {
  const std::int64_t h = hidden_size, i = intermediate_size, hd = head_dim;
  std::int64_t tape =
      4 * h + 2 * num_heads * hd + 2 * num_kv_heads * hd + (gated_mlp ? 4 * i : 3 * i);
  if (qk_norm != QKNorm::None) tape += (num_heads + num_kv_heads) * hd;
  return tape;
}

std::int64_t ModelConfig::parameter_count() const {
  const std::int64_t h = hidden_size;
  const std::int64_t norm_params = norm == NormKind::LayerNorm ? 2 * h : h;
  std::int64_t total = num_layers * layer_parameter_count() + norm_params + vocab_size * h;
  if (!tie_word_embeddings) total += vocab_size * h;
  if (positions == PositionKind::Learned) total += max_position_embeddings * h;
  return total;
}

void check_layer_count(std::int64_t layers, const std::string& source, const std::string& key) {
  if (layers <= 0 || layers > kMaxLayers)
    throw Error(Where{source, key},
                std::to_string(layers) + " layers: must lie in 1.." + std::to_string(kMaxLayers));
}

void ModelConfig::validate() const {
  // Positive, and within bounds far above any released model's (the largest
  // have ~128 layers, 256k vocabularies, 16k-wide states, 1M contexts): a
  // value past them is a broken or hostile config, refused before anything
  // is sized by it.
  auto within = [&](std::int64_t v, std::int64_t most, const char* key) {
    if (v <= 0 || v > most)
      throw Error(Where{source, key},
                  "must lie in 1.." + std::to_string(most) + ", got " + std::to_string(v));
  };
  within(vocab_size, std::int64_t{1} << 24, "vocab_size");
  within(hidden_size, std::int64_t{1} << 17, "hidden_size");
  within(intermediate_size, std::int64_t{1} << 20, "intermediate_size");
  check_layer_count(num_layers, source, "num_hidden_layers");
  within(num_heads, 4096, "num_attention_heads");
  within(num_kv_heads, 4096, "num_key_value_heads");
  within(head_dim, 4096, "head_dim");
  within(max_position_embeddings, std::int64_t{1} << 26, "max_position_embeddings");
  if (num_heads % num_kv_heads != 0)
    throw Error(Where{source, "num_key_value_heads"}, std::to_string(num_kv_heads) +
                                                          " does not divide num_attention_heads " +
                                                          std::to_string(num_heads));
  if (positions == PositionKind::Rotary &&
      (rotary_dim() <= 0 || rotary_dim() % 2 != 0 || rotary_dim() > head_dim))
    throw Error(Where{source, "partial_rotary_factor"},
                "rotary dimension " + std::to_string(rotary_dim()) +
                    " must be even and within head_dim " + std::to_string(head_dim));
  if (!(norm_eps > 0)) throw Error(Where{source, "rms_norm_eps"}, "must be positive");
  if (!layer_window.empty() && static_cast<std::int64_t>(layer_window.size()) != num_layers)
    throw Error(Where{source, "layer_types"}, "does not give one entry per layer");
  for (std::size_t i = 0; i < layer_window.size(); ++i)
    if (layer_window[i] < 0) throw Error(Where{source, "sliding_window"}, "must not be negative");
  if (!layer_rope.empty() && static_cast<std::int64_t>(layer_rope.size()) != num_layers)
    throw Error(Where{source, "layer_types"}, "does not give one entry per layer");
  if (!(attention_scale >= 0))
    throw Error(Where{source, "query_pre_attn_scalar"}, "must be positive");
  if (!(embedding_scale > 0))
    throw Error(Where{source, "hidden_size"}, "embedding scale must be positive");
  if (positions == PositionKind::Learned && max_position_embeddings <= 0)
    throw Error(Where{source, "n_positions"}, "must be positive");
  if (positions == PositionKind::Rotary && !(rope_theta > 0))
    throw Error(Where{source, "rope_theta"}, "must be positive");
}

std::string to_string(ResidualLayout r) {
  return r == ResidualLayout::Sequential ? "sequential" : "parallel";
}
std::string to_string(QKNorm q) {
  switch (q) {
    case QKNorm::None:
      return "none";
    case QKNorm::PerHead:
      return "per_head";
    case QKNorm::Full:
      return "full";
  }
  return "?";
}

std::string to_string(NormKind k) {
  return k == NormKind::RMSNorm ? "rmsnorm" : "layernorm";
}
std::string to_string(Activation a) {
  switch (a) {
    case Activation::SiLU:
      return "silu";
    case Activation::GELU:
      return "gelu";
    case Activation::GELUTanh:
      return "gelu_tanh";
  }
  return "?";
}
std::string to_string(RopeScaling::Kind k) {
  switch (k) {
    case RopeScaling::Kind::None:
      return "none";
    case RopeScaling::Kind::Linear:
      return "linear";
    case RopeScaling::Kind::Llama3:
      return "llama3";
  }
  return "?";
}

}  // namespace clrp::model
