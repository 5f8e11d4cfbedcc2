#include "clrp/model/decoder.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "clrp/util/error.hpp"
#include "decode_attention.hpp"
#include "skinny_linear.hpp"
#include "weight_loader.hpp"

namespace clrp::model {

namespace {

// Inverse rotary frequencies for base `theta` after `scaling`, computed with the
// same float32 operations as transformers' rope initialisers so that positions
// match bit for bit.
at::Tensor rotary_inv_freq(std::int64_t dim, double theta, const RopeScaling& rs) {
  at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(theta, exponent);
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

bool any_local_rope(const ModelConfig& c) {
  for (auto r : c.layer_rope)
    if (r == LayerRope::Local) return true;
  return false;
}

// Moves a CPU float32 weight to the compute device and dtype (undefined stays undefined).
at::Tensor place(const at::Tensor& t, const ComputeOptions& o) {
  return t.defined() ? t.to(o.device, o.dtype).contiguous() : t;
}

void place_block(BlockWeights& w, const ComputeOptions& o) {
  for (at::Tensor* t :
       {&w.attn_norm_weight, &w.attn_norm_bias, &w.attn_post_norm_weight, &w.q_norm_weight,
        &w.k_norm_weight, &w.qkv_weight, &w.qkv_bias, &w.out_weight, &w.out_bias,
        &w.mlp_norm_weight, &w.mlp_norm_bias, &w.mlp_post_norm_weight, &w.gate_up_weight,
        &w.gate_up_bias, &w.down_weight, &w.down_bias})
    *t = place(*t, o);
}

}  // namespace

DecoderModel::DecoderModel(const Checkpoint& ck, LayerRange range, ComputeOptions compute)
    : config_(ck.config()), compute_(compute) {
  const ModelConfig& c = config_;
  begin_ = range.begin;
  end_ = range.end < 0 ? c.num_layers : range.end;
  if (begin_ < 0 || begin_ > end_ || end_ > c.num_layers)
    throw Error("layer range [" + std::to_string(begin_) + ", " + std::to_string(end_) +
                ") is outside the model's " + std::to_string(c.num_layers) + " layers");
  if (compute_.dtype != at::kFloat && compute_.dtype != at::kBFloat16)
    throw Error("compute dtype must be float32 or bfloat16");

  stem_ = detail::load_stem(ck, has_embedding(), has_head());
  for (at::Tensor* t :
       {&stem_.embed, &stem_.position_embed, &stem_.final_norm_weight, &stem_.final_norm_bias})
    *t = place(*t, compute_);
  // A tied head shares the (placed) embedding rather than holding a second copy.
  stem_.lm_head =
      c.tie_word_embeddings && stem_.embed.defined() ? stem_.embed : place(stem_.lm_head, compute_);
  blocks_.reserve(static_cast<std::size_t>(end_ - begin_));
  for (std::int64_t i = begin_; i < end_; ++i) {
    blocks_.push_back(detail::load_block(ck, i));
    place_block(blocks_.back(), compute_);
  }
  if (c.positions == PositionKind::Rotary) {
    inv_freq_ = rotary_inv_freq(c.rotary_dim(), c.rope_theta, c.rope_scaling);
    if (any_local_rope(c))
      local_inv_freq_ = rotary_inv_freq(c.rotary_dim(), c.local_rope_theta, {});
  }
}

at::TensorOptions DecoderModel::options() const {
  return at::TensorOptions().dtype(compute_.dtype).device(compute_.device);
}

at::Tensor DecoderModel::embed_tokens(const at::Tensor& ids) const {
  if (!has_embedding()) throw Error("embed() called on a stage that does not start at layer 0");
  at::Tensor e = at::embedding(stem_.embed, ids.to(compute_.device));
  if (config_.embedding_scale != 1.0) {
    // transformers keeps the scale as a float32 scalar cast to the weights' dtype.
    const at::Tensor scale =
        at::scalar_tensor(config_.embedding_scale, at::kFloat).to(compute_.dtype);
    e = e * scale.to(compute_.device);
  }
  return e;
}

at::Tensor packed_positions(const Packing& packing, std::int64_t tokens) {
  if (packing.size() <= 1) {
    if (!packing.empty() && packing[0] != tokens)
      throw Error("a packing of " + std::to_string(packing[0]) + " tokens over " +
                  std::to_string(tokens));
    return at::arange(tokens, at::kLong);
  }
  std::vector<at::Tensor> parts;
  std::int64_t total = 0;
  for (const std::int64_t n : packing) {
    if (n <= 0) throw Error("a packed sequence of " + std::to_string(n) + " tokens");
    parts.push_back(at::arange(n, at::kLong));
    total += n;
  }
  if (total != tokens)
    throw Error("a packing of " + std::to_string(total) + " tokens over " + std::to_string(tokens));
  return at::cat(parts);
}

std::vector<Packing> pack_in_order(const std::vector<std::int64_t>& lengths,
                                   std::int64_t max_tokens) {
  std::vector<Packing> packs;
  std::int64_t used = 0;
  for (const std::int64_t n : lengths) {
    if (packs.empty() || used + n > max_tokens) {
      packs.emplace_back();
      used = 0;
    }
    packs.back().push_back(n);
    used += n;
  }
  return packs;
}

at::Tensor DecoderModel::embed(const at::Tensor& ids, const Packing& packing,
                               const at::Tensor& zeroed) const {
  at::Tensor e = embed_tokens(ids);
  if (zeroed.defined()) e = e.masked_fill(zeroed.to(compute_.device).view({1, -1, 1}), 0);
  if (config_.positions == PositionKind::Learned) {
    const std::int64_t t = ids.size(-1);
    const std::int64_t longest =
        packing.size() > 1 ? *std::max_element(packing.begin(), packing.end()) : t;
    if (longest > config_.max_position_embeddings)
      throw Error(std::to_string(longest) + " tokens exceed the model's " +
                  std::to_string(config_.max_position_embeddings) + " learned positions");
    e = e + (packing.size() > 1 ? stem_.position_embed.index_select(
                                      0, packed_positions(packing, t).to(compute_.device))
                                : stem_.position_embed.narrow(0, 0, t));
  }
  return e;
}

RotaryTables DecoderModel::rotary(const at::Tensor& positions) const {
  RotaryTables tables;
  if (config_.positions != PositionKind::Rotary) return tables;
  // freqs[t, i] = position[t] * inv_freq[i] in float32 (as transformers), the
  // table repeating it for both halves, then cast to the compute dtype.
  auto make = [&](const at::Tensor& inv_freq, at::Tensor& cos, at::Tensor& sin) {
    at::Tensor freqs = at::outer(positions.to(at::kCPU).to(at::kFloat), inv_freq);
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    cos = emb.cos().to(compute_.device, compute_.dtype);
    sin = emb.sin().to(compute_.device, compute_.dtype);
  };
  make(inv_freq_, tables.cos, tables.sin);
  if (local_inv_freq_.defined()) make(local_inv_freq_, tables.local_cos, tables.local_sin);
  return tables;
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t rd = cos.size(-1);
  const std::int64_t hd = x.size(-1);
  at::Tensor xr = rd == hd ? x : x.narrow(-1, 0, rd);
  at::Tensor x1 = xr.narrow(-1, 0, rd / 2), x2 = xr.narrow(-1, rd / 2, rd / 2);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor out = xr * cos + rotated * sin;
  return rd == hd ? out : at::cat({out, x.narrow(-1, rd, hd - rd)}, -1);
}

at::Tensor DecoderModel::rms_norm(const at::Tensor& x, const at::Tensor& weight,
                                  at::Tensor* r) const {
  // In float32 whatever the compute dtype, as transformers' RMSNorms do.
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor factor = at::rsqrt(xf.pow(2).mean(-1, true) + config_.norm_eps);
  if (r != nullptr) *r = factor.to(x.scalar_type());
  if (x.scalar_type() == at::kFloat) return weight * (xf * factor);
  return (xf * factor * weight.to(at::kFloat)).to(x.scalar_type());
}

at::Tensor DecoderModel::norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor* r) const {
  if (config_.norm == NormKind::LayerNorm) {
    if (r != nullptr)
      *r = at::rsqrt(x.to(at::kFloat).var(-1, /*unbiased=*/false, /*keepdim=*/true) +
                     config_.norm_eps)
               .to(x.scalar_type());
    return at::layer_norm(x, {x.size(-1)}, weight, bias, config_.norm_eps);
  }
  return rms_norm(x, weight, r);
}

at::Tensor DecoderModel::attention_mask(std::int64_t layer, std::int64_t tokens) const {
  const std::int64_t window = config_.window(layer);
  if (window <= 0 || window >= tokens) return {};
  // Key j is visible from query i when i - window < j <= i (transformers' sliding mask).
  const at::Tensor i =
      at::arange(tokens, at::TensorOptions().dtype(at::kLong).device(compute_.device));
  const at::Tensor d = i.unsqueeze(1) - i.unsqueeze(0);  // i - j
  return d.ge(0).logical_and(d.lt(window));
}

at::Tensor DecoderModel::attention(const BlockWeights& w, std::int64_t layer, const at::Tensor& x,
                                   const RotaryTables& rope, LayerTape* tape, Caches caches) const {
  KvCache* cache = caches.shared;
  const ModelConfig& c = config_;
  const std::int64_t b = x.size(0), t = x.size(1), hd = c.head_dim;
  const std::int64_t nq = c.num_heads * hd, nkv = c.num_kv_heads * hd;
  at::Tensor qkv = detail::linear(x, w.qkv_weight, w.qkv_bias);
  at::Tensor q = qkv.narrow(-1, 0, nq), k = qkv.narrow(-1, nq, nkv);
  at::Tensor v = qkv.narrow(-1, nq + nkv, nkv).view({b, t, c.num_kv_heads, hd}).transpose(1, 2);
  at::Tensor q_raw, k_raw, q_r, k_r;
  if (c.qk_norm == QKNorm::Full) {  // over the whole projection, before splitting heads
    q_raw = q, k_raw = k;
    q = rms_norm(q, w.q_norm_weight, &q_r);
    k = rms_norm(k, w.k_norm_weight, &k_r);
  }
  q = q.reshape({b, t, c.num_heads, hd}).transpose(1, 2);
  k = k.reshape({b, t, c.num_kv_heads, hd}).transpose(1, 2);
  if (c.qk_norm == QKNorm::PerHead) {  // per head, over head_dim
    q_raw = q, k_raw = k;
    q = rms_norm(q, w.q_norm_weight, &q_r);
    k = rms_norm(k, w.k_norm_weight, &k_r);
  }
  if (c.positions == PositionKind::Rotary) {
    const LayerRope which = c.rope_of(layer);
    at::Tensor cos = rope.cos_for(which), sin = rope.sin_for(which);
    if (caches.rows != nullptr) {  // a position per row: [rows, rd] over [rows, heads, 1, hd]
      cos = cos.view({b, 1, 1, -1});
      sin = sin.view({b, 1, 1, -1});
    }
    q = apply_rotary(q, cos, sin);
    k = apply_rotary(k, cos, sin);
  }
  if (caches.rows != nullptr)
    return detail::linear(
        attention_rows(layer, q, k, v, *caches.rows).transpose(1, 2).reshape({b, t, nq}),
        w.out_weight, w.out_bias);
  // With a cache the queries sit at positions [start, start + t) and read every
  // earlier key; without one this is the plain causal path, unchanged, or one
  // causal attention per packed sequence.
  at::Tensor o;
  if (cache != nullptr) {
    const std::int64_t start = cache->length;
    const auto slot = static_cast<std::size_t>(layer - begin_);
    cache->write(slot, k, v);
    k = cache->keys[slot];
    v = cache->values[slot];
    const at::Tensor mask = cached_attention_mask(layer, start, t);
    o = at::scaled_dot_product_attention(
        q, k, v.contiguous(), mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
        /*dropout_p=*/0.0, /*is_causal=*/start == 0 && !mask.defined(),
        /*scale=*/c.attention_scale_or_default(), /*enable_gqa=*/c.num_heads != c.num_kv_heads);
  } else if (caches.packing != nullptr) {
    std::vector<at::Tensor> parts;
    std::int64_t start = 0;
    for (const std::int64_t n : *caches.packing) {
      parts.push_back(self_attention(layer, q.narrow(2, start, n), k.narrow(2, start, n),
                                     v.narrow(2, start, n)));
      start += n;
    }
    o = at::cat(parts, 2);
  } else {
    o = self_attention(layer, q, k, v);
  }
  o = o.transpose(1, 2).reshape({b, t, nq});
  if (tape != nullptr) {
    tape->q_raw = q_raw, tape->k_raw = k_raw, tape->q_norm_r = q_r, tape->k_norm_r = k_r;
    tape->q = q;
    tape->k = k;
    tape->v = v;
    tape->attn_heads = o;
  }
  return detail::linear(o, w.out_weight, w.out_bias);
}

at::Tensor DecoderModel::self_attention(std::int64_t layer, const at::Tensor& q,
                                        const at::Tensor& k, const at::Tensor& v) const {
  const at::Tensor mask = attention_mask(layer, q.size(2));
  return at::scaled_dot_product_attention(
      q, k, v.contiguous(), mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt,
      /*dropout_p=*/0.0, /*is_causal=*/!mask.defined(),
      /*scale=*/config_.attention_scale_or_default(),
      /*enable_gqa=*/config_.num_heads != config_.num_kv_heads);
}

at::Tensor DecoderModel::attention_rows(std::int64_t layer, const at::Tensor& q,
                                        const at::Tensor& k, const at::Tensor& v,
                                        const std::vector<KvCache*>& rows) const {
  const ModelConfig& c = config_;
  const auto slot = static_cast<std::size_t>(layer - begin_);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<std::int64_t>(i);
    rows[i]->write(slot, k.narrow(0, r, 1), v.narrow(0, r, 1));
  }
  // Row i's query (at position length, its keys now one longer) sees them
  // all, but for a sliding window.
  const std::int64_t window = c.window(layer);
  std::vector<at::Tensor> keys, values;
  std::vector<std::int64_t> first;
  for (const KvCache* cache : rows) {
    keys.push_back(cache->keys[slot]);
    values.push_back(cache->values[slot]);
    first.push_back(window > 0 ? std::max<std::int64_t>(0, cache->length + 1 - window) : 0);
  }
  if (detail::decode_attention_applies(q, keys, values))
    return detail::decode_attention(q, keys, values, first, c.attention_scale_or_default());
  // Elsewhere (GPU, half precision) one SDPA per row. The query heads that
  // share a key head (consecutive ones, as transformers' repeat_kv) attend as
  // that head's queries, [1, kv_heads, group, hd]: keys are read once per row.
  const std::int64_t group = c.num_heads / c.num_kv_heads, hd = q.size(3);
  std::vector<at::Tensor> out;
  out.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const at::Tensor mask = cached_attention_mask(layer, rows[i]->length, 1);
    out.push_back(at::scaled_dot_product_attention(
        q.narrow(0, static_cast<std::int64_t>(i), 1).reshape({1, c.num_kv_heads, group, hd}),
        keys[i], values[i], mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt, 0.0,
        false, c.attention_scale_or_default()));
  }
  return at::cat(out, 0).view({static_cast<std::int64_t>(rows.size()), c.num_heads, 1, hd});
}

at::Tensor DecoderModel::mlp(const BlockWeights& w, const at::Tensor& x, LayerTape* tape) const {
  const ModelConfig& c = config_;
  at::Tensor gu = detail::linear(x, w.gate_up_weight, w.gate_up_bias);
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
  return detail::linear(inner, w.down_weight, w.down_bias);
}

at::Tensor zero_states(const at::Tensor& h, std::span<const ZeroedState> states, StatePoint point,
                       std::int64_t layer) {
  std::vector<std::int64_t> rows;
  for (const ZeroedState& s : states)
    if (s.point == point && s.layer == layer) {
      if (s.row < 0 || s.row >= h.size(1))
        throw Error("a zeroed state at token row " + std::to_string(s.row) + " of a forward over " +
                    std::to_string(h.size(1)) + " tokens");
      rows.push_back(s.row);
    }
  if (rows.empty()) return h;
  return h.index_fill(1, at::tensor(rows, at::kLong).to(h.device()), 0);
}

at::Tensor DecoderModel::run_layer(std::int64_t layer, const at::Tensor& hidden,
                                   const RotaryTables& rope, LayerTape* tape,
                                   const Packing& packing,
                                   std::span<const ZeroedState> zeroed) const {
  for (const ZeroedState& s : zeroed)
    if (s.point == StatePoint::Mid)
      throw Error("mid states are not zeroed (layer " + std::to_string(s.layer) +
                  "): with RMSNorm and a bias-free MLP that is the layer output zeroed");
  const at::Tensor out = run_layer_impl(layer, hidden, rope, tape,
                                        {.packing = packing.size() > 1 ? &packing : nullptr});
  return zero_states(out, zeroed, StatePoint::Out, layer);
}

at::Tensor DecoderModel::run_layer_impl(std::int64_t layer, const at::Tensor& hidden,
                                        const RotaryTables& rope, LayerTape* tape,
                                        Caches caches) const {
  const ModelConfig& c = config_;
  const BlockWeights& w = block(layer);
  const bool keep = tape != nullptr;
  at::Tensor r_attn, r_attn_post, r_mlp, r_mlp_post;

  const at::Tensor attn_in =
      c.attn_pre_norm ? norm(hidden, w.attn_norm_weight, w.attn_norm_bias, keep ? &r_attn : nullptr)
                      : hidden;
  at::Tensor attn = attention(w, layer, attn_in, rope, tape, caches);
  const at::Tensor attn_raw = attn;
  if (c.attn_post_norm)
    attn = rms_norm(attn, w.attn_post_norm_weight, keep ? &r_attn_post : nullptr);

  at::Tensor mid, out, mlp_raw;
  if (c.residual == ResidualLayout::Parallel) {
    // GPT-NeoX: both branches read the layer input; transformers adds mlp + attn first.
    const at::Tensor mlp_in =
        c.mlp_pre_norm ? norm(hidden, w.mlp_norm_weight, w.mlp_norm_bias, keep ? &r_mlp : nullptr)
                       : hidden;
    mlp_raw = mlp(w, mlp_in, tape);
    out = mlp_raw + attn + hidden;
  } else {
    mid = hidden + attn;
    const at::Tensor mlp_in =
        c.mlp_pre_norm ? norm(mid, w.mlp_norm_weight, w.mlp_norm_bias, keep ? &r_mlp : nullptr)
                       : mid;
    at::Tensor m = mlp_raw = mlp(w, mlp_in, tape);
    if (c.mlp_post_norm) m = rms_norm(m, w.mlp_post_norm_weight, keep ? &r_mlp_post : nullptr);
    out = mid + m;
  }
  if (keep) {
    if (caches.packing != nullptr) tape->packing = *caches.packing;
    tape->input = hidden;
    tape->attn_norm_r = r_attn;
    tape->mid = mid;
    tape->mlp_norm_r = r_mlp;
    if (c.attn_post_norm) tape->attn_out = attn_raw, tape->attn_post_r = r_attn_post;
    if (c.mlp_post_norm) tape->mlp_out = mlp_raw, tape->mlp_post_r = r_mlp_post;
  }
  return out;
}

at::Tensor DecoderModel::run_layers(at::Tensor hidden, const at::Tensor& positions,
                                    const Packing& packing,
                                    std::span<const ZeroedState> zeroed) const {
  const RotaryTables rope = rotary(positions);
  for (std::int64_t i = begin_; i < end_; ++i)
    hidden = run_layer(i, hidden, rope, nullptr, packing, zeroed);
  return hidden;
}

at::Tensor DecoderModel::unembed(const at::Tensor& hidden) const {
  if (!has_head()) throw Error("unembed() called on a stage that does not end at the last layer");
  return detail::linear(norm(hidden, stem_.final_norm_weight, stem_.final_norm_bias),
                        stem_.lm_head);
}

at::Tensor DecoderModel::forward(const at::Tensor& ids) const {
  c10::InferenceMode inference_mode;
  const at::Tensor positions = at::arange(ids.size(-1), at::kLong);
  at::Tensor h = has_embedding() ? embed(ids) : ids.to(compute_.device, compute_.dtype);
  h = run_layers(h, positions);
  return has_head() ? unembed(h) : h;
}

}  // namespace clrp::model
