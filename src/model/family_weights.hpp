// How each family's checkpoints name and store their weights: one row per
// model::Family, read by the checkpoint (GGUF names) and the weight loader
// (Hugging Face names, per-family layouts). Internal to the model module.
#pragma once

#include "clrp/model/config.hpp"

namespace clrp::model::detail {

/// The Hugging Face tensor naming a family's checkpoints follow.
enum class Naming {
  Llama,    ///< "model.layers.N.self_attn.q_proj.weight", separate q/k/v and gate/up
  GptNeox,  ///< "gpt_neox.layers.N.attention.query_key_value.weight", q/k/v fused per head
  Gpt2,     ///< "h.N.attn.c_attn.weight", Conv1D ([in, out]) matrices
};

struct FamilyWeights {
  Family family;
  Naming naming;
  /// GGUF files of the family hold q/k rows in the order llama.cpp's converter
  /// permutes them to for ggml's interleaved rotary; the checkpoint undoes it.
  bool gguf_rotary_permuted;
  /// The family normalises the attention output: in GGUF its
  /// post_attention_layernorm is "post_attention_norm" and the norm before
  /// the MLP (pre_feedforward_layernorm) is "ffn_norm"; otherwise
  /// post_attention_layernorm is the norm before the MLP, "ffn_norm".
  bool gguf_attention_post_norm;
};

/// The row of `family`.
const FamilyWeights& family_weights(Family family);

}  // namespace clrp::model::detail
