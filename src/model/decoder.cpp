#include "clrp/model/decoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <numbers>

#include "clrp/util/error.hpp"

namespace clrp::model {

namespace {

at::Tensor to_tensor(std::vector<float>&& values, const std::vector<std::int64_t>& shape) {
  at::Tensor t = at::empty(shape, at::kFloat);
  std::copy(values.begin(), values.end(), t.data_ptr<float>());
  return t;
}

at::Tensor load(const Checkpoint& ck, const std::string& name,
                const std::vector<std::int64_t>& shape) {
  return to_tensor(ck.read(name, shape), shape);
}

at::Tensor load_optional(const Checkpoint& ck, const std::string& name,
                         const std::vector<std::int64_t>& shape, bool expected) {
  if (!expected) return {};
  return load(ck, name, shape);
}

// Inverse rotary frequencies, computed with the same float32 operations as
// transformers' rope initialisers so that positions match bit for bit.
at::Tensor rotary_inv_freq(const ModelConfig& c) {
  const std::int64_t dim = c.rotary_dim();
  at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);
  const RopeScaling& rs = c.rope_scaling;
  if (rs.kind == RopeScaling::Kind::Linear) {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.kind == RopeScaling::Kind::Llama3) {
    const double old_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / rs.low_freq_factor;
    const double high_freq_wavelen = old_len / rs.high_freq_factor;
    at::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq);
    at::Tensor smooth =
        (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium =
        at::logical_not(wavelen < high_freq_wavelen) * at::logical_not(wavelen > low_freq_wavelen);
    inv_freq = at::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

at::Tensor activate(Activation a, const at::Tensor& x) {
  switch (a) {
    case Activation::SiLU:
      return at::silu(x);
    case Activation::GELU:
      return at::gelu(x);
    case Activation::GELUTanh:
      return at::gelu(x, "tanh");
  }
  return x;
}

at::Tensor concat_rows(std::initializer_list<at::Tensor> parts) {
  for (const auto& p : parts)
    if (!p.defined()) return {};
  return at::cat(std::vector<at::Tensor>(parts), 0).contiguous();
}

}  // namespace

DecoderModel::DecoderModel(const Checkpoint& ck, LayerRange range) : config_(ck.config()) {
  const ModelConfig& c = config_;
  begin_ = range.begin;
  end_ = range.end < 0 ? c.num_layers : range.end;
  if (begin_ < 0 || begin_ > end_ || end_ > c.num_layers)
    throw Error("layer range [" + std::to_string(begin_) + ", " + std::to_string(end_) +
                ") is outside the model's " + std::to_string(c.num_layers) + " layers");
  if (c.family != "llama")
    throw Error(Where{c.source, "model_type"},
                "architecture '" + c.family + "' is not implemented");

  const std::int64_t h = c.hidden_size, q = c.num_heads * c.head_dim,
                     kv = c.num_kv_heads * c.head_dim, inter = c.intermediate_size;
  const bool layer_norm = c.norm == NormKind::LayerNorm;
  if (has_embedding() || (has_head() && c.tie_word_embeddings))
    embed_weight_ = load(ck, "model.embed_tokens.weight", {c.vocab_size, h});
  if (has_head()) {
    final_norm_weight_ = load(ck, "model.norm.weight", {h});
    final_norm_bias_ = load_optional(ck, "model.norm.bias", {h}, layer_norm);
    lm_head_weight_ =
        c.tie_word_embeddings ? embed_weight_ : load(ck, "lm_head.weight", {c.vocab_size, h});
  }
  blocks_.reserve(static_cast<std::size_t>(end_ - begin_));
  for (std::int64_t i = begin_; i < end_; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    BlockWeights w;
    w.attn_norm_weight = load(ck, p + "input_layernorm.weight", {h});
    w.attn_norm_bias = load_optional(ck, p + "input_layernorm.bias", {h}, layer_norm);
    w.qkv_weight = concat_rows({load(ck, p + "self_attn.q_proj.weight", {q, h}),
                                load(ck, p + "self_attn.k_proj.weight", {kv, h}),
                                load(ck, p + "self_attn.v_proj.weight", {kv, h})});
    if (c.attention_bias)
      w.qkv_bias = concat_rows({load(ck, p + "self_attn.q_proj.bias", {q}),
                                load(ck, p + "self_attn.k_proj.bias", {kv}),
                                load(ck, p + "self_attn.v_proj.bias", {kv})});
    w.out_weight = load(ck, p + "self_attn.o_proj.weight", {h, q});
    w.out_bias = load_optional(ck, p + "self_attn.o_proj.bias", {h}, c.attention_out_bias);
    w.mlp_norm_weight = load(ck, p + "post_attention_layernorm.weight", {h});
    w.mlp_norm_bias = load_optional(ck, p + "post_attention_layernorm.bias", {h}, layer_norm);
    if (c.gated_mlp) {
      w.gate_up_weight = concat_rows({load(ck, p + "mlp.gate_proj.weight", {inter, h}),
                                      load(ck, p + "mlp.up_proj.weight", {inter, h})});
      if (c.mlp_bias)
        w.gate_up_bias = concat_rows({load(ck, p + "mlp.gate_proj.bias", {inter}),
                                      load(ck, p + "mlp.up_proj.bias", {inter})});
    } else {
      w.gate_up_weight = load(ck, p + "mlp.up_proj.weight", {inter, h});
      w.gate_up_bias = load_optional(ck, p + "mlp.up_proj.bias", {inter}, c.mlp_bias);
    }
    w.down_weight = load(ck, p + "mlp.down_proj.weight", {h, inter});
    w.down_bias = load_optional(ck, p + "mlp.down_proj.bias", {h}, c.mlp_bias);
    blocks_.push_back(std::move(w));
  }
  inv_freq_ = rotary_inv_freq(c);
}

at::Tensor DecoderModel::embed(const at::Tensor& ids) const {
  if (!has_embedding()) throw Error("embed() called on a stage that does not start at layer 0");
  return at::embedding(embed_weight_, ids);
}

RotaryTables DecoderModel::rotary(const at::Tensor& positions) const {
  // freqs[t, i] = position[t] * inv_freq[i]; the table repeats it for both halves.
  at::Tensor freqs = at::outer(positions.to(at::kFloat), inv_freq_);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& rope) {
  const std::int64_t rd = rope.cos.size(-1);
  const std::int64_t hd = x.size(-1);
  at::Tensor xr = rd == hd ? x : x.narrow(-1, 0, rd);
  at::Tensor x1 = xr.narrow(-1, 0, rd / 2), x2 = xr.narrow(-1, rd / 2, rd / 2);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor out = xr * rope.cos + rotated * rope.sin;
  return rd == hd ? out : at::cat({out, x.narrow(-1, rd, hd - rd)}, -1);
}

at::Tensor DecoderModel::norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor* r) const {
  if (config_.norm == NormKind::LayerNorm) {
    if (r != nullptr)
      *r = at::rsqrt(x.var(-1, /*unbiased=*/false, /*keepdim=*/true) + config_.norm_eps);
    return at::layer_norm(x, {x.size(-1)}, weight, bias, config_.norm_eps);
  }
  at::Tensor factor = at::rsqrt(x.pow(2).mean(-1, true) + config_.norm_eps);
  if (r != nullptr) *r = factor;
  return weight * (x * factor);
}

at::Tensor DecoderModel::attention(const BlockWeights& w, const at::Tensor& x,
                                   const RotaryTables& rope, LayerTape* tape) const {
  const ModelConfig& c = config_;
  const std::int64_t b = x.size(0), t = x.size(1), hd = c.head_dim;
  at::Tensor qkv = at::linear(x, w.qkv_weight, w.qkv_bias);
  const std::int64_t nq = c.num_heads * hd, nkv = c.num_kv_heads * hd;
  at::Tensor q = qkv.narrow(-1, 0, nq).view({b, t, c.num_heads, hd}).transpose(1, 2);
  at::Tensor k = qkv.narrow(-1, nq, nkv).view({b, t, c.num_kv_heads, hd}).transpose(1, 2);
  at::Tensor v = qkv.narrow(-1, nq + nkv, nkv).view({b, t, c.num_kv_heads, hd}).transpose(1, 2);
  q = apply_rotary(q, rope);
  k = apply_rotary(k, rope);
  at::Tensor o =
      at::scaled_dot_product_attention(q, k, v.contiguous(), /*attn_mask=*/{}, /*dropout_p=*/0.0,
                                       /*is_causal=*/true, /*scale=*/std::nullopt,
                                       /*enable_gqa=*/c.num_heads != c.num_kv_heads);
  o = o.transpose(1, 2).reshape({b, t, nq});
  if (tape != nullptr) {
    tape->q = q;
    tape->k = k;
    tape->v = v;
    tape->attn_heads = o;
  }
  return at::linear(o, w.out_weight, w.out_bias);
}

at::Tensor DecoderModel::mlp(const BlockWeights& w, const at::Tensor& x, LayerTape* tape) const {
  const ModelConfig& c = config_;
  at::Tensor gu = at::linear(x, w.gate_up_weight, w.gate_up_bias);
  at::Tensor inner, act;
  if (c.gated_mlp) {
    const std::int64_t i = c.intermediate_size;
    act = activate(c.activation, gu.narrow(-1, 0, i));
    inner = act * gu.narrow(-1, i, i);
  } else {
    act = inner = activate(c.activation, gu);
  }
  if (tape != nullptr) {
    tape->mlp_pre = gu;
    tape->mlp_act = act;
    tape->mlp_inner = inner;
  }
  return at::linear(inner, w.down_weight, w.down_bias);
}

at::Tensor DecoderModel::run_layer(std::int64_t layer, const at::Tensor& hidden,
                                   const RotaryTables& rope, LayerTape* tape) const {
  const BlockWeights& w = block(layer);
  at::Tensor r1, r2;
  const at::Tensor normed =
      norm(hidden, w.attn_norm_weight, w.attn_norm_bias, tape ? &r1 : nullptr);
  const at::Tensor h = hidden + attention(w, normed, rope, tape);
  const at::Tensor out =
      h + mlp(w, norm(h, w.mlp_norm_weight, w.mlp_norm_bias, tape ? &r2 : nullptr), tape);
  if (tape != nullptr) {
    tape->input = hidden;
    tape->attn_norm_r = r1;
    tape->mid = h;
    tape->mlp_norm_r = r2;
  }
  return out;
}

at::Tensor DecoderModel::run_layers(at::Tensor hidden, const at::Tensor& positions) const {
  const RotaryTables rope = rotary(positions);
  for (std::int64_t i = begin_; i < end_; ++i)
    hidden = run_layer(i, hidden, rope);
  return hidden;
}

at::Tensor DecoderModel::unembed(const at::Tensor& hidden) const {
  if (!has_head()) throw Error("unembed() called on a stage that does not end at the last layer");
  return at::linear(norm(hidden, final_norm_weight_, final_norm_bias_), lm_head_weight_);
}

at::Tensor DecoderModel::forward(const at::Tensor& ids) const {
  c10::InferenceMode inference_mode;
  const at::Tensor positions = at::arange(ids.size(-1), at::kLong);
  at::Tensor h = has_embedding() ? embed(ids) : ids;
  h = run_layers(h, positions);
  return has_head() ? unembed(h) : h;
}

}  // namespace clrp::model
