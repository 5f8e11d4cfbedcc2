#include "clrp/lrp/engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "clrp/util/error.hpp"

namespace clrp::lrp {

namespace {

using model::Activation;

// Plain derivative of the activation, for grad × input.
at::Tensor activation_grad(Activation a, const at::Tensor& g, const at::Tensor& x) {
  switch (a) {
    case Activation::SiLU: {
      const at::Tensor s = at::sigmoid(x);
      return g * s * (1 + x * (1 - s));
    }
    case Activation::GELU:
      return at::gelu_backward(g, x);
    case Activation::GELUTanh:
      return at::gelu_backward(g, x, "tanh");
  }
  return g;
}

// Relevance h ⊙ g summed over the hidden (last) axis: [B, T, H] -> [B, T].
at::Tensor relevance(const at::Tensor& h, const at::Tensor& g) {
  return (h * g).sum(-1);
}

}  // namespace

Seed Seed::contrastive(std::int64_t position, std::int64_t wrong, std::int64_t correct,
                       std::int64_t vocab) {
  if (wrong == correct)
    throw Error("the wrong and the correct token are the same (id " + std::to_string(wrong) + ")");
  for (auto id : {wrong, correct})
    if (id < 0 || id >= vocab)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
  Seed s{position, at::zeros({vocab}, at::kFloat)};
  s.weights[wrong] = 1.0f;
  s.weights[correct] = -1.0f;
  return s;
}

Seed Seed::single(std::int64_t position, std::int64_t token, std::int64_t vocab) {
  if (token < 0 || token >= vocab)
    throw Error("token id " + std::to_string(token) + " is outside the vocabulary");
  Seed s{position, at::zeros({vocab}, at::kFloat)};
  s.weights[token] = 1.0f;
  return s;
}

at::Tensor Engine::backward_mlp(const model::BlockWeights& w, const model::LayerTape& tape,
                                const at::Tensor& g_out, Rule rule) const {
  const model::ModelConfig& c = model_.config();
  const at::Tensor g_inner = at::matmul(g_out, w.down_weight);  // [B, T, I]
  at::Tensor g_pre;
  if (c.gated_mlp) {
    const std::int64_t i = c.intermediate_size;
    const at::Tensor gate = tape.mlp_pre.narrow(-1, 0, i), up = tape.mlp_pre.narrow(-1, i, i);
    const at::Tensor& act = tape.mlp_act;
    at::Tensor g_gate, g_up;
    switch (rule) {
      case Rule::GradXInput:
        g_up = g_inner * act;
        g_gate = activation_grad(c.activation, g_inner * up, gate);
        break;
      case Rule::AttnLRP:
        // Uniform rule on the product act(gate)·up: half of the gradient to each factor;
        // identity rule through the activation.
        g_up = 0.5 * g_inner * act;
        g_gate = identity_rule(0.5 * g_inner * up, gate, act);
        break;
      case Rule::CPLRP:
        // The gate is a constant: all relevance flows through `up`.
        g_up = g_inner * act;
        g_gate = at::zeros_like(g_up);
        break;
    }
    g_pre = at::cat({g_gate, g_up}, -1);
  } else {
    g_pre = rule == Rule::GradXInput ? activation_grad(c.activation, g_inner, tape.mlp_pre)
                                     : identity_rule(g_inner, tape.mlp_pre, tape.mlp_act);
  }
  const at::Tensor g_norm = at::matmul(g_pre, w.gate_up_weight);  // [B, T, H]
  return rmsnorm_backward(rule, g_norm, tape.mid, w.mlp_norm_weight, tape.mlp_norm_r);
}

at::Tensor Engine::backward_attention(const model::BlockWeights& w, const model::LayerTape& tape,
                                      const model::RotaryTables& rope, const at::Tensor& g_out,
                                      Rule rule, at::Tensor* g_heads) const {
  const model::ModelConfig& c = model_.config();
  const std::int64_t b = g_out.size(0), t = g_out.size(1), hd = c.head_dim, nh = c.num_heads,
                     nkv = c.num_kv_heads, groups = nh / nkv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  at::Tensor g_o = at::matmul(g_out, w.out_weight);  // [B, T, nh*hd]
  if (g_heads != nullptr) *g_heads = g_o;
  g_o = g_o.view({b, t, nh, hd}).transpose(1, 2);  // [B, nh, T, hd]

  // Recompute the attention probabilities from the taped q and k.
  const at::Tensor k = tape.k.repeat_interleave(groups, 1), v = tape.v.repeat_interleave(groups, 1);
  at::Tensor scores = at::matmul(tape.q, k.transpose(-1, -2)) * scale;  // [1, nh, T, T]
  const at::Tensor causal = at::ones({t, t}, at::kBool).triu(1);
  scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
  const at::Tensor p = at::softmax(scores, -1);

  // O = P·V: uniform rule halves the gradient to both factors (AttnLRP); under
  // CP-LRP P is a constant and V takes the whole gradient.
  const double pv_share = rule == Rule::AttnLRP ? 0.5 : 1.0;
  at::Tensor g_v = at::matmul(p.transpose(-1, -2), g_o) * pv_share;  // [B, nh, T, hd]
  at::Tensor g_q, g_k;
  if (rule == Rule::CPLRP) {
    g_q = at::zeros_like(g_v);
    g_k = at::zeros({b, nh, t, hd}, g_v.options());
  } else {
    const at::Tensor g_p = at::matmul(g_o, v.transpose(-1, -2)) * pv_share;  // [B, nh, T, T]
    const at::Tensor g_s = softmax_backward(g_p, p) * scale;
    // S = Q·Kᵀ: uniform rule again halves each factor's share (AttnLRP).
    const double qk_share = rule == Rule::AttnLRP ? 0.5 : 1.0;
    g_q = at::matmul(g_s, k) * qk_share;
    g_k = at::matmul(g_s.transpose(-1, -2), tape.q) * qk_share;
  }
  // Fold the query-head groups back onto their key/value heads.
  g_k = g_k.view({b, nkv, groups, t, hd}).sum(2);
  g_v = g_v.view({b, nkv, groups, t, hd}).sum(2);
  g_q = rotary_backward(g_q, rope.cos, rope.sin);
  g_k = rotary_backward(g_k, rope.cos, rope.sin);
  const at::Tensor g_qkv = at::cat(
      {g_q.transpose(1, 2).reshape({b, t, nh * hd}), g_k.transpose(1, 2).reshape({b, t, nkv * hd}),
       g_v.transpose(1, 2).reshape({b, t, nkv * hd})},
      -1);
  const at::Tensor g_norm = at::matmul(g_qkv, w.qkv_weight);
  return rmsnorm_backward(rule, g_norm, tape.input, w.attn_norm_weight, tape.attn_norm_r);
}

at::Tensor Engine::backward_layer(std::int64_t layer, const model::LayerTape& tape,
                                  const model::RotaryTables& rope, const at::Tensor& g_out,
                                  Rule rule, at::Tensor* g_mid, at::Tensor* g_heads) const {
  const model::BlockWeights& w = model_.block(layer);
  // Residual additions pass the gradient unchanged to both branches.
  const at::Tensor gm = g_out + backward_mlp(w, tape, g_out, rule);
  if (g_mid != nullptr) *g_mid = gm;
  return gm + backward_attention(w, tape, rope, gm, rule, g_heads);
}

Explanation Engine::explain(const at::Tensor& ids, const std::vector<Seed>& seeds, Rule rule,
                            const RecordOptions& record) const {
  if (!model_.has_embedding() || !model_.has_head())
    throw Error("explain() needs the whole model; stages use backward_layer()");
  if (seeds.empty()) throw Error("no seeds to explain");
  const model::ModelConfig& c = model_.config();
  if (c.norm != model::NormKind::RMSNorm) throw Error("LayerNorm relevance is not implemented yet");
  c10::InferenceMode inference_mode;
  const std::int64_t t = ids.size(0), layers = c.num_layers,
                     b = static_cast<std::int64_t>(seeds.size());
  for (const auto& s : seeds)
    if (s.position < 0 || s.position >= t)
      throw Error("seed position " + std::to_string(s.position) + " is outside the " +
                  std::to_string(t) + " tokens");

  // Forward, keeping one tape per layer.
  const at::Tensor positions = at::arange(t, at::kLong);
  const model::RotaryTables rope = model_.rotary(positions);
  std::vector<model::LayerTape> tapes(static_cast<std::size_t>(layers));
  at::Tensor h = model_.embed(ids.unsqueeze(0));
  const at::Tensor embedded = h;
  for (std::int64_t i = 0; i < layers; ++i)
    h = model_.run_layer(i, h, rope, &tapes[static_cast<std::size_t>(i)]);
  if (!at::isfinite(h).all().item<bool>())
    throw Error("non-finite values (NaN/Inf) in the model's activations");

  // Seeds: g at the final hidden state, non-zero only at each seed's position.
  at::Tensor final_r;
  const at::Tensor normed = model_.norm(h, model_.final_norm_weight(), {}, &final_r);
  Explanation out;
  out.logits = at::empty({b, c.vocab_size}, at::kFloat);
  at::Tensor g = at::zeros({b, t, c.hidden_size}, at::kFloat);
  for (std::int64_t s = 0; s < b; ++s) {
    const Seed& seed = seeds[static_cast<std::size_t>(s)];
    const std::int64_t p = seed.position;
    out.logits[s] = at::matmul(model_.lm_head_weight(), normed[0][p]);
    const at::Tensor g_normed = at::matmul(seed.weights, model_.lm_head_weight());  // [H]
    g[s][p] = rmsnorm_backward(rule, g_normed, h[0][p], model_.final_norm_weight(), final_r[0][p]);
  }
  std::vector<at::Tensor> seed_weights;
  for (const auto& s : seeds)
    seed_weights.push_back(s.weights);
  out.target = (at::stack(seed_weights) * out.logits).sum(-1);

  if (record.residual) {
    out.mid_relevance = at::empty({b, layers, t}, at::kFloat);
    out.layer_relevance = at::empty({b, layers, t}, at::kFloat);
  }
  if (record.heads) out.head_relevance = at::empty({b, layers, c.num_heads}, at::kFloat);
  for (std::int64_t i = layers - 1; i >= 0; --i) {
    const model::LayerTape& tape = tapes[static_cast<std::size_t>(i)];
    if (record.residual)
      out.layer_relevance.select(1, i).copy_(relevance(i + 1 < layers ? tapes[i + 1].input : h, g));
    at::Tensor g_mid, g_heads;
    g = backward_layer(i, tape, rope, g, rule, record.residual ? &g_mid : nullptr,
                       record.heads ? &g_heads : nullptr);
    if (record.residual) out.mid_relevance.select(1, i).copy_(relevance(tape.mid, g_mid));
    if (record.heads) {
      const at::Tensor per_head =
          (tape.attn_heads * g_heads).view({b, t, c.num_heads, c.head_dim}).sum({1, 3});
      out.head_relevance.select(1, i).copy_(per_head);
    }
  }
  out.token_relevance = relevance(embedded, g);
  return out;
}

}  // namespace clrp::lrp
