// Builds an attribution graph in one rule-modified backward pass, stage by
// stage (include/clrp/graph/stage.hpp); build_graph is the one-stage case.
//
// The forward keeps the residual stream at every layer boundary of the stage
// (and every layer's tape, when the plan allows). The backward walks the
// stage's layers from the top; at each layer it has the main pass's gradient
// at the layer output, and computes, in order: the MLP half (gradient and
// relevance at "mid"), the MLP transition's edges, the attention half, the
// attention transition's edges. Each transition is pruned as soon as it is
// computed, and because the walk goes top-down, the nodes that can still reach
// the target are already known: only edges into them are kept. At a seam the
// stage above hands down the gradient and which of the seam's nodes reach the
// target, which is all the walk needs to go on.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>

#include "attention_edges.hpp"
#include "clrp/graph/graph.hpp"
#include "clrp/graph/stage.hpp"
#include "clrp/lrp/engine.hpp"
#include "clrp/util/byte_size.hpp"
#include "clrp/util/clock.hpp"
#include "clrp/util/error.hpp"
#include "prune.hpp"

namespace clrp::graph {

std::vector<NodeLayer> node_layers(const model::ModelConfig& config) {
  std::vector<NodeLayer> out{{"emb", 0, NodeKind::Embedding}};
  for (std::int64_t l = 0; l < config.num_layers; ++l) {
    if (config.residual == model::ResidualLayout::Sequential)
      out.push_back({"mid" + std::to_string(l), l, NodeKind::Mid});
    out.push_back({"out" + std::to_string(l), l, NodeKind::Out});
  }
  return out;
}

namespace {

using Emit = std::function<void(const EdgeBlock&)>;
/// Produces a transition's unpruned edge blocks, in a fixed order, each time it is called.
using BlockSource = std::function<void(const Emit&)>;
using Clock = std::chrono::steady_clock;

// Relevance h ⊙ g (lrp::relevance) on the CPU, where the graph's tables live.
at::Tensor relevance(const at::Tensor& h, const at::Tensor& g) {
  return lrp::relevance(h, g).cpu();
}

// The gradient of B targets, each seeded alone: rows [B, T, H], row r holding
// g[targets[r]] at position targets[r] and zeros elsewhere.
at::Tensor one_hot_seeds(const at::Tensor& g, const std::vector<std::int64_t>& targets) {
  at::Tensor out =
      at::zeros({static_cast<std::int64_t>(targets.size()), g.size(0), g.size(1)}, g.options());
  for (std::size_t r = 0; r < targets.size(); ++r)
    out[static_cast<std::int64_t>(r)][targets[r]].copy_(g[targets[r]]);
  return out;
}

void check_options(const GraphOptions& options) {
  if (options.mass_fraction <= 0 || options.mass_fraction > 1)
    throw Error("the kept mass fraction must lie in (0, 1], not " +
                std::to_string(options.mass_fraction));
  if (options.node_threshold < 0) throw Error("the node threshold must not be negative");
}

}  // namespace

class GraphStage::Impl {
 public:
  Impl(const model::DecoderModel& model, const GraphOptions& options, GraphPlan plan);

  at::Tensor forward(const at::Tensor& input);
  GraphBoundary seed(std::int64_t position, std::int64_t wrong, std::int64_t correct);
  GraphBoundary backward(const GraphBoundary& top);
  GraphPart part() const;

 private:
  enum class Step { None, Forward, Seeded, Done };

  // Node-layer indices (the whole model's) around decoder layer l.
  std::size_t input_node(std::int64_t l) const { return static_cast<std::size_t>(l * per_layer_); }
  std::size_t output_node(std::int64_t l) const { return input_node(l + 1); }
  // This stage's rows hold node layers base_ .. base_ + nodes_ − 1.
  std::int64_t row(std::size_t node) const { return static_cast<std::int64_t>(node - base_); }

  model::LayerTape tape(std::int64_t l);
  std::vector<std::int64_t> targets_of(std::size_t node_layer) const;
  /// Prunes transition `k` (node layer k -> k + 1) from its block source.
  void run_transition(std::size_t k, const BlockSource& source);
  /// The packed (generic) block source of a transition: B targets per backward.
  BlockSource packed(std::size_t k, const at::Tensor& h_source, const at::Tensor& g_target,
                     std::function<at::Tensor(const at::Tensor&)> backward) const;
  BlockSource attention_structured(std::size_t k, std::int64_t l, const model::LayerTape& tape,
                                   const at::Tensor& g_branch, const at::Tensor& diagonal) const;
  bool structured_attention_possible(std::int64_t l) const;
  void set_relevance(std::size_t node, const at::Tensor& state, const at::Tensor& g);

  const model::DecoderModel& model_;
  const model::ModelConfig& c_;
  lrp::Engine engine_;
  const GraphOptions opt_;
  const GraphPlan plan_;
  const std::int64_t begin_, end_;  ///< this stage's decoder layers
  const std::int64_t per_layer_;    ///< node layers per decoder layer (2, or 1 without mid)
  const std::size_t base_;          ///< input_node(begin_)
  const std::size_t nodes_;         ///< node layers this stage touches, seam below included
  const std::size_t model_nodes_;   ///< node layers of the whole model

  Step step_ = Step::None;
  std::int64_t t_ = 0, position_ = 0;
  /// The forward: the residual stream at this stage's layer boundaries
  /// ([1, T, H] each) and, when the plan keeps them, the layers' tapes.
  lrp::ForwardState state_;
  at::Tensor relevance_, remainder_;     ///< [nodes_, T] float32 CPU
  std::vector<Transition> transitions_;  ///< transitions_[i]: node layer base_ + i -> base_ + i + 1
  DecisionProfile decision_;             ///< [nodes_]
  /// Per node layer of the stage: the positions that reach the target.
  std::vector<std::vector<std::uint8_t>> alive_;
  std::int64_t edge_bytes_ = 0;
  GraphBoundary seeded_;  ///< the last stage's target and logits
  double seconds_ = 0;
};

GraphStage::Impl::Impl(const model::DecoderModel& model, const GraphOptions& options,
                       GraphPlan plan)
    : model_(model),
      c_(model.config()),
      engine_(model),
      opt_(options),
      plan_(std::move(plan)),
      begin_(model.layer_begin()),
      end_(model.layer_end()),
      per_layer_(c_.residual == model::ResidualLayout::Sequential ? 2 : 1),
      base_(input_node(begin_)),
      nodes_(static_cast<std::size_t>((end_ - begin_) * per_layer_ + 1)),
      model_nodes_(node_layers(c_).size()) {
  check_options(opt_);
}

at::Tensor GraphStage::Impl::forward(const at::Tensor& input) {
  const auto started = Clock::now();
  c10::InferenceMode inference_mode;
  step_ = Step::None;
  seconds_ = 0;
  state_ = {};
  at::Tensor h;
  if (model_.has_embedding()) {
    if (input.dim() != 1 || input.scalar_type() != at::kLong)
      throw Error("the first stage of a graph takes token ids (int64 [T])");
    h = model_.embed(input.unsqueeze(0));
  } else {
    if (input.dim() != 3 || input.size(0) != 1 || input.size(2) != c_.hidden_size)
      throw Error("a graph stage above the first takes hidden states [1, T, " +
                  std::to_string(c_.hidden_size) + "]");
    h = input.to(model_.options());
  }
  t_ = h.size(1);
  if (t_ == 0) throw Error("no tokens to build a graph over");
  state_ = engine_.forward(h, plan_.keep_tapes);
  step_ = Step::Forward;
  seconds_ += util::seconds_since(started);
  return state_.output;
}

GraphBoundary GraphStage::Impl::seed(std::int64_t position, std::int64_t wrong,
                                     std::int64_t correct) {
  const auto started = Clock::now();
  c10::InferenceMode inference_mode;
  if (!model_.has_head()) throw Error("seed() needs the graph stage that holds the unembedding");
  if (step_ != Step::Forward) throw Error("a graph stage seeds after its forward()");
  if (position < 0 || position >= t_)
    throw Error("the explained position " + std::to_string(position) + " is outside the " +
                std::to_string(t_) + " tokens");
  // The main pass: the contrast, and the wrong token alone for the decision
  // profile. The modified backward is linear in its seed, so the correct
  // token's profile is wrong − contrast and needs no pass of its own.
  const std::int64_t vocab = c_.vocab_size;
  lrp::Explanation seeded;
  GraphBoundary b;
  b.position = position;
  b.gradient = engine_.seed(state_,
                            {lrp::Seed::contrastive(position, wrong, correct, vocab),
                             lrp::Seed::single(position, wrong, vocab)},
                            opt_.rule, seeded);
  b.alive.assign(static_cast<std::size_t>(t_), 0);
  b.alive[static_cast<std::size_t>(position)] = 1;
  b.target = seeded.target[0].item<double>();
  b.wrong_logit = seeded.logits[0][wrong].item<double>();
  b.correct_logit = seeded.logits[0][correct].item<double>();
  b.logits = seeded.logits[0];
  if (std::abs(b.target) <= opt_.node_threshold)
    throw Error("Δℓ = " + std::to_string(b.target) +
                " at the explained position is not above the node threshold " +
                std::to_string(opt_.node_threshold) +
                ": the two tokens are (nearly) tied and there is nothing to trace");
  seeded_ = b;
  seeded_.gradient = at::Tensor();
  step_ = Step::Seeded;
  seconds_ += util::seconds_since(started);
  return b;
}

model::LayerTape GraphStage::Impl::tape(std::int64_t l) {
  // A kept tape is handed over: nothing reads it after its layer's backward.
  if (plan_.keep_tapes) return std::move(state_.tapes[static_cast<std::size_t>(l - begin_)]);
  model::LayerTape t;
  model_.run_layer(l, state_.boundaries[static_cast<std::size_t>(l - begin_)], state_.rope, &t);
  return t;
}

void GraphStage::Impl::set_relevance(std::size_t node, const at::Tensor& state,
                                     const at::Tensor& g) {
  const at::Tensor r = relevance(state, g);  // [2, T]
  const std::int64_t i = row(node);
  relevance_[i].copy_(r[0]);
  const auto u = static_cast<std::size_t>(i);
  decision_.contrast[u] = r[0][position_].item<double>();
  decision_.wrong[u] = r[1][position_].item<double>();
  decision_.correct[u] = decision_.wrong[u] - decision_.contrast[u];
}

std::vector<std::int64_t> GraphStage::Impl::targets_of(std::size_t node_layer) const {
  const at::Tensor r = relevance_[row(node_layer)];
  const at::Tensor idx = at::nonzero(r.abs() > opt_.node_threshold).flatten();
  const auto* p = idx.data_ptr<std::int64_t>();
  return {p, p + idx.numel()};
}

void GraphStage::Impl::run_transition(std::size_t k, const BlockSource& source) {
  Transition& tr = transitions_[static_cast<std::size_t>(row(k))];
  detail::EdgePruner pruner(opt_.prune, opt_.mass_fraction, opt_.edge_threshold);
  at::Tensor remainder = remainder_[row(k + 1)];
  const at::Tensor target_r = relevance_[row(k + 1)];
  const std::vector<std::uint8_t>& alive = alive_[static_cast<std::size_t>(row(k + 1))];
  // Unpruned row sums give each target's remainder; only edges into targets
  // that still reach the top can survive, so only those are selected.
  auto account = [&](const EdgeBlock& b) {
    const at::Tensor sums = b.diagonal ? b.values : b.values.sum(1);
    for (std::size_t r = 0; r < b.targets.size(); ++r)
      remainder[b.targets[r]] =
          target_r[b.targets[r]].item<float>() - sums[static_cast<std::int64_t>(r)].item<float>();
    tr.computed_targets += static_cast<std::int64_t>(b.targets.size());
    if (opt_.on_block) opt_.on_block(k, b);
  };
  auto select = [&](const EdgeBlock& b) {
    EdgeBlock live{{}, {}, b.diagonal};
    std::vector<std::int64_t> rows;
    for (std::size_t r = 0; r < b.targets.size(); ++r)
      if (alive[static_cast<std::size_t>(b.targets[r])]) {
        live.targets.push_back(b.targets[r]);
        rows.push_back(static_cast<std::int64_t>(r));
      }
    if (rows.empty()) return;
    live.values = b.values.index_select(0, at::tensor(rows, at::kLong));
    pruner.select(live);
  };
  const bool two_pass = pruner.needs_histogram();
  if (plan_.dense_transitions) {
    std::vector<EdgeBlock> blocks;
    source([&](const EdgeBlock& b) {
      account(b);
      if (two_pass) pruner.observe(b);
      blocks.push_back(b);
    });
    if (two_pass) pruner.locate_cut();
    for (const EdgeBlock& b : blocks)
      select(b);
  } else if (two_pass) {
    source([&](const EdgeBlock& b) {
      account(b);
      pruner.observe(b);
    });
    pruner.locate_cut();
    source(select);
  } else {
    source([&](const EdgeBlock& b) {
      account(b);
      select(b);
    });
  }
  std::vector<Edge> edges = pruner.finish();
  tr.total_mass = pruner.total_mass();
  tr.threshold = pruner.threshold();
  // Node pruning: sources below the node threshold are dropped with their edges.
  const at::Tensor source_r = relevance_[row(k)];
  const float* sr = source_r.data_ptr<float>();
  std::vector<std::uint8_t>& source_alive = alive_[static_cast<std::size_t>(row(k))];
  for (const Edge& e : edges) {
    tr.pruned_mass += std::fabs(e.weight);
    ++tr.pruned_edges;
    if (std::fabs(sr[e.source]) < opt_.node_threshold) continue;
    source_alive[static_cast<std::size_t>(e.source)] = 1;
    tr.kept_mass += std::fabs(e.weight);
    tr.edges.push_back(e);
  }
  edge_bytes_ += static_cast<std::int64_t>(tr.edges.size() * sizeof(Edge));
  if (opt_.max_memory > 0 && plan_.estimate_bytes + edge_bytes_ > opt_.max_memory)
    throw Error("the pruned graph's edges alone (" + format_whole_mib(edge_bytes_) + " after " +
                std::to_string(model_nodes_ - 1 - k) +
                " transitions) push the build past --max-memory; prune harder (a lower --mass, "
                "a higher --node-threshold or --edge-threshold) or raise the budget");
}

BlockSource GraphStage::Impl::packed(std::size_t k, const at::Tensor& h_source,
                                     const at::Tensor& g_target,
                                     std::function<at::Tensor(const at::Tensor&)> backward) const {
  const std::vector<std::int64_t> targets = targets_of(k + 1);
  const std::int64_t batch = std::max<std::int64_t>(opt_.batch, 1);
  return [=](const Emit& emit) {
    for (std::size_t start = 0; start < targets.size(); start += static_cast<std::size_t>(batch)) {
      const std::vector<std::int64_t> chunk(
          targets.begin() + static_cast<std::ptrdiff_t>(start),
          targets.begin() + static_cast<std::ptrdiff_t>(
                                std::min(targets.size(), start + static_cast<std::size_t>(batch))));
      const at::Tensor g_source = backward(one_hot_seeds(g_target, chunk));
      emit(EdgeBlock{chunk, relevance(h_source, g_source), false});
    }
  };
}

bool GraphStage::Impl::structured_attention_possible(std::int64_t l) const {
  if (!lrp::describe(opt_.rule).structured_graph) return false;
  const model::BlockWeights& w = model_.block(l);
  const bool biased = w.qkv_bias.defined() || w.attn_norm_bias.defined();
  // The bias-free q and k below assume no q/k norm between the bias and the
  // rotary embedding; no supported family has both.
  return !(biased && c_.qk_norm != model::QKNorm::None);
}

BlockSource GraphStage::Impl::attention_structured(std::size_t k, std::int64_t l,
                                                   const model::LayerTape& tape,
                                                   const at::Tensor& g_branch,
                                                   const at::Tensor& diagonal) const {
  const std::int64_t groups = c_.num_heads / c_.num_kv_heads, hd = c_.head_dim;
  detail::AttentionEdgeInputs in;
  in.q = tape.q[0];
  in.k = tape.k[0].repeat_interleave(groups, 0);
  in.v = tape.v[0].repeat_interleave(groups, 0);
  in.g_heads = engine_.attention_heads_gradient(l, tape, g_branch.narrow(0, 0, 1), opt_.rule)[0];
  in.diagonal = diagonal;
  in.allowed = model_.attention_mask(l, t_);
  in.scale = c_.attention_scale_or_default();
  const lrp::AttentionShares& share = lrp::describe(opt_.rule).attention;
  in.q_share = share.q, in.k_share = share.k, in.v_share = share.v;
  const model::BlockWeights& w = model_.block(l);
  if (w.qkv_bias.defined() || w.attn_norm_bias.defined()) {
    // The constant part of q, k, v: the pre-norm's bias through the projection,
    // plus the projection's bias, rotated like q and k at every position.
    at::Tensor bias = w.qkv_bias.defined()
                          ? w.qkv_bias
                          : at::zeros({w.qkv_weight.size(0)}, w.qkv_weight.options());
    if (w.attn_norm_bias.defined()) bias = bias + at::matmul(w.qkv_weight, w.attn_norm_bias);
    const std::int64_t nq = c_.num_heads * hd, nk = c_.num_kv_heads * hd;
    auto per_position = [&](const at::Tensor& b, std::int64_t heads) {
      at::Tensor x = b.view({1, heads, 1, hd}).expand({1, heads, t_, hd});
      if (c_.positions == model::PositionKind::Rotary) {
        const model::LayerRope which = c_.rope_of(l);
        x = model::apply_rotary(x, state_.rope.cos_for(which), state_.rope.sin_for(which));
      }
      return x[0].repeat_interleave(c_.num_heads / heads, 0);
    };
    in.q_linear = in.q - per_position(bias.narrow(0, 0, nq), c_.num_heads);
    in.k_linear = in.k - per_position(bias.narrow(0, nq, nk), c_.num_kv_heads);
    in.v_linear =
        in.v -
        bias.narrow(0, nq + nk, nk).view({c_.num_kv_heads, 1, hd}).repeat_interleave(groups, 0);
  }
  const std::vector<std::int64_t> targets = targets_of(k + 1);
  // A plan without a block size takes every target row at once.
  const std::int64_t block =
      plan_.query_block > 0 ? plan_.query_block
                            : std::max<std::int64_t>(static_cast<std::int64_t>(targets.size()), 1);
  return [in, targets, block](const Emit& emit) {
    for (std::size_t start = 0; start < targets.size(); start += static_cast<std::size_t>(block)) {
      const std::vector<std::int64_t> chunk(
          targets.begin() + static_cast<std::ptrdiff_t>(start),
          targets.begin() + static_cast<std::ptrdiff_t>(
                                std::min(targets.size(), start + static_cast<std::size_t>(block))));
      emit(detail::attention_edge_block(in, chunk));
    }
  };
}

GraphBoundary GraphStage::Impl::backward(const GraphBoundary& top) {
  const auto started = Clock::now();
  c10::InferenceMode inference_mode;
  if (step_ != (model_.has_head() ? Step::Seeded : Step::Forward))
    throw Error(model_.has_head() ? "the last graph stage runs backward() after seed()"
                                  : "a graph stage runs backward() after its forward()");
  if (!top.gradient.defined() || top.gradient.dim() != 3 || top.gradient.size(0) != 2 ||
      top.gradient.size(1) != t_ || top.alive.size() != static_cast<std::size_t>(t_))
    throw Error("the boundary handed to a graph stage does not match its " + std::to_string(t_) +
                " tokens");
  if (top.position < 0 || top.position >= t_)
    throw Error("the explained position " + std::to_string(top.position) + " is outside the " +
                std::to_string(t_) + " tokens");
  position_ = top.position;
  const auto n = static_cast<std::int64_t>(nodes_);
  relevance_ = at::zeros({n, t_}, at::kFloat);
  remainder_ = at::zeros({n, t_}, at::kFloat);
  transitions_.assign(nodes_ - 1, Transition{});
  for (std::size_t i = 0; i + 1 < nodes_; ++i)
    transitions_[i].source = base_ + i, transitions_[i].target = base_ + i + 1;
  decision_ = {std::vector<double>(nodes_), std::vector<double>(nodes_),
               std::vector<double>(nodes_)};
  alive_.assign(nodes_, std::vector<std::uint8_t>(static_cast<std::size_t>(t_), 0));
  alive_[nodes_ - 1] = top.alive;
  edge_bytes_ = 0;

  // The seam's relevance from this stage's own output and the gradient handed
  // down: the same tensors the stage above measured it on.
  at::Tensor g = top.gradient.to(model_.options());
  set_relevance(output_node(end_ - 1), state_.output, g);

  const lrp::Rule rule = opt_.rule;
  const bool structured = opt_.method == EdgeMethod::Structured;
  for (std::int64_t l = end_ - 1; l >= begin_; --l) {
    const model::LayerTape tp = tape(l);
    const at::Tensor& h_in = state_.boundaries[static_cast<std::size_t>(l - begin_)];
    const std::size_t in_node = input_node(l), out_node = output_node(l);
    at::Tensor g_in;
    if (c_.residual == model::ResidualLayout::Sequential) {
      const std::size_t mid_node = in_node + 1;
      const at::Tensor g_mid = g + engine_.mlp_branch_backward(l, tp, g, tp.mid, rule);
      set_relevance(mid_node, tp.mid, g_mid);
      // mid -> out: position by position, so the edge into j is j's own relevance at mid.
      if (structured) {
        const std::vector<std::int64_t> targets = targets_of(out_node);
        const at::Tensor mid_r = relevance_[row(mid_node)];
        run_transition(mid_node, [&](const Emit& emit) {
          if (!targets.empty())
            emit(EdgeBlock{targets, mid_r.index_select(0, at::tensor(targets, at::kLong)), true});
        });
      } else {
        run_transition(mid_node, packed(mid_node, tp.mid, g[0], [&](const at::Tensor& s) {
                         return s + engine_.mlp_branch_backward(l, tp, s, tp.mid, rule);
                       }));
      }
      g_in = g_mid + engine_.attention_branch_backward(l, tp, state_.rope, g_mid, rule);
      set_relevance(in_node, h_in, g_in);
      if (structured && structured_attention_possible(l))
        run_transition(in_node,
                       attention_structured(in_node, l, tp, g_mid, relevance(h_in[0], g_mid[0])));
      else
        run_transition(in_node, packed(in_node, h_in, g_mid[0], [&](const at::Tensor& s) {
                         return s + engine_.attention_branch_backward(l, tp, state_.rope, s, rule);
                       }));
    } else {
      g_in = engine_.backward_layer(l, tp, state_.rope, g, rule);
      set_relevance(in_node, h_in, g_in);
      if (structured && structured_attention_possible(l)) {
        // The residual and the MLP branch both act position by position.
        const at::Tensor g0 = g.narrow(0, 0, 1);
        const at::Tensor local = g0 + engine_.mlp_branch_backward(l, tp, g0, tp.input, rule);
        run_transition(in_node,
                       attention_structured(in_node, l, tp, g, relevance(h_in[0], local[0])));
      } else {
        run_transition(in_node, packed(in_node, h_in, g[0], [&](const at::Tensor& s) {
                         return engine_.backward_layer(l, tp, state_.rope, s, rule);
                       }));
      }
    }
    g = g_in;
  }

  GraphBoundary below;
  below.position = position_;
  below.gradient = g;
  below.alive = alive_.front();
  // Only the results are read from here on; the activations can go.
  state_ = {};
  step_ = Step::Done;
  seconds_ += util::seconds_since(started);
  return below;
}

GraphPart GraphStage::Impl::part() const {
  if (step_ != Step::Done) throw Error("a graph stage's part is ready after its backward()");
  // The seam below belongs to the stage below, except the embedding (stage 0's).
  const std::size_t first = model_.has_embedding() ? 0 : 1;
  const auto owned = static_cast<std::int64_t>(nodes_ - first);
  GraphPart p;
  p.first_node = static_cast<std::int64_t>(base_ + first);
  p.tokens = t_;
  p.position = position_;
  p.rule = opt_.rule;
  p.relevance = relevance_.narrow(0, static_cast<std::int64_t>(first), owned).clone();
  p.remainder = remainder_.narrow(0, static_cast<std::int64_t>(first), owned).clone();
  p.transitions = transitions_;
  for (std::size_t i = first; i < nodes_; ++i) {
    const float* r = relevance_[static_cast<std::int64_t>(i)].data_ptr<float>();
    for (std::int64_t j = 0; j < t_; ++j)
      if (alive_[i][static_cast<std::size_t>(j)])
        p.nodes.push_back(
            {static_cast<std::int32_t>(base_ + i), static_cast<std::int32_t>(j), r[j]});
  }
  const auto from = static_cast<std::ptrdiff_t>(first);
  p.decision = {{decision_.contrast.begin() + from, decision_.contrast.end()},
                {decision_.wrong.begin() + from, decision_.wrong.end()},
                {decision_.correct.begin() + from, decision_.correct.end()}};
  if (model_.has_head()) {
    p.has_target = true;
    p.target = seeded_.target;
    p.wrong_logit = seeded_.wrong_logit;
    p.correct_logit = seeded_.correct_logit;
    p.logits = seeded_.logits;
  }
  p.plan = plan_;
  p.seconds = seconds_;
  return p;
}

GraphStage::GraphStage(const model::DecoderModel& stage_model, const GraphOptions& options,
                       GraphPlan plan)
    : impl_(std::make_unique<Impl>(stage_model, options, std::move(plan))) {}
GraphStage::~GraphStage() = default;
at::Tensor GraphStage::forward(const at::Tensor& input) {
  return impl_->forward(input);
}
GraphBoundary GraphStage::seed(std::int64_t position, std::int64_t wrong, std::int64_t correct) {
  return impl_->seed(position, wrong, correct);
}
GraphBoundary GraphStage::backward(const GraphBoundary& top) {
  return impl_->backward(top);
}
GraphPart GraphStage::part() const {
  return impl_->part();
}

Graph build_graph(const model::DecoderModel& model, const at::Tensor& ids, std::int64_t position,
                  std::int64_t wrong, std::int64_t correct, const GraphOptions& options) {
  if (!model.has_embedding() || !model.has_head())
    throw Error("an attribution graph needs the whole model (all layers, embedding and head)");
  const std::int64_t t = ids.size(0);
  if (t == 0) throw Error("no tokens to build a graph over");
  if (position < 0 || position >= t)
    throw Error("the explained position " + std::to_string(position) + " is outside the " +
                std::to_string(t) + " tokens");
  check_options(options);
  GraphPlan plan =
      options.plan ? *options.plan : plan_graph(model.config(), t, options, model.compute().dtype);
  // The whole model is one stage.
  GraphStage stage(model, options, std::move(plan));
  stage.forward(ids);
  stage.backward(stage.seed(position, wrong, correct));
  return merge_graph_parts({stage.part()}, model.config());
}

}  // namespace clrp::graph
