// The shape and the switches of a decoder-only transformer.
//
// Every family clrp supports is one configurable block: the families differ in
// a few switches (norm kind, MLP gating, activation, biases, positional scheme,
// residual layout, extra norms). This header is free of libtorch so that the
// config readers and the CLI can use it cheaply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clrp::io {
class GgufFile;
}

namespace clrp::model {

enum class NormKind { RMSNorm, LayerNorm };
enum class Activation { SiLU, GELU, GELUTanh };
enum class PositionKind { Rotary, Learned };
/// How the attention and MLP branches join the residual stream.
enum class ResidualLayout {
  Sequential,  ///< h = x + attn(x); out = h + mlp(h)  (most families)
  Parallel,    ///< out = x + attn(x) + mlp(x)        (GPT-NeoX/Pythia use_parallel_residual)
};
/// Normalisation of queries and keys before the rotary embedding.
enum class QKNorm {
  None,
  PerHead,  ///< RMSNorm over each head's head_dim features (Qwen3, Gemma-3)
  Full,     ///< RMSNorm over the whole projection, all heads at once (OLMo-2/3)
};
/// Which rotary table a layer uses.
enum class LayerRope {
  Global,  ///< rope_theta with rope_scaling
  Local,   ///< local_rope_theta, unscaled (Gemma-3 and OLMo-3 sliding-window layers)
};

/// How rotary frequencies are rescaled for long contexts.
struct RopeScaling {
  enum class Kind { None, Linear, Llama3 };
  Kind kind = Kind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;                          ///< llama3
  double high_freq_factor = 4.0;                         ///< llama3
  std::int64_t original_max_position_embeddings = 8192;  ///< llama3
};

/// The model families clrp runs. Each is one Hugging Face model_type (the
/// table in config_hf.cpp maps the names); GGUF architectures map onto them
/// (config_gguf.cpp), and weight naming is chosen by family (weight_loader.cpp,
/// checkpoint.cpp). Adding a family is one entry in each of those tables.
enum class Family { Llama, Mistral, Qwen2, Qwen3, Olmo2, Olmo3, Gemma3, GptNeox, Gpt2 };
/// The number of families: the per-family tables check their length against it.
inline constexpr std::size_t kFamilyCount = 9;

/// The most layers a config may declare (validate(); the readers check it
/// before sizing per-layer tables by it).
inline constexpr std::int64_t kMaxLayers = 4096;

/// Throws clrp::Error naming `source` and `key` unless 1 <= layers <= kMaxLayers.
void check_layer_count(std::int64_t layers, const std::string& source, const std::string& key);

struct ModelConfig {
  Family family = Family::Llama;
  std::string source;  ///< the file the config came from, for messages
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;

  // --- switches of the block -------------------------------------------------
  NormKind norm = NormKind::RMSNorm;
  double norm_eps = 1e-6;
  Activation activation = Activation::SiLU;
  bool gated_mlp = true;        ///< down(act(gate(x)) * up(x)) rather than down(act(up(x)))
  bool attention_bias = false;  ///< biases on q, k, v projections
  bool attention_out_bias = false;
  bool mlp_bias = false;
  PositionKind positions = PositionKind::Rotary;
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;  ///< share of head_dim that is rotated
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;

  ResidualLayout residual = ResidualLayout::Sequential;
  /// Norms around the two branches. Pre-norms normalise a branch's input
  /// (Llama: both pre, no post); post-norms normalise its output before the
  /// residual addition (OLMo-2: post only; Gemma-3: both).
  bool attn_pre_norm = true, attn_post_norm = false;
  bool mlp_pre_norm = true, mlp_post_norm = false;
  QKNorm qk_norm = QKNorm::None;
  /// RMSNorm scales by (1 + w) rather than w (Gemma). The loader folds the 1
  /// into the weight, so the block itself always multiplies by its weight.
  bool norm_weight_offset = false;
  /// Token embeddings are multiplied by this (Gemma: sqrt(hidden_size)).
  double embedding_scale = 1.0;
  /// Attention logits are q·k times this; 0 means 1/sqrt(head_dim).
  double attention_scale = 0.0;
  /// Sliding-window size per layer (0: full causal attention). A token at
  /// position i sees keys j with i - window < j <= i, as transformers' masks.
  std::vector<std::int64_t> layer_window;
  /// Rotary table per layer (empty: all Global).
  std::vector<LayerRope> layer_rope;
  double local_rope_theta = 10000.0;

  std::int64_t rotary_dim() const;
  std::int64_t window(std::int64_t layer) const {
    return layer_window.empty() ? 0 : layer_window[static_cast<std::size_t>(layer)];
  }
  LayerRope rope_of(std::int64_t layer) const {
    return layer_rope.empty() ? LayerRope::Global : layer_rope[static_cast<std::size_t>(layer)];
  }
  double attention_scale_or_default() const;
  /// Sliding-window layers with the local rotary table, every `period`-th layer
  /// global instead (Gemma-3: 6, OLMo-3: 4), for configs without layer_types.
  void interleave_sliding_layers(std::int64_t window, std::int64_t period);
  std::int64_t kv_groups() const { return num_heads / num_kv_heads; }
  /// Parameter count implied by the shapes (embeddings counted once when tied).
  std::int64_t parameter_count() const;
  /// Parameters of one block (every block has the same shapes).
  std::int64_t layer_parameter_count() const;
  /// Values one layer's forward tape (decoder.hpp's LayerTape) holds per token:
  /// what an LRP backward keeps per layer and token until it runs.
  std::int64_t tape_values_per_token() const;
  /// Throws clrp::Error naming `source` and the offending key when the values
  /// are inconsistent (heads not dividing, non-positive sizes, ...).
  void validate() const;
};

/// Reads a Hugging Face `config.json`. Unknown `model_type` or unsupported
/// options are errors naming the key, never a silently different model.
ModelConfig read_hf_config(const std::string& path);

/// Reads the `<arch>.*` metadata of a GGUF file. An architecture without a
/// reader is an error naming general.architecture and the ones supported.
ModelConfig read_gguf_config(const io::GgufFile& gguf);

/// The Hugging Face model_type of a family: "llama", "qwen3", "gemma3_text", ...
const std::string& to_string(Family family);

std::string to_string(NormKind k);
std::string to_string(Activation a);
std::string to_string(RopeScaling::Kind k);
std::string to_string(ResidualLayout r);
std::string to_string(QKNorm q);

/// The families read_hf_config accepts (Hugging Face model_type values).
const std::vector<std::string>& supported_families();
/// The GGUF architectures read_gguf_config accepts (general.architecture values).
const std::vector<std::string>& supported_gguf_architectures();

}  // namespace clrp::model
