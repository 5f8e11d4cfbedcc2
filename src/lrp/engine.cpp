#include "clrp/lrp/engine.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "attention_backward.hpp"
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
    // ATen's GELU backward (oneDNN) does not broadcast a batch of seeds over
    // the one forward activation: give it the full shape.
    case Activation::GELU:
      return at::gelu_backward(g, x.expand_as(g).contiguous());
    case Activation::GELUTanh:
      return at::gelu_backward(g, x.expand_as(g).contiguous(), "tanh");
  }
  return g;
}

}  // namespace

at::Tensor relevance(const at::Tensor& h, const at::Tensor& g) {
  // In float32 whatever the compute dtype: a bfloat16 sum over thousands of
  // features loses digits.
  return (h.to(at::kFloat) * g.to(at::kFloat)).sum(-1);
}

double conservation_error(double total, double target) {
  return target != 0 ? (total - target) / std::abs(target) : total;
}

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

namespace {
// Relevance a bias absorbs at each token: Σ b ⊙ g over features -> [B, T] float32.
at::Tensor bias_relevance(const at::Tensor& bias, const at::Tensor& g) {
  return (g * bias).to(at::kFloat).sum(2);
}

void absorb(LayerGradients* extra, const at::Tensor& bias, const at::Tensor& g) {
  if (extra == nullptr || !bias.defined()) return;
  extra->bias_absorbed = extra->bias_absorbed + bias_relevance(bias, g);
}

// The additive mask of a sliding-window layer's attention logits: 0 where key j
// is visible from query i, −inf elsewhere. Undefined for plain causal layers.
at::Tensor additive_mask(const model::DecoderModel& m, std::int64_t layer, std::int64_t t) {
  const at::Tensor allowed = m.attention_mask(layer, t);
  if (!allowed.defined()) return {};
  return at::zeros({t, t}, m.options())
      .masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
}

// The plain attention gradients of a layer (q [1, heads, T, hd]), inside
// each sequence of a packing.
detail::AttentionGradients attention_gradients(const model::DecoderModel& m, std::int64_t layer,
                                               const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& g_o,
                                               const model::Packing& packing, double scale) {
  if (packing.size() <= 1)
    return detail::attention_backward(q, k, v, g_o, additive_mask(m, layer, q.size(2)), scale);
  std::vector<at::Tensor> g_q, g_k, g_v;
  std::int64_t start = 0;
  for (const std::int64_t n : packing) {
    const auto part = [&](const at::Tensor& x) { return x.narrow(2, start, n).contiguous(); };
    detail::AttentionGradients g = detail::attention_backward(part(q), part(k), part(v), part(g_o),
                                                              additive_mask(m, layer, n), scale);
    g_q.push_back(std::move(g.q));
    g_k.push_back(std::move(g.k));
    g_v.push_back(std::move(g.v));
    start += n;
  }
  return {at::cat(g_q, 2), at::cat(g_k, 2), at::cat(g_v, 2)};
}

// Sums over the tokens (axis 1) of each sequence: [B, T, ...] -> [S·B, ...],
// sequence-major ([B, ...] for a single sequence).
at::Tensor sum_per_sequence(const at::Tensor& x, const model::Packing& packing) {
  if (packing.size() <= 1) return x.sum(1);
  std::vector<at::Tensor> parts;
  std::int64_t start = 0;
  for (const std::int64_t n : packing) {
    parts.push_back(x.narrow(1, start, n).sum(1));
    start += n;
  }
  return at::cat(parts, 0);
}
}  // namespace

at::Tensor Engine::norm_backward(Rule rule, const at::Tensor& g, const at::Tensor& x,
                                 const at::Tensor& weight, const at::Tensor& r) const {
  return model_.config().norm == model::NormKind::LayerNorm
             ? layernorm_backward(rule, g, x, weight, r)
             : rmsnorm_backward(rule, g, x, weight, r);
}

at::Tensor Engine::backward_mlp(const model::BlockWeights& w, const model::LayerTape& tape,
                                const at::Tensor& g_out, Rule rule, LayerGradients* extra) const {
  const model::ModelConfig& c = model_.config();
  const at::Tensor g_inner = at::matmul(g_out, w.down_weight);  // [B, T, I]
  const RuleDescription& d = describe(rule);
  // Through an elementwise activation y = act(x): the identity rule, or its derivative.
  const auto through_activation = [&](const at::Tensor& g_y, const at::Tensor& x,
                                      const at::Tensor& y) {
    return d.identity_activations ? identity_rule(g_y, x, y)
                                  : activation_grad(c.activation, g_y, x);
  };
  at::Tensor g_pre;
  if (c.gated_mlp) {
    // The product act(gate) ⊙ up: each factor takes its share of the gradient.
    const std::int64_t i = c.intermediate_size;
    const at::Tensor gate = tape.mlp_pre.narrow(-1, 0, i), up = tape.mlp_pre.narrow(-1, i, i);
    const at::Tensor& act = tape.mlp_act;
    // A gate held constant (share 0) passes nothing, not the identity rule's 0·∞.
    const at::Tensor g_up = share_of(g_inner, d.gated.up) * act;
    const at::Tensor g_gate =
        d.gated.gate == 0 ? at::zeros_like(g_up)
                          : through_activation(share_of(g_inner, d.gated.gate) * up, gate, act);
    g_pre = at::cat({g_gate, g_up}, -1);
  } else {
    g_pre = through_activation(g_inner, tape.mlp_pre, tape.mlp_act);
  }
  if (extra != nullptr) extra->neurons = g_inner;
  absorb(extra, w.down_bias, g_out);
  absorb(extra, w.gate_up_bias, g_pre);
  return at::matmul(g_pre, w.gate_up_weight);  // [B, T, H]
}

at::Tensor Engine::backward_attention(std::int64_t layer, const model::BlockWeights& w,
                                      const model::LayerTape& tape, const model::RotaryTables& rope,
                                      const at::Tensor& g_out, Rule rule,
                                      LayerGradients* extra) const {
  const model::ModelConfig& c = model_.config();
  const std::int64_t b = g_out.size(0), t = g_out.size(1), hd = c.head_dim, nh = c.num_heads,
                     nkv = c.num_kv_heads, groups = nh / nkv;
  const double scale = c.attention_scale_or_default();
  at::Tensor g_o = at::matmul(g_out, w.out_weight);  // [B, T, nh*hd]
  if (extra != nullptr) extra->heads = g_o;
  absorb(extra, w.out_bias, g_out);
  g_o = g_o.view({b, t, nh, hd}).transpose(1, 2);  // [B, nh, T, hd]

  // The plain attention gradients (fused kernel), then the rule's shares of
  // the products S = Q·Kᵀ·scale (q, k) and O = P·V (v).
  const at::Tensor k = tape.k.repeat_interleave(groups, 1), v = tape.v.repeat_interleave(groups, 1);
  const detail::AttentionGradients plain =
      attention_gradients(model_, layer, tape.q, k, v, g_o, tape.packing, scale);
  const AttentionShares& share = describe(rule).attention;
  at::Tensor g_q = share_of(plain.q, share.q), g_k = share_of(plain.k, share.k),
             g_v = share_of(plain.v, share.v);
  // Fold the query-head groups back onto their key/value heads.
  g_k = g_k.view({b, nkv, groups, t, hd}).sum(2);
  g_v = g_v.view({b, nkv, groups, t, hd}).sum(2);
  if (c.positions == model::PositionKind::Rotary) {
    const model::LayerRope which = c.rope_of(layer);
    g_q = rotary_backward(g_q, rope.cos_for(which), rope.sin_for(which));
    g_k = rotary_backward(g_k, rope.cos_for(which), rope.sin_for(which));
  }
  // q/k norms: RMSNorm, per head on [B, heads, T, hd] or over the whole projection.
  if (c.qk_norm == model::QKNorm::PerHead) {
    g_q = rmsnorm_backward(rule, g_q, tape.q_raw, w.q_norm_weight, tape.q_norm_r);
    g_k = rmsnorm_backward(rule, g_k, tape.k_raw, w.k_norm_weight, tape.k_norm_r);
  }
  g_q = g_q.transpose(1, 2).reshape({b, t, nh * hd});
  g_k = g_k.transpose(1, 2).reshape({b, t, nkv * hd});
  if (c.qk_norm == model::QKNorm::Full) {
    g_q = rmsnorm_backward(rule, g_q, tape.q_raw, w.q_norm_weight, tape.q_norm_r);
    g_k = rmsnorm_backward(rule, g_k, tape.k_raw, w.k_norm_weight, tape.k_norm_r);
  }
  const at::Tensor g_qkv = at::cat({g_q, g_k, g_v.transpose(1, 2).reshape({b, t, nkv * hd})}, -1);
  absorb(extra, w.qkv_bias, g_qkv);
  return at::matmul(g_qkv, w.qkv_weight);
}

at::Tensor Engine::mlp_branch_backward(std::int64_t layer, const model::LayerTape& tape,
                                       const at::Tensor& g, const at::Tensor& branch_input,
                                       Rule rule, LayerGradients* extra) const {
  const model::ModelConfig& c = model_.config();
  const model::BlockWeights& w = model_.block(layer);
  at::Tensor gb = c.mlp_post_norm ? rmsnorm_backward(rule, g, tape.mlp_out, w.mlp_post_norm_weight,
                                                     tape.mlp_post_r)
                                  : g;
  gb = backward_mlp(w, tape, gb, rule, extra);
  if (!c.mlp_pre_norm) return gb;
  absorb(extra, w.mlp_norm_bias, gb);
  return norm_backward(rule, gb, branch_input, w.mlp_norm_weight, tape.mlp_norm_r);
}

at::Tensor Engine::attention_branch_backward(std::int64_t layer, const model::LayerTape& tape,
                                             const model::RotaryTables& rope, const at::Tensor& g,
                                             Rule rule, LayerGradients* extra) const {
  const model::ModelConfig& c = model_.config();
  const model::BlockWeights& w = model_.block(layer);
  at::Tensor gb = c.attn_post_norm ? rmsnorm_backward(rule, g, tape.attn_out,
                                                      w.attn_post_norm_weight, tape.attn_post_r)
                                   : g;
  gb = backward_attention(layer, w, tape, rope, gb, rule, extra);
  if (!c.attn_pre_norm) return gb;
  absorb(extra, w.attn_norm_bias, gb);
  return norm_backward(rule, gb, tape.input, w.attn_norm_weight, tape.attn_norm_r);
}

at::Tensor Engine::attention_heads_gradient(std::int64_t layer, const model::LayerTape& tape,
                                            const at::Tensor& g, Rule rule) const {
  const model::ModelConfig& c = model_.config();
  const model::BlockWeights& w = model_.block(layer);
  const at::Tensor gb =
      c.attn_post_norm
          ? rmsnorm_backward(rule, g, tape.attn_out, w.attn_post_norm_weight, tape.attn_post_r)
          : g;
  return at::matmul(gb, w.out_weight)
      .view({g.size(0), g.size(1), c.num_heads, c.head_dim})
      .transpose(1, 2);
}

at::Tensor Engine::backward_layer(std::int64_t layer, const model::LayerTape& tape,
                                  const model::RotaryTables& rope, const at::Tensor& g_out,
                                  Rule rule, LayerGradients* extra) const {
  const model::ModelConfig& c = model_.config();
  if (extra != nullptr)
    extra->bias_absorbed =
        at::zeros({g_out.size(0), g_out.size(1)}, g_out.options().dtype(at::kFloat));
  // Residual additions pass the gradient unchanged to both of their operands.
  if (c.residual == model::ResidualLayout::Parallel)
    return g_out + attention_branch_backward(layer, tape, rope, g_out, rule, extra) +
           mlp_branch_backward(layer, tape, g_out, tape.input, rule, extra);
  const at::Tensor gm = g_out + mlp_branch_backward(layer, tape, g_out, tape.mid, rule, extra);
  if (extra != nullptr) extra->mid = gm;
  return gm + attention_branch_backward(layer, tape, rope, gm, rule, extra);
}

ForwardState Engine::forward(const at::Tensor& hidden, bool keep_tapes,
                             const model::Packing& packing) const {
  c10::InferenceMode inference_mode;
  ForwardState st;
  st.begin = model_.layer_begin();
  if (packing.size() > 1) st.packing = packing;
  st.rope = model_.rotary(model::packed_positions(packing, hidden.size(1)));
  st.input = hidden.to(model_.compute().device, model_.compute().dtype);
  const auto layers = static_cast<std::size_t>(model_.layer_end() - model_.layer_begin());
  if (keep_tapes) st.tapes.resize(layers);
  st.boundaries.reserve(layers + 1);
  at::Tensor h = st.input;
  st.boundaries.push_back(h);
  for (std::int64_t i = model_.layer_begin(); i < model_.layer_end(); ++i) {
    const auto slot = static_cast<std::size_t>(i - st.begin);
    h = model_.run_layer(i, h, st.rope, keep_tapes ? &st.tapes[slot] : nullptr, st.packing);
    st.boundaries.push_back(h);
  }
  if (!at::isfinite(h).all().item<bool>())
    throw Error(
        "non-finite values (NaN/Inf) in the model's activations; relevance would be meaningless");
  st.output = h;
  return st;
}

ForwardState Engine::forward_ids(const at::Tensor& ids, const model::Packing& packing) const {
  c10::InferenceMode inference_mode;
  const at::Tensor batch = ids.unsqueeze(0);
  ForwardState st = forward(model_.embed(batch, packing), true, packing);
  if (model_.config().positions == model::PositionKind::Learned)
    st.token_embeddings = model_.embed_tokens(batch);
  return st;
}

at::Tensor Engine::seed(const ForwardState& state, const std::vector<Seed>& seeds, Rule rule,
                        Explanation& out) const {
  if (!model_.has_head()) throw Error("seed() needs the stage that holds the unembedding");
  if (seeds.empty()) throw Error("no seeds to explain");
  c10::InferenceMode inference_mode;
  const model::ModelConfig& c = model_.config();
  const at::Tensor& h = state.output;
  const std::int64_t t = h.size(1), sequences = static_cast<std::int64_t>(state.sequences()),
                     n = static_cast<std::int64_t>(seeds.size());
  if (n % sequences != 0)
    throw Error(std::to_string(n) + " seeds for " + std::to_string(sequences) +
                " packed sequences: each needs as many");
  const std::int64_t b = n / sequences;
  at::Tensor final_r;
  const at::Tensor normed =
      model_.norm(h, model_.final_norm_weight(), model_.final_norm_bias(), &final_r);
  out.logits = at::empty({n, c.vocab_size}, at::kFloat);
  out.head_bias_absorbed = at::zeros({n}, at::kFloat);
  at::Tensor g = at::zeros({b, t, c.hidden_size}, model_.options());
  std::vector<at::Tensor> weights;
  std::int64_t first = 0;  // the sequence's first token in the packed axis
  for (std::int64_t s = 0; s < sequences; ++s) {
    const std::int64_t len = sequences == 1 ? t : state.packing[static_cast<std::size_t>(s)];
    for (std::int64_t row = 0; row < b; ++row) {
      const std::int64_t i = s * b + row;
      const Seed& seed = seeds[static_cast<std::size_t>(i)];
      const std::int64_t p = first + (seed.position < 0 ? seed.position + len : seed.position);
      if (p < first || p >= first + len)
        throw Error("seed position " + std::to_string(seed.position) + " is outside the " +
                    std::to_string(len) + " tokens");
      if (seed.weights.numel() != c.vocab_size)
        throw Error("a seed has " + std::to_string(seed.weights.numel()) +
                    " weights, the vocabulary " + std::to_string(c.vocab_size));
      const at::Tensor sw = seed.weights.to(model_.compute().device, model_.compute().dtype);
      out.logits[i].copy_(at::matmul(model_.lm_head_weight(), normed[0][p]));
      // Logits are linear in the normed state; the final norm's factor is a constant.
      const at::Tensor g_normed = at::matmul(sw, model_.lm_head_weight());  // [H]
      if (model_.final_norm_bias().defined())
        out.head_bias_absorbed[i] = (g_normed * model_.final_norm_bias()).sum().to(at::kCPU);
      g[row][p] = norm_backward(rule, g_normed, h[0][p], model_.final_norm_weight(), final_r[0][p]);
      weights.push_back(seed.weights.to(at::kFloat));
    }
    first += len;
  }
  out.target = (at::stack(weights) * out.logits).sum(-1);
  return g;
}

void Engine::backward(const ForwardState& state, at::Tensor g, Rule rule,
                      const RecordOptions& record, Explanation& out) const {
  c10::InferenceMode inference_mode;
  const model::ModelConfig& c = model_.config();
  const std::int64_t layers = static_cast<std::int64_t>(state.tapes.size()), b = g.size(0),
                     t = g.size(1), n = b * static_cast<std::int64_t>(state.sequences());
  const bool has_mid = c.residual == model::ResidualLayout::Sequential;
  if (record.residual) {
    if (has_mid) out.mid_relevance = at::empty({b, layers, t}, at::kFloat);
    out.layer_relevance = at::empty({b, layers, t}, at::kFloat);
  }
  if (record.heads) out.head_relevance = at::empty({n, layers, c.num_heads}, at::kFloat);
  const std::int64_t k = std::min(record.neurons, c.intermediate_size);
  if (k > 0) {
    out.neuron_ids = at::empty({n, layers, k}, at::kLong);
    out.neuron_relevance = at::empty({n, layers, k}, at::kFloat);
  }
  out.bias_absorbed = at::empty({n, layers}, at::kFloat);
  for (std::int64_t i = layers - 1; i >= 0; --i) {
    const model::LayerTape& tape = state.tapes[static_cast<std::size_t>(i)];
    const at::Tensor& layer_out =
        i + 1 < layers ? state.tapes[static_cast<std::size_t>(i + 1)].input : state.output;
    if (record.residual) out.layer_relevance.select(1, i).copy_(relevance(layer_out, g));
    LayerGradients extra;
    g = backward_layer(state.begin + i, tape, state.rope, g, rule, &extra);
    out.bias_absorbed.select(1, i).copy_(sum_per_sequence(extra.bias_absorbed, state.packing));
    if (record.residual && has_mid)
      out.mid_relevance.select(1, i).copy_(relevance(tape.mid, extra.mid));
    if (record.heads) {
      const at::Tensor per_head = (tape.attn_heads * extra.heads)
                                      .to(at::kFloat)
                                      .view({b, t, c.num_heads, c.head_dim})
                                      .sum(3);  // [B, T, heads]
      out.head_relevance.select(1, i).copy_(sum_per_sequence(per_head, state.packing));
    }
    if (k > 0) {
      const at::Tensor per_neuron = sum_per_sequence(
          (tape.mlp_inner * extra.neurons).to(at::kFloat), state.packing);  // [S·B, I]
      const auto top = at::topk(per_neuron.abs(), k, -1);
      out.neuron_ids.select(1, i).copy_(std::get<1>(top));
      out.neuron_relevance.select(1, i).copy_(per_neuron.gather(-1, std::get<1>(top)));
    }
  }
  out.input_gradient = g;
  if (state.token_embeddings.defined()) {
    out.token_relevance = relevance(state.token_embeddings, g).to(at::kCPU);
    out.position_relevance =
        sum_per_sequence(relevance(state.input - state.token_embeddings, g), state.packing)
            .to(at::kCPU);
  } else {
    out.token_relevance = relevance(state.input, g).to(at::kCPU);
  }
}

void Engine::require_whole_model() const {
  if (!model_.has_embedding() || !model_.has_head())
    throw Error("explain() needs the whole model; pipeline stages call forward/seed/backward");
}

Explanation Engine::explain(const ForwardState& state, const std::vector<Seed>& seeds, Rule rule,
                            const RecordOptions& record) const {
  require_whole_model();
  Explanation out;
  const at::Tensor g = seed(state, seeds, rule, out);
  backward(state, g, rule, record, out);
  return out;
}

Explanation Engine::explain(const at::Tensor& ids, const std::vector<Seed>& seeds, Rule rule,
                            const RecordOptions& record) const {
  require_whole_model();
  c10::InferenceMode inference_mode;
  return explain(forward_ids(ids), seeds, rule, record);
}

std::vector<Explanation> unpack(const Explanation& packed, const model::Packing& packing) {
  if (packing.size() <= 1) return {packed};
  const auto sequences = static_cast<std::int64_t>(packing.size());
  const std::int64_t b = packed.target.size(0) / sequences;
  std::vector<Explanation> out(packing.size());
  std::int64_t first = 0;
  for (std::int64_t s = 0; s < sequences; ++s) {
    const std::int64_t len = packing[static_cast<std::size_t>(s)];
    const auto rows = [&](const at::Tensor& x) {
      return x.defined() ? x.narrow(0, s * b, b).contiguous() : x;
    };
    const auto tokens = [&](const at::Tensor& x, std::int64_t axis) {
      return x.defined() ? x.narrow(axis, first, len).contiguous() : x;
    };
    Explanation& e = out[static_cast<std::size_t>(s)];
    e.target = rows(packed.target);
    e.logits = rows(packed.logits);
    e.position_relevance = rows(packed.position_relevance);
    e.head_relevance = rows(packed.head_relevance);
    e.neuron_ids = rows(packed.neuron_ids);
    e.neuron_relevance = rows(packed.neuron_relevance);
    e.bias_absorbed = rows(packed.bias_absorbed);
    e.head_bias_absorbed = rows(packed.head_bias_absorbed);
    e.input_gradient = tokens(packed.input_gradient, 1);
    e.token_relevance = tokens(packed.token_relevance, 1);
    e.mid_relevance = tokens(packed.mid_relevance, 2);
    e.layer_relevance = tokens(packed.layer_relevance, 2);
    first += len;
  }
  return out;
}

}  // namespace clrp::lrp
