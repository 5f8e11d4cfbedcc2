// Reading a Hugging Face config.json into the switches of the one decoder block.
//
// One reader per family. Each reads the keys its transformers configuration
// class defines, with that class's defaults, and sets the block's switches;
// anything the block cannot reproduce (softcapping, an unknown rope type,
// per-layer attention scaling, ...) is an error naming the key.
#include <cmath>
#include <iterator>

#include "clrp/io/json.hpp"
#include "clrp/model/config.hpp"
#include "clrp/util/error.hpp"
#include "family_table.hpp"

namespace clrp::model {

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
  std::vector<std::string> strings(const std::string& key) const {
    if (!j_[key].is_array()) throw Error(Where{file_, key}, "must be a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < j_[key].size(); ++i) {
      if (!j_[key][i].is_string())
        throw Error(Where{file_, key + "[" + std::to_string(i) + "]"}, "must be a string");
      out.push_back(j_[key][i].get<std::string>());
    }
    return out;
  }
  /// A key that must be absent or null: the block has no such feature.
  void refuse(const std::string& key, const std::string& what) const {
    if (has(key))
      throw Error(Where{file_, key}, what + " is not supported (value " + j_[key].dump() + ")");
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

Activation parse_activation(const std::string& name, const std::string& file,
                            const std::string& key) {
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

// The keys most families share (Llama naming), with the family's own defaults.
struct Defaults {
  std::int64_t head_dim = 0;  ///< 0: hidden_size / num_attention_heads
  double norm_eps = 1e-6;
  const char* activation = "silu";
  bool tie_word_embeddings = false;
};

void read_llama_like(const JsonFields& f, ModelConfig& c, const Defaults& d) {
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  check_layer_count(c.num_layers, f.file(), "num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = f.integer_or("num_key_value_heads", c.num_heads);
  const std::int64_t default_head_dim =
      d.head_dim > 0 ? d.head_dim : (c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  c.head_dim = f.integer_or("head_dim", default_head_dim);
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer_or("max_position_embeddings", 2048);
  c.norm = NormKind::RMSNorm;
  c.norm_eps = f.number_or("rms_norm_eps", d.norm_eps);
  const char* act_key = f.has("hidden_activation") ? "hidden_activation" : "hidden_act";
  c.activation = parse_activation(f.string_or(act_key, d.activation), f.file(), act_key);
  c.gated_mlp = true;
  c.rope_theta = f.number_or("rope_theta", 10000.0);
  c.partial_rotary_factor = f.number_or("partial_rotary_factor", 1.0);
  c.rope_scaling = parse_rope_scaling(f);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", d.tie_word_embeddings);
  if (f.has("pretraining_tp") && f.integer("pretraining_tp") != 1)
    throw Error(Where{f.file(), "pretraining_tp"},
                "tensor-parallel pretraining splits (pretraining_tp > 1) are not supported");
}

// Per-layer attention kinds from `layer_types` ("full_attention" / "sliding_attention").
// Sliding layers get `window`; with `local_rope`, they also use the local rotary table.
void read_layer_types(const JsonFields& f, ModelConfig& c, std::int64_t window, bool local_rope) {
  const std::vector<std::string> types = f.strings("layer_types");
  if (static_cast<std::int64_t>(types.size()) != c.num_layers)
    throw Error(Where{f.file(), "layer_types"}, "has " + std::to_string(types.size()) +
                                                    " entries for " + std::to_string(c.num_layers) +
                                                    " layers");
  c.layer_window.assign(types.size(), 0);
  c.layer_rope.assign(types.size(), LayerRope::Global);
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "full_attention") continue;
    if (types[i] != "sliding_attention")
      throw Error(Where{f.file(), "layer_types[" + std::to_string(i) + "]"},
                  "unknown layer type '" + types[i] + "'");
    if (window <= 0)
      throw Error(Where{f.file(), "sliding_window"},
                  "layer " + std::to_string(i) + " is a sliding-window layer but no window is set");
    c.layer_window[i] = window;
    if (local_rope) c.layer_rope[i] = LayerRope::Local;
  }
}

void read_llama(const JsonFields& f, ModelConfig& c) {
  read_llama_like(f, c, {});
  c.attention_bias = f.boolean_or("attention_bias", false);
  c.attention_out_bias = c.attention_bias;
  c.mlp_bias = f.boolean_or("mlp_bias", false);
}

void read_mistral(const JsonFields& f, ModelConfig& c) {
  read_llama_like(f, c, {});
  // Every layer of a Mistral model uses the same window (null: none).
  if (f.has("sliding_window"))
    c.layer_window.assign(static_cast<std::size_t>(c.num_layers), f.integer("sliding_window"));
}

// Qwen2 always has q/k/v biases; Qwen3 has q/k RMSNorm and an attention_bias switch.
void read_qwen(const JsonFields& f, ModelConfig& c, bool qwen3) {
  read_llama_like(f, c, {.head_dim = qwen3 ? 128 : 0});
  c.attention_bias = qwen3 ? f.boolean_or("attention_bias", false) : true;
  c.attention_out_bias = qwen3 && c.attention_bias;
  if (qwen3) c.qk_norm = QKNorm::PerHead;
  const bool sliding = f.boolean_or("use_sliding_window", false);
  const std::int64_t window = sliding ? f.integer_or("sliding_window", 4096) : 0;
  if (f.has("layer_types")) {
    read_layer_types(f, c, window, false);
  } else if (sliding) {
    const std::int64_t full = f.integer_or("max_window_layers", 28);
    c.layer_window.assign(static_cast<std::size_t>(c.num_layers), 0);
    for (std::int64_t i = full; i < c.num_layers; ++i)
      c.layer_window[static_cast<std::size_t>(i)] = window;
  }
}

// OLMo-2: norms after each branch only, q/k RMSNorm over the whole projection.
// OLMo-3 adds sliding-window layers with unscaled rotary.
void read_olmo(const JsonFields& f, ModelConfig& c, bool olmo3) {
  read_llama_like(f, c, {.norm_eps = 1e-5});
  c.attention_bias = f.boolean_or("attention_bias", false);
  c.attention_out_bias = c.attention_bias;
  c.attn_pre_norm = c.mlp_pre_norm = false;
  c.attn_post_norm = c.mlp_post_norm = true;
  c.qk_norm = QKNorm::Full;
  if (olmo3) {
    c.local_rope_theta = c.rope_theta;
    if (f.has("layer_types")) {
      read_layer_types(f, c, f.integer_or("sliding_window", 4096), true);
    } else {
      c.interleave_sliding_layers(f.integer_or("sliding_window", 4096),
                                  4);  // Olmo3Config's default
    }
  }
}

void read_gemma3(const JsonFields& f, ModelConfig& c) {
  read_llama_like(
      f, c, {.head_dim = 256, .activation = "gelu_pytorch_tanh", .tie_word_embeddings = true});
  f.refuse("final_logit_softcapping", "final logit softcapping");
  f.refuse("attn_logit_softcapping", "attention logit softcapping");
  c.attention_bias = f.boolean_or("attention_bias", false);
  c.attention_out_bias = c.attention_bias;
  c.attn_pre_norm = c.attn_post_norm = c.mlp_pre_norm = c.mlp_post_norm = true;
  c.qk_norm = QKNorm::PerHead;
  c.norm_weight_offset = true;
  c.embedding_scale = std::sqrt(static_cast<double>(c.hidden_size));
  c.attention_scale = 1.0 / std::sqrt(f.number_or("query_pre_attn_scalar", 256.0));
  c.local_rope_theta = f.number_or("rope_local_base_freq", 10000.0);
  const std::int64_t window = f.integer_or("sliding_window", 4096);
  if (f.has("layer_types")) {
    read_layer_types(f, c, window, true);
  } else {
    const std::int64_t period = f.integer_or("sliding_window_pattern", 6);
    if (period <= 0) throw Error(Where{f.file(), "sliding_window_pattern"}, "must be positive");
    c.interleave_sliding_layers(window, period);
  }
}

// GPT-NeoX / Pythia: LayerNorm with bias, partial rotary, plain GELU MLP, and
// (by default) the parallel residual.
void read_gpt_neox(const JsonFields& f, ModelConfig& c) {
  c.hidden_size = f.integer("hidden_size");
  c.intermediate_size = f.integer("intermediate_size");
  c.num_layers = f.integer("num_hidden_layers");
  check_layer_count(c.num_layers, f.file(), "num_hidden_layers");
  c.num_heads = f.integer("num_attention_heads");
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer_or("max_position_embeddings", 2048);
  c.norm = NormKind::LayerNorm;
  c.norm_eps = f.number_or("layer_norm_eps", 1e-5);
  c.activation = parse_activation(f.string_or("hidden_act", "gelu"), f.file(), "hidden_act");
  c.gated_mlp = false;
  c.attention_bias = c.attention_out_bias = f.boolean_or("attention_bias", true);
  c.mlp_bias = true;
  c.rope_theta = f.number_or("rope_theta", f.number_or("rotary_emb_base", 10000.0));
  c.partial_rotary_factor = f.number_or("rotary_pct", f.number_or("partial_rotary_factor", 0.25));
  c.rope_scaling = parse_rope_scaling(f);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.residual = f.boolean_or("use_parallel_residual", true) ? ResidualLayout::Parallel
                                                           : ResidualLayout::Sequential;
}

// GPT-2: learned positions, LayerNorm, fused Conv1D projections, biases everywhere.
void read_gpt2(const JsonFields& f, ModelConfig& c) {
  c.hidden_size = f.integer("n_embd");
  c.intermediate_size = f.integer_or("n_inner", 4 * c.hidden_size);
  c.num_layers = f.integer("n_layer");
  check_layer_count(c.num_layers, f.file(), "n_layer");
  c.num_heads = f.integer("n_head");
  c.num_kv_heads = c.num_heads;
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  c.vocab_size = f.integer("vocab_size");
  c.max_position_embeddings = f.integer_or("n_positions", 1024);
  c.norm = NormKind::LayerNorm;
  c.norm_eps = f.number_or("layer_norm_epsilon", 1e-5);
  c.activation = parse_activation(f.string_or("activation_function", "gelu_new"), f.file(),
                                  "activation_function");
  c.gated_mlp = false;
  c.attention_bias = c.attention_out_bias = c.mlp_bias = true;
  c.positions = PositionKind::Learned;
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", true);
  if (f.boolean_or("scale_attn_by_inverse_layer_idx", false))
    throw Error(Where{f.file(), "scale_attn_by_inverse_layer_idx"},
                "per-layer attention scaling is not supported");
  if (!f.boolean_or("scale_attn_weights", true)) c.attention_scale = 1.0;
}

struct FamilyReader {
  Family family;
  const char* model_type;
  void (*read)(const JsonFields&, ModelConfig&);
};

// One entry per Family, in the enum's order (to_string indexes it).
constexpr FamilyReader kFamilies[] = {
    {Family::Llama, "llama", read_llama},
    {Family::Mistral, "mistral", read_mistral},
    {Family::Qwen2, "qwen2", [](const JsonFields& f, ModelConfig& c) { read_qwen(f, c, false); }},
    {Family::Qwen3, "qwen3", [](const JsonFields& f, ModelConfig& c) { read_qwen(f, c, true); }},
    {Family::Olmo2, "olmo2", [](const JsonFields& f, ModelConfig& c) { read_olmo(f, c, false); }},
    {Family::Olmo3, "olmo3", [](const JsonFields& f, ModelConfig& c) { read_olmo(f, c, true); }},
    {Family::Gemma3, "gemma3_text", read_gemma3},
    {Family::GptNeox, "gpt_neox", read_gpt_neox},
    {Family::Gpt2, "gpt2", read_gpt2},
};

static_assert(detail::follows_family_enum(kFamilies),
              "kFamilies has one entry per Family, in the enum's order");

}  // namespace

const std::vector<std::string>& supported_families() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& f : kFamilies)
      out.emplace_back(f.model_type);
    return out;
  }();
  return names;
}

const std::string& to_string(Family family) {
  return supported_families().at(static_cast<std::size_t>(family));
}

ModelConfig read_hf_config(const std::string& path) {
  const auto j = io::read_json_file(path);
  if (!j.is_object()) throw Error(Where{path}, "config is not a JSON object");
  JsonFields f(j, path);
  ModelConfig c;
  c.source = path;
  const std::string model_type = f.string("model_type");
  for (const auto& family : kFamilies)
    if (model_type == family.model_type) {
      c.family = family.family;
      family.read(f, c);
      c.validate();
      return c;
    }
  std::string list;
  for (const auto& name : supported_families())
    list += (list.empty() ? "" : ", ") + name;
  std::string hint;
  if (model_type == "gemma3")
    hint = "; for multimodal Gemma-3 checkpoints use the text model (model_type gemma3_text)";
  throw Error(Where{path, "model_type"}, "unknown or unsupported architecture '" + model_type +
                                             "' (supported: " + list + ")" + hint);
}

}  // namespace clrp::model
