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

/// How rotary frequencies are rescaled for long contexts.
struct RopeScaling {
  enum class Kind { None, Linear, Llama3 };
  Kind kind = Kind::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;                          ///< llama3
  double high_freq_factor = 4.0;                         ///< llama3
  std::int64_t original_max_position_embeddings = 8192;  ///< llama3
};

struct ModelConfig {
  std::string family;  ///< "llama", ... (Hugging Face model_type)
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

  std::int64_t rotary_dim() const;
  std::int64_t kv_groups() const { return num_heads / num_kv_heads; }
  /// Parameter count implied by the shapes (embeddings counted once when tied).
  std::int64_t parameter_count() const;
  /// Throws clrp::Error naming `source` and the offending key when the values
  /// are inconsistent (heads not dividing, non-positive sizes, ...).
  void validate() const;
};

/// Reads a Hugging Face `config.json`. Unknown `model_type` or unsupported
/// options are errors naming the key, never a silently different model.
ModelConfig read_hf_config(const std::string& path);

/// Reads the `<arch>.*` metadata of a GGUF file.
ModelConfig read_gguf_config(const io::GgufFile& gguf);

std::string to_string(NormKind k);
std::string to_string(Activation a);
std::string to_string(RopeScaling::Kind k);

}  // namespace clrp::model
