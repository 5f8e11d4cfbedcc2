#include "weight_loader.hpp"

#include <ATen/ATen.h>

#include "clrp/util/error.hpp"
#include "family_weights.hpp"

namespace clrp::model::detail {

namespace {

using Shape = std::vector<std::int64_t>;

at::Tensor load(const Checkpoint& ck, const std::string& name, const Shape& shape) {
  std::vector<float> values = ck.read(name, shape);
  at::Tensor t = at::empty(shape, at::kFloat);
  std::copy(values.begin(), values.end(), t.data_ptr<float>());
  return t;
}

at::Tensor load_if(bool present, const Checkpoint& ck, const std::string& name,
                   const Shape& shape) {
  return present ? load(ck, name, shape) : at::Tensor();
}

// An RMSNorm weight; Gemma's stored w stands for (1 + w), which is folded in here
// in float32, the same addition transformers' Gemma3RMSNorm does per call.
at::Tensor norm_weight(const Checkpoint& ck, const std::string& name, const Shape& shape) {
  at::Tensor w = load(ck, name, shape);
  return ck.config().norm_weight_offset ? w + 1.0f : w;
}

at::Tensor concat_rows(std::initializer_list<at::Tensor> parts) {
  for (const auto& p : parts)
    if (!p.defined()) return {};
  return at::cat(std::vector<at::Tensor>(parts), 0).contiguous();
}

// A Conv1D matrix ([in, out], GPT-2) in Linear layout ([out, in]).
at::Tensor load_conv1d(const Checkpoint& ck, const std::string& name, std::int64_t in,
                       std::int64_t out) {
  return load(ck, name, {in, out}).t().contiguous();
}

Naming naming_of(const ModelConfig& c) {
  return family_weights(c.family).naming;
}

// GPT-2 checkpoints saved from GPT2LMHeadModel prefix their names with
// "transformer."; the original ones (GPT2Model) do not.
std::string gpt2_prefix(const Checkpoint& ck) {
  return ck.find("transformer.wte.weight") != nullptr ? "transformer." : "";
}

// Llama, Mistral, Qwen2/3, OLMo-2/3, Gemma-3: "model.layers.N.*" with separate
// projections. The norm before the MLP is `post_attention_layernorm` unless the
// family also normalises the attention output (Gemma-3), which then owns that name.
BlockWeights load_llama_block(const Checkpoint& ck, std::int64_t layer) {
  const ModelConfig& c = ck.config();
  const std::int64_t h = c.hidden_size, q = c.num_heads * c.head_dim,
                     kv = c.num_kv_heads * c.head_dim, inter = c.intermediate_size;
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  BlockWeights w;
  if (c.attn_pre_norm) w.attn_norm_weight = norm_weight(ck, p + "input_layernorm.weight", {h});
  if (c.attn_post_norm)
    w.attn_post_norm_weight = norm_weight(ck, p + "post_attention_layernorm.weight", {h});
  if (c.mlp_pre_norm)
    w.mlp_norm_weight = norm_weight(
        ck,
        p + (c.attn_post_norm ? "pre_feedforward_layernorm" : "post_attention_layernorm") +
            ".weight",
        {h});
  if (c.mlp_post_norm)
    w.mlp_post_norm_weight = norm_weight(ck, p + "post_feedforward_layernorm.weight", {h});
  if (c.qk_norm != QKNorm::None) {
    const bool per_head = c.qk_norm == QKNorm::PerHead;
    w.q_norm_weight = norm_weight(ck, p + "self_attn.q_norm.weight", {per_head ? c.head_dim : q});
    w.k_norm_weight = norm_weight(ck, p + "self_attn.k_norm.weight", {per_head ? c.head_dim : kv});
  }
  w.qkv_weight = concat_rows({load(ck, p + "self_attn.q_proj.weight", {q, h}),
                              load(ck, p + "self_attn.k_proj.weight", {kv, h}),
                              load(ck, p + "self_attn.v_proj.weight", {kv, h})});
  if (c.attention_bias)
    w.qkv_bias = concat_rows({load(ck, p + "self_attn.q_proj.bias", {q}),
                              load(ck, p + "self_attn.k_proj.bias", {kv}),
                              load(ck, p + "self_attn.v_proj.bias", {kv})});
  w.out_weight = load(ck, p + "self_attn.o_proj.weight", {h, q});
  w.out_bias = load_if(c.attention_out_bias, ck, p + "self_attn.o_proj.bias", {h});
  if (c.gated_mlp) {
    w.gate_up_weight = concat_rows({load(ck, p + "mlp.gate_proj.weight", {inter, h}),
                                    load(ck, p + "mlp.up_proj.weight", {inter, h})});
    if (c.mlp_bias)
      w.gate_up_bias = concat_rows(
          {load(ck, p + "mlp.gate_proj.bias", {inter}), load(ck, p + "mlp.up_proj.bias", {inter})});
  } else {
    w.gate_up_weight = load(ck, p + "mlp.up_proj.weight", {inter, h});
    w.gate_up_bias = load_if(c.mlp_bias, ck, p + "mlp.up_proj.bias", {inter});
  }
  w.down_weight = load(ck, p + "mlp.down_proj.weight", {h, inter});
  w.down_bias = load_if(c.mlp_bias, ck, p + "mlp.down_proj.bias", {h});
  return w;
}

// GPT-NeoX fuses q/k/v per head: rows [head 0: q k v, head 1: q k v, ...].
// Regrouped here to [all q; all k; all v].
at::Tensor regroup_neox_qkv(const at::Tensor& t, std::int64_t heads, std::int64_t head_dim) {
  const std::int64_t cols = t.dim() == 2 ? t.size(1) : 1;
  return t.reshape({heads, 3, head_dim, cols})
      .permute({1, 0, 2, 3})
      .reshape(t.dim() == 2 ? Shape{3 * heads * head_dim, cols} : Shape{3 * heads * head_dim})
      .contiguous();
}

BlockWeights load_neox_block(const Checkpoint& ck, std::int64_t layer) {
  const ModelConfig& c = ck.config();
  const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
  const std::string p = "gpt_neox.layers." + std::to_string(layer) + ".";
  BlockWeights w;
  w.attn_norm_weight = load(ck, p + "input_layernorm.weight", {h});
  w.attn_norm_bias = load(ck, p + "input_layernorm.bias", {h});
  w.mlp_norm_weight = load(ck, p + "post_attention_layernorm.weight", {h});
  w.mlp_norm_bias = load(ck, p + "post_attention_layernorm.bias", {h});
  w.qkv_weight = regroup_neox_qkv(load(ck, p + "attention.query_key_value.weight", {3 * h, h}),
                                  c.num_heads, c.head_dim);
  if (c.attention_bias)
    w.qkv_bias = regroup_neox_qkv(load(ck, p + "attention.query_key_value.bias", {3 * h}),
                                  c.num_heads, c.head_dim);
  w.out_weight = load(ck, p + "attention.dense.weight", {h, h});
  w.out_bias = load_if(c.attention_out_bias, ck, p + "attention.dense.bias", {h});
  w.gate_up_weight = load(ck, p + "mlp.dense_h_to_4h.weight", {inter, h});
  w.gate_up_bias = load(ck, p + "mlp.dense_h_to_4h.bias", {inter});
  w.down_weight = load(ck, p + "mlp.dense_4h_to_h.weight", {h, inter});
  w.down_bias = load(ck, p + "mlp.dense_4h_to_h.bias", {h});
  return w;
}

BlockWeights load_gpt2_block(const Checkpoint& ck, std::int64_t layer) {
  const ModelConfig& c = ck.config();
  const std::int64_t h = c.hidden_size, inter = c.intermediate_size;
  const std::string p = gpt2_prefix(ck) + "h." + std::to_string(layer) + ".";
  BlockWeights w;
  w.attn_norm_weight = load(ck, p + "ln_1.weight", {h});
  w.attn_norm_bias = load(ck, p + "ln_1.bias", {h});
  w.mlp_norm_weight = load(ck, p + "ln_2.weight", {h});
  w.mlp_norm_bias = load(ck, p + "ln_2.bias", {h});
  // c_attn's output splits into q, k, v of `hidden` features each: already grouped.
  w.qkv_weight = load_conv1d(ck, p + "attn.c_attn.weight", h, 3 * h);
  w.qkv_bias = load(ck, p + "attn.c_attn.bias", {3 * h});
  w.out_weight = load_conv1d(ck, p + "attn.c_proj.weight", h, h);
  w.out_bias = load(ck, p + "attn.c_proj.bias", {h});
  w.gate_up_weight = load_conv1d(ck, p + "mlp.c_fc.weight", h, inter);
  w.gate_up_bias = load(ck, p + "mlp.c_fc.bias", {inter});
  w.down_weight = load_conv1d(ck, p + "mlp.c_proj.weight", inter, h);
  w.down_bias = load(ck, p + "mlp.c_proj.bias", {h});
  return w;
}

}  // namespace

BlockWeights load_block(const Checkpoint& ck, std::int64_t layer) {
  switch (naming_of(ck.config())) {
    case Naming::GptNeox:
      return load_neox_block(ck, layer);
    case Naming::Gpt2:
      return load_gpt2_block(ck, layer);
    case Naming::Llama:
      break;
  }
  return load_llama_block(ck, layer);
}

StemWeights load_stem(const Checkpoint& ck, bool embedding, bool head) {
  const ModelConfig& c = ck.config();
  const std::int64_t h = c.hidden_size, v = c.vocab_size;
  std::string embed, final_norm, lm_head, positions;
  switch (naming_of(c)) {
    case Naming::Llama:
      embed = "model.embed_tokens.weight";
      final_norm = "model.norm";
      lm_head = "lm_head.weight";
      break;
    case Naming::GptNeox:
      embed = "gpt_neox.embed_in.weight";
      final_norm = "gpt_neox.final_layer_norm";
      lm_head = "embed_out.weight";
      break;
    case Naming::Gpt2: {
      const std::string p = gpt2_prefix(ck);
      embed = p + "wte.weight";
      positions = p + "wpe.weight";
      final_norm = p + "ln_f";
      lm_head = "lm_head.weight";
      break;
    }
  }
  StemWeights s;
  const bool tied = c.tie_word_embeddings;
  if (embedding || (head && tied)) s.embed = load(ck, embed, {v, h});
  if (embedding && c.positions == PositionKind::Learned)
    s.position_embed = load(ck, positions, {c.max_position_embeddings, h});
  if (head) {
    s.final_norm_weight = c.norm == NormKind::RMSNorm ? norm_weight(ck, final_norm + ".weight", {h})
                                                      : load(ck, final_norm + ".weight", {h});
    s.final_norm_bias = load_if(c.norm == NormKind::LayerNorm, ck, final_norm + ".bias", {h});
    s.lm_head = tied ? s.embed : load(ck, lm_head, {v, h});
  }
  if (!embedding) s.embed = at::Tensor();  // kept only as the tied head
  return s;
}

}  // namespace clrp::model::detail
