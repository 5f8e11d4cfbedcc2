#include "clrp/model/config.hpp"

#include <cmath>
#include <optional>

#include "clrp/io/gguf.hpp"
#include "clrp/io/json.hpp"
#include "clrp/util/error.hpp"

namespace clrp::model {

std::int64_t ModelConfig::rotary_dim() const {
  return static_cast<std::int64_t>(
      std::llround(static_cast<double>(head_dim) * partial_rotary_factor));
}

std::int64_t ModelConfig::parameter_count() const {
  const std::int64_t h = hidden_size;
  const std::int64_t q = num_heads * head_dim;
  const std::int64_t kv = num_kv_heads * head_dim;
  std::int64_t attn = h * q + 2 * h * kv + q * h;
  if (attention_bias) attn += q + 2 * kv;
  if (attention_out_bias) attn += h;
  std::int64_t mlp = (gated_mlp ? 3 : 2) * h * intermediate_size;
  if (mlp_bias) mlp += (gated_mlp ? 2 : 1) * intermediate_size + h;
  const std::int64_t norm_params = norm == NormKind::LayerNorm ? 2 * h : h;
  const std::int64_t per_layer = attn + mlp + 2 * norm_params;
  std::int64_t total = num_layers * per_layer + norm_params + vocab_size * h;
  if (!tie_word_embeddings) total += vocab_size * h;
  if (positions == PositionKind::Learned) total += max_position_embeddings * h;
  return total;
}

void ModelConfig::validate() const {
  auto positive = [&](std::int64_t v, const char* key) {
    if (v <= 0) throw Error(Where{source, key}, "must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
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
  if (positions == PositionKind::Rotary && !(rope_theta > 0))
    throw Error(Where{source, "rope_theta"}, "must be positive");
}

namespace {

// Typed access to a config.json object; every error names the file and key.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& j, std::string file) : j_(j), file_(std::move(file)) {}

  bool has(const std::string& key) const { return j_.contains(key) && !j_[key].is_null(); }
  std::int64_t integer(const std::string& key) const {
    if (!has(key)) throw Error(Where{file_, key}, "required key is missing");
    return integer_at(j_[key], key);
  }
  std::int64_t integer_or(const std::string& key, std::int64_t fallback) const {
    return has(key) ? integer_at(j_[key], key) : fallback;
  }
  double number_or(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_number())
      throw Error(Where{file_, key}, "must be a number, got " + j_[key].dump());
    return j_[key].get<double>();
  }
  bool boolean_or(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j_[key].is_boolean())
      throw Error(Where{file_, key}, "must be true or false, got " + j_[key].dump());
    return j_[key].get<bool>();
  }
  std::string string(const std::string& key) const {
    if (!has(key)) throw Error(Where{file_, key}, "required key is missing");
    if (!j_[key].is_string())
      throw Error(Where{file_, key}, "must be a string, got " + j_[key].dump());
    return j_[key].get<std::string>();
  }
  std::string string_or(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
  }
  const nlohmann::json& raw(const std::string& key) const { return j_[key]; }
  const std::string& file() const { return file_; }

 private:
  std::int64_t integer_at(const nlohmann::json& v, const std::string& key) const {
    if (!v.is_number_integer())
      throw Error(Where{file_, key}, "must be an integer, got " + v.dump());
    return v.get<std::int64_t>();
  }
  const nlohmann::json& j_;
  std::string file_;
};

std::string act_name_or(const JsonFields& f) {
  return f.string_or("hidden_act", f.string_or("hidden_activation", "silu"));
}

Activation parse_activation(const std::string& name, const std::string& file, const char* key) {
  if (name == "silu" || name == "swish") return Activation::SiLU;
  if (name == "gelu") return Activation::GELU;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::GELUTanh;
  throw Error(Where{file, key}, "unsupported activation '" + name + "'");
}

RopeScaling parse_rope_scaling(const JsonFields& f) {
  RopeScaling rs;
  if (!f.has("rope_scaling")) return rs;
  const auto& j = f.raw("rope_scaling");
  if (!j.is_object()) throw Error(Where{f.file(), "rope_scaling"}, "must be an object or null");
  JsonFields r(j, f.file());
  std::string type = r.string_or("rope_type", r.string_or("type", ""));
  auto key = [](const char* k) { return std::string("rope_scaling.") + k; };
  if (type == "default" || type.empty()) return rs;
  if (type == "linear") {
    rs.kind = RopeScaling::Kind::Linear;
    rs.factor = r.number_or("factor", 1.0);
  } else if (type == "llama3") {
    rs.kind = RopeScaling::Kind::Llama3;
    for (const char* k :
         {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!r.has(k)) throw Error(Where{f.file(), key(k)}, "required for rope_type 'llama3'");
    rs.factor = r.number_or("factor", 1.0);
    rs.low_freq_factor = r.number_or("low_freq_factor", 1.0);
    rs.high_freq_factor = r.number_or("high_freq_factor", 4.0);
    rs.original_max_position_embeddings = r.integer("original_max_position_embeddings");
    if (!(rs.high_freq_factor > rs.low_freq_factor))
      throw Error(Where{f.file(), key("high_freq_factor")}, "must exceed low_freq_factor");
  } else {
    throw Error(
        Where{f.file(), key("rope_type")},
        "rope scaling type '" + type + "' is not implemented (supported: default, linear, llama3)");
  }
  if (!(rs.factor > 0)) throw Error(Where{f.file(), key("factor")}, "must be positive");
  return rs;
}

void read_llama(const JsonFields& f, ModelConfig& c) {
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = f.integer_or("num_key_value_heads", c.num_heads);
  c.head_dim = f.integer_or("head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer_or("max_position_embeddings", 2048);
  c.norm = NormKind::RMSNorm;
  c.norm_eps = f.number_or("rms_norm_eps", 1e-6);
  c.activation = parse_activation(act_name_or(f), f.file(), "hidden_act");
  c.gated_mlp = true;
  c.attention_bias = f.boolean_or("attention_bias", false);
  c.attention_out_bias = c.attention_bias;
  c.mlp_bias = f.boolean_or("mlp_bias", false);
  c.rope_theta = f.number_or("rope_theta", 10000.0);
  c.partial_rotary_factor = f.number_or("partial_rotary_factor", 1.0);
  c.rope_scaling = parse_rope_scaling(f);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  if (f.has("pretraining_tp") && f.integer("pretraining_tp") != 1)
    throw Error(Where{f.file(), "pretraining_tp"},
                "tensor-parallel pretraining splits (pretraining_tp > 1) are not supported");
}

}  // namespace

ModelConfig read_hf_config(const std::string& path) {
  const auto j = io::read_json_file(path);
  if (!j.is_object()) throw Error(Where{path}, "config is not a JSON object");
  JsonFields f(j, path);
  ModelConfig c;
  c.source = path;
  c.family = f.string("model_type");
  if (c.family == "llama") {
    read_llama(f, c);
  } else {
    throw Error(Where{path, "model_type"},
                "unknown or unsupported architecture '" + c.family + "' (supported: llama)");
  }
  c.validate();
  return c;
}

ModelConfig read_gguf_config(const io::GgufFile& g) {
  ModelConfig c;
  c.source = g.path();
  const std::string arch = g.get_string("general.architecture");
  c.family = arch;
  auto key = [&](const char* k) { return arch + "." + k; };
  if (arch != "llama")
    throw Error(Where{g.path(), "general.architecture"},
                "unknown or unsupported architecture '" + arch + "' (supported: llama)");
  c.hidden_size = g.get_int(key("embedding_length"));
  c.intermediate_size = g.get_int(key("feed_forward_length"));
  c.num_layers = g.get_int(key("block_count"));
  c.num_heads = g.get_int(key("attention.head_count"));
  c.num_kv_heads = g.get_int_opt(key("attention.head_count_kv")).value_or(c.num_heads);
  c.head_dim = g.get_int_opt(key("attention.key_length"))
                   .value_or(c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.max_position_embeddings = g.get_int_opt(key("context_length")).value_or(2048);
  if (auto v = g.get_int_opt(key("vocab_size"))) {
    c.vocab_size = *v;
  } else if (g.has("tokenizer.ggml.tokens")) {
    c.vocab_size = static_cast<std::int64_t>(g.get_string_array("tokenizer.ggml.tokens").size());
  }
  c.norm = NormKind::RMSNorm;
  c.norm_eps = g.get_float(key("attention.layer_norm_rms_epsilon"));
  c.activation = Activation::SiLU;
  c.gated_mlp = true;
  c.rope_theta = g.get_float_opt(key("rope.freq_base")).value_or(10000.0);
  if (auto dims = g.get_int_opt(key("rope.dimension_count")); dims && c.head_dim > 0)
    c.partial_rotary_factor = static_cast<double>(*dims) / static_cast<double>(c.head_dim);
  if (auto type = g.get_string_opt(key("rope.scaling.type")); type && *type != "none") {
    if (*type == "linear") {
      c.rope_scaling.kind = RopeScaling::Kind::Linear;
      c.rope_scaling.factor = g.get_float(key("rope.scaling.factor"));
    } else {
      throw Error(Where{g.path(), key("rope.scaling.type")},
                  "rope scaling type '" + *type + "' is not implemented");
    }
  }
  // Llama-3 rope scaling lives in a precomputed tensor in GGUF files.
  if (g.find("rope_freqs.weight") != nullptr)
    throw Error(
        Where{g.path(), "rope_freqs.weight"},
        "GGUF files with precomputed rope frequencies (Llama-3.1 scaling) are not supported yet; "
        "use the Hugging Face safetensors checkpoint");
  // No separate output matrix means the unembedding is tied to the embedding.
  c.tie_word_embeddings = g.find("output.weight") == nullptr;
  c.validate();
  return c;
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
