"""An independent Python implementation of contrastive AttnLRP / CP-LRP / grad×input, without LXT.

Why: LXT 2.1 patches only llama, qwen2, qwen3, gemma3, gpt2 (and bert). For the other families clrp
supports (Mistral, OLMo-2, OLMo-3, GPT-NeoX) there is no LXT reference. This module re-implements each
family's forward pass as plain torch functions of the Hugging Face model's *weights and config* (no HF
module is called), with explicit switches, and applies the LRP rules inside that forward through a few
small autograd Functions of its own. It runs on every family, so on the LXT families it is
cross-checked against lrp_reference.py (tests/oracle/test_lrp_independent.py), and its plain forward
is checked against the HF logits (tests/oracle/test_tiny_families.py).

Rules (relevance of a state h = h ⊙ g, g the modified gradient; everything not listed: plain gradient)
--------------------------------------------------------------------------------------------------------
``"attnlrp"`` (AttnLRP, LXT 2.1 efficient mode)
  * RMSNorm: the factor rsqrt(mean(x²) + eps) is a constant (detached); the weight (w, or 1 + w for
    Gemma-3) is linear. Applies to every RMSNorm: block norms, final norm, per-head / full q/k norms.
  * LayerNorm: the std sqrt(var + eps) is a constant; the centring x − mean(x), weight and bias stay
    linear.
  * Element-wise activation y = act(x) (SiLU, GELU, GELU-tanh): identity rule,
    g_x = g_y · act(x) / (x + 1e-10) — LXT's stabiliser exactly: a plain +1e-10, no sign handling.
  * Gated product act(gate) ⊙ up: uniform rule, g_a = ½ g ⊙ b, g_b = ½ g ⊙ a.
  * Attention: the two matmuls S = Q Kᵀ and O = P V get the uniform rule (½ to each factor), softmax
    its plain gradient. Net effect: q and k get ¼, v ½ of the plain gradient (LXT divides q, k by 4 and
    v by 2 at the attention function's inputs, which is the same linear map). Scaling, masks, rotary,
    GQA repeats: plain (linear).
``"cp-lrp"``
  * Norms as above (constant factor).
  * Attention: q and k detached (the attention pattern P is a constant): g_V = Pᵀ g_O, no ½.
  * Gated MLP: the gate branch is detached (constant), the product is linear in `up`: no ½.
  * Non-gated MLP (GPT-2, GPT-NeoX): activation through the identity rule, as LXT's GPT-2 cp_LRP map
    does (it keeps the attnLRP MLP patch).
``"grad-x-input"``: plain autograd through the unmodified forward.

Families and where relevance is read
------------------------------------
token relevance: at the token embedding that enters the first block — for Gemma-3 after the
√hidden scale (as HF's scaled embedding module returns it; the scale is linear, so the value is the same
either way); for GPT-2 the *token* embedding wte[ids] only: the learned position embedding wpe is added
after it and its share is returned separately as ``position_relevance``.
``layer_relevance[l]``: the residual stream after block l. ``mid_relevance[l]``: the residual stream after
block l's attention residual add (Llama/Qwen/Mistral: input of post_attention_layernorm; OLMo-2/3: after
residual + post_attention_layernorm(attn); Gemma-3: after residual + post_attention_layernorm(attn), the
input of pre_feedforward_layernorm; GPT-2: input of ln_2; GPT-NeoX sequential: input of
post_attention_layernorm). GPT-NeoX with use_parallel_residual has no such state (attention and MLP read
the same block input and are added together), so ``mid_relevance`` is None there.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

RULES = ("attnlrp", "cp-lrp", "grad-x-input")
IDENTITY_EPS = 1e-10  # LXT 2.1 rules.identity_rule_implicit_fn: output / (input + 1e-10)


# --- rule primitives (own autograd Functions) ----------------------------------------------------------

class _IdentityRule(torch.autograd.Function):
    """y = fn(x); backward g_x = g_y · fn(x) / (x + 1e-10)."""

    @staticmethod
    def forward(ctx, x, fn):
        y = fn(x)
        ctx.save_for_backward(y / (x + IDENTITY_EPS))
        return y

    @staticmethod
    def backward(ctx, g):
        (ratio,) = ctx.saved_tensors
        return g * ratio, None


class _UniformProduct(torch.autograd.Function):
    """y = a ⊙ b; backward ½ g ⊙ b, ½ g ⊙ a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return 0.5 * g * b, 0.5 * g * a


class _UniformMatmul(torch.autograd.Function):
    """y = a @ b (batched); backward ½ g bᵀ, ½ aᵀ g."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return 0.5 * (g @ b.transpose(-1, -2)), 0.5 * (a.transpose(-1, -2) @ g)


class Rules:
    """The rule-dependent ops of the forward; everything else is plain torch."""

    def __init__(self, rule: str):
        if rule not in RULES and rule != "plain":
            raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
        self.rule = rule
        self.lrp = rule in ("attnlrp", "cp-lrp")

    def norm_factor(self, r: torch.Tensor) -> torch.Tensor:
        return r.detach() if self.lrp else r

    def activation(self, fn: Callable, x: torch.Tensor) -> torch.Tensor:
        """A non-gated MLP activation (GPT-2, GPT-NeoX): identity rule under both LRP rules."""
        return _IdentityRule.apply(x, fn) if self.lrp else fn(x)

    def gated(self, fn: Callable, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """act(gate) ⊙ up."""
        if self.rule == "attnlrp":
            return _UniformProduct.apply(_IdentityRule.apply(gate, fn), up)
        if self.rule == "cp-lrp":
            return fn(gate.detach()) * up
        return fn(gate) * up

    def attention(self, q, k, v, scale: float, mask: torch.Tensor, softcap: float | None = None):
        """softmax(q kᵀ · scale [softcapped] + mask) v; q [B,H,T,D], k/v [B,H,T,D] (already repeated)."""
        if self.rule == "cp-lrp":
            q, k = q.detach(), k.detach()
        matmul = _UniformMatmul.apply if self.rule == "attnlrp" else torch.matmul
        s = matmul(q, k.transpose(-1, -2)) * scale
        if softcap is not None:
            s = torch.tanh(s / softcap) * softcap
        p = torch.softmax(s + mask, dim=-1)
        return matmul(p, v)


# --- model description ---------------------------------------------------------------------------------

def _gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS: dict[str, Callable] = {
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_new": _gelu_new,
}

# model_type -> block layout
LAYOUTS = {
    "llama": "pre", "mistral": "pre", "qwen2": "pre", "qwen3": "pre",
    "olmo2": "post", "olmo3": "post",
    "gemma3_text": "sandwich",
    "gpt_neox": "neox",
    "gpt2": "gpt2",
}
FAMILIES = tuple(LAYOUTS)


@dataclasses.dataclass
class Spec:
    """Everything the functional forward switches on, read from the HF config (tests may alter it)."""
    model_type: str
    layout: str                      # pre | post | sandwich | neox | gpt2
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    scale: list[float]               # attention score scale per layer
    norm: str                        # rms | rms1p (Gemma: 1 + w) | layer
    eps: float
    qk_norm: str                     # none | head (per head, over head_dim) | full (over all heads)
    act: str
    gated: bool
    windows: list[int | None]        # sliding window per layer (None = full causal)
    rope: list[str | None]           # which rope table per layer ("global" / "local"), None = no rope
    rotary_dim: int
    embed_scale: float | None        # Gemma-3: sqrt(hidden)
    parallel_residual: bool          # GPT-NeoX
    attn_softcap: float | None
    final_softcap: float | None


def spec_of(config) -> Spec:
    mt = config.model_type
    if mt not in LAYOUTS:
        raise ValueError(f"no functional forward for model_type {mt!r}")
    if mt == "gpt2":
        h, nh, L = config.n_embd, config.n_head, config.n_layer
        hd = h // nh
        if config.reorder_and_upcast_attn or getattr(config, "add_cross_attention", False):
            raise NotImplementedError("GPT-2 reorder_and_upcast_attn / cross attention")
        scale = [(hd ** -0.5 if config.scale_attn_weights else 1.0)
                 / (float(i + 1) if config.scale_attn_by_inverse_layer_idx else 1.0) for i in range(L)]
        return Spec(mt, "gpt2", L, nh, nh, hd, scale, "layer", config.layer_norm_epsilon, "none",
                    config.activation_function, False, [None] * L, [None] * L, 0, None, False, None, None)
    L, nh = config.num_hidden_layers, config.num_attention_heads
    nkv = getattr(config, "num_key_value_heads", None) or nh
    hd = getattr(config, "head_dim", None) or config.hidden_size // nh
    layer_types = getattr(config, "layer_types", None)
    window = getattr(config, "sliding_window", None)
    if layer_types is not None:
        windows = [window if t == "sliding_attention" else None for t in layer_types]
    else:  # Mistral: every layer slides when sliding_window is set
        windows = [window] * L
    if mt == "gemma3_text":
        if getattr(config, "use_bidirectional_attention", False):
            raise NotImplementedError("Gemma-3 bidirectional attention")
        return Spec(mt, "sandwich", L, nh, nkv, hd, [config.query_pre_attn_scalar ** -0.5] * L, "rms1p",
                    config.rms_norm_eps, "head", config.hidden_activation, True, windows,
                    ["local" if w is not None else "global" for w in windows], hd, config.hidden_size ** 0.5,
                    False, config.attn_logit_softcapping, config.final_logit_softcapping)
    if mt == "gpt_neox":
        return Spec(mt, "neox", L, nh, nh, hd, [hd ** -0.5] * L, "layer", config.layer_norm_eps, "none",
                    config.hidden_act, False, [None] * L, ["global"] * L, int(hd * config.rotary_pct), None,
                    config.use_parallel_residual, None, None)
    if getattr(config, "mlp_bias", False) and mt != "llama":
        raise NotImplementedError("mlp_bias")
    rope = ["global"] * L
    if mt == "olmo3":  # sliding layers use default rope, full layers the configured rope_scaling
        rope = ["local" if t == "sliding_attention" else "global" for t in layer_types]
    qk = {"qwen3": "head", "olmo2": "full", "olmo3": "full"}.get(mt, "none")
    return Spec(mt, LAYOUTS[mt], L, nh, nkv, hd, [hd ** -0.5] * L, "rms", config.rms_norm_eps, qk,
                config.hidden_act, True, windows, rope, int(hd * getattr(config, "partial_rotary_factor", 1.0)),
                None, False, None, None)


def rope_tables(config, spec: Spec, T: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """cos, sin [T, rotary_dim] per rope kind. "global": the config's rope (with its rope_scaling);
    "local": Gemma-3 local layers (rope_local_base_freq, no scaling) / OLMo-3 sliding layers (default).
    Default rope: inv_freq_i = theta^(−2i/rotary_dim); scaled ropes take transformers' tables."""
    out = {}
    pos = torch.arange(T, dtype=torch.float32)
    d = spec.rotary_dim
    for kind in set(r for r in spec.rope if r is not None):
        rope_type, theta = "default", config.rope_theta
        if kind == "global":
            rs = getattr(config, "rope_scaling", None)
            if isinstance(rs, dict):
                rope_type = rs.get("rope_type", rs.get("type", "default"))
        elif spec.model_type == "gemma3_text":
            theta = config.rope_local_base_freq
        if rope_type == "default":
            inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
            attention_scaling = 1.0
        else:  # llama3, linear, yarn, ...: transformers' own frequency tables
            inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS[rope_type](config, None)
            assert 2 * inv_freq.numel() == d
        freqs = pos[:, None] * inv_freq.float()[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        out[kind] = (emb.cos() * attention_scaling, emb.sin() * attention_scaling)
    return out


def _rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def _apply_rope(x, cos, sin):
    """x [B,H,T,D]; rotary on the first cos.shape[-1] features (GPT-NeoX: partial), the rest passes."""
    d = cos.shape[-1]
    xr, xp = x[..., :d], x[..., d:]
    xr = xr * cos + _rotate_half(xr) * sin
    return torch.cat([xr, xp], dim=-1) if xp.shape[-1] else xr


def _mask(T: int, window: int | None) -> torch.Tensor:
    """Additive mask [T, T]: key j visible from query i iff j ≤ i and (no window or j > i − window)."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    ok = j <= i
    if window is not None:
        ok &= j > i - window
    return torch.where(ok, 0.0, torch.finfo(torch.float32).min)


def _linear(x, mod):
    """nn.Linear weights (y = x Wᵀ + b)."""
    return F.linear(x, mod.weight, mod.bias)


def _conv1d(x, mod):
    """GPT-2's Conv1D: weight [in, out], y = x W + b."""
    return x @ mod.weight + mod.bias


# --- the functional forward ----------------------------------------------------------------------------

class _Forward:
    def __init__(self, model: transformers.PreTrainedModel, spec: Spec, rules: Rules):
        self.m, self.cfg, self.s, self.r = model, model.config, spec, rules
        self.act = ACTIVATIONS[spec.act]

    # norms
    def rms(self, x, mod, eps=None):
        eps = self.s.eps if eps is None else eps
        r = self.r.norm_factor(torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
        w = mod.weight
        if self.s.norm == "rms1p":
            return (x * r) * (1.0 + w)
        return w * (x * r)

    def ln(self, x, mod):
        if not self.r.lrp:  # the unmodified forward: the same fused kernel as nn.LayerNorm
            return F.layer_norm(x, (x.shape[-1],), mod.weight, mod.bias, self.s.eps)
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        std = self.r.norm_factor(torch.sqrt(var + self.s.eps))
        return (x - mean) / std * mod.weight + mod.bias

    def norm(self, x, mod):
        return self.ln(x, mod) if self.s.norm == "layer" else self.rms(x, mod)

    # attention core: q [B,T,nh*D] etc. already projected; returns [B,T,nh*D]
    def attend(self, i, q, k, v, T, ropes):
        s = self.s
        B = q.shape[0]
        q = q.view(B, T, s.n_heads, s.head_dim).transpose(1, 2)
        k = k.view(B, T, s.n_kv_heads, s.head_dim).transpose(1, 2)
        v = v.view(B, T, s.n_kv_heads, s.head_dim).transpose(1, 2)
        return self.attend_heads(i, q, k, v, T, ropes, B)

    def attend_heads(self, i, q, k, v, T, ropes, B):
        s = self.s
        if s.rope[i] is not None:
            cos, sin = ropes[s.rope[i]]
            q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        rep = s.n_heads // s.n_kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        o = self.r.attention(q, k, v, s.scale[i], _mask(T, s.windows[i]), s.attn_softcap)
        return o.transpose(1, 2).reshape(B, T, s.n_heads * s.head_dim)

    def qkv_proj(self, i, attn, x, T, ropes):
        """Llama-style separate q/k/v projections with the family's q/k norm."""
        s = self.s
        B = x.shape[0]
        q, k, v = _linear(x, attn.q_proj), _linear(x, attn.k_proj), _linear(x, attn.v_proj)
        if s.qk_norm == "full":
            q, k = self.rms(q, attn.q_norm), self.rms(k, attn.k_norm)
        q = q.view(B, T, s.n_heads, s.head_dim).transpose(1, 2)
        k = k.view(B, T, s.n_kv_heads, s.head_dim).transpose(1, 2)
        v = v.view(B, T, s.n_kv_heads, s.head_dim).transpose(1, 2)
        if s.qk_norm == "head":
            q, k = self.rms(q, attn.q_norm), self.rms(k, attn.k_norm)
        return _linear(self.attend_heads(i, q, k, v, T, ropes, B), attn.o_proj)

    def gated_mlp(self, mlp, x):
        return _linear(self.r.gated(self.act, _linear(x, mlp.gate_proj), _linear(x, mlp.up_proj)), mlp.down_proj)

    def run(self, ids: torch.Tensor, record: bool):
        """Returns logits [T, V], the token embedding (leaf), position-embedding tensor or None, mids, outs."""
        s, m = self.s, self.m
        T = ids.shape[-1]
        ids = ids.view(1, T)
        ropes = rope_tables(self.cfg, s, T)
        mids, outs = [], []
        pos_emb = None
        if s.layout == "gpt2":
            tr = m.transformer
            emb = tr.wte.weight[ids]
            pos_emb = tr.wpe.weight[torch.arange(T)][None]
            if record:
                emb = emb.detach().requires_grad_(True)
                pos_emb = pos_emb.detach().requires_grad_(True)
            h = emb + pos_emb
            for i, blk in enumerate(tr.h):
                x = self.ln(h, blk.ln_1)
                q, k, v = _conv1d(x, blk.attn.c_attn).split(self.cfg.n_embd, dim=2)
                a = _conv1d(self.attend(i, q, k, v, T, ropes), blk.attn.c_proj)
                h = a + h
                mids.append(h)
                x = self.ln(h, blk.ln_2)
                mm = _conv1d(self.r.activation(self.act, _conv1d(x, blk.mlp.c_fc)), blk.mlp.c_proj)
                h = h + mm
                outs.append(h)
            hf = self.ln(h, tr.ln_f)
            logits = F.linear(hf, m.lm_head.weight)
            return logits[0], emb, pos_emb, mids, outs

        base = m.get_decoder() if s.layout != "neox" else m.gpt_neox
        table = base.embed_tokens.weight if s.layout != "neox" else base.embed_in.weight
        emb = table[ids]
        if s.embed_scale is not None:
            emb = emb * torch.tensor(s.embed_scale, dtype=emb.dtype)
        if record:
            emb = emb.detach().requires_grad_(True)
        h = emb
        for i, blk in enumerate(base.layers):
            if s.layout == "pre":
                h = h + self.qkv_proj(i, blk.self_attn, self.rms(h, blk.input_layernorm), T, ropes)
                mids.append(h)
                h = h + self.gated_mlp(blk.mlp, self.rms(h, blk.post_attention_layernorm))
            elif s.layout == "post":
                h = h + self.rms(self.qkv_proj(i, blk.self_attn, h, T, ropes), blk.post_attention_layernorm)
                mids.append(h)
                h = h + self.rms(self.gated_mlp(blk.mlp, h), blk.post_feedforward_layernorm)
            elif s.layout == "sandwich":
                a = self.qkv_proj(i, blk.self_attn, self.rms(h, blk.input_layernorm), T, ropes)
                h = h + self.rms(a, blk.post_attention_layernorm)
                mids.append(h)
                mm = self.gated_mlp(blk.mlp, self.rms(h, blk.pre_feedforward_layernorm))
                h = h + self.rms(mm, blk.post_feedforward_layernorm)
            elif s.layout == "neox":
                at = blk.attention
                x = self.ln(h, blk.input_layernorm)
                qkv = _linear(x, at.query_key_value).view(1, T, s.n_heads, 3 * s.head_dim).transpose(1, 2)
                q, k, v = qkv.chunk(3, dim=-1)  # per head: [q | k | v]
                a = _linear(self.attend_heads(i, q, k, v, T, ropes, 1), at.dense)
                mlp = blk.mlp

                def neox_mlp(y):
                    return _linear(self.r.activation(self.act, _linear(y, mlp.dense_h_to_4h)), mlp.dense_4h_to_h)

                if s.parallel_residual:
                    h = neox_mlp(self.ln(h, blk.post_attention_layernorm)) + a + h
                else:
                    h = a + h
                    mids.append(h)
                    h = neox_mlp(self.ln(h, blk.post_attention_layernorm)) + h
            outs.append(h)
        final = base.norm if s.layout != "neox" else base.final_layer_norm
        hf = self.norm(h, final)
        head = m.get_output_embeddings().weight
        logits = F.linear(hf, head)
        if s.final_softcap is not None:
            logits = torch.tanh(logits / s.final_softcap) * s.final_softcap
        return logits[0], emb, pos_emb, mids, outs


def functional_logits(model: transformers.PreTrainedModel, ids, spec: Spec | None = None) -> torch.Tensor:
    """The plain functional forward's logits [T, V] (fp32, no grad)."""
    spec = spec_of(model.config) if spec is None else spec
    with torch.no_grad():
        return _Forward(model, spec, Rules("plain")).run(torch.as_tensor(ids), record=False)[0]


def _rel(x: torch.Tensor, g: torch.Tensor) -> np.ndarray:
    return (x.detach() * g).sum(-1)[0].double().numpy()


def independent_relevance(model: transformers.PreTrainedModel, ids, position: int, wrong: int, correct: int,
                          rule: str, record=("tokens", "layers", "mid"), spec: Spec | None = None,
                          check_forward: bool = True) -> dict:
    """Contrastive relevance of Δℓ = logit[wrong] − logit[correct] at `position` under `rule`.

    Returns numpy float64 copies of fp32 results, with lrp_reference's names:
      target (= delta, Δℓ), logit_wrong, logit_correct: scalars;
      token_relevance [T] ("tokens"); position_relevance [T] (GPT-2 only, learned positions);
      layer_relevance [L, T] ("layers"): residual stream after each block;
      mid_relevance [L, T] ("mid"): after each attention residual add; None for parallel residual.
    The model's parameters are only read (never given gradients). `check_forward`: first assert that the
    functional forward's logits at `position` equal the HF model's (max abs ≤ 1e-5).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    if wrong == correct:
        raise ValueError("wrong and correct tokens must differ")
    unknown = set(record) - {"tokens", "layers", "mid"}
    if unknown:
        raise ValueError(f"unknown record items {sorted(unknown)}")
    spec = spec_of(model.config) if spec is None else spec
    ids = torch.as_tensor(list(ids), dtype=torch.long)
    with torch.enable_grad():
        logits, emb, pos_emb, mids, outs = _Forward(model, spec, Rules(rule)).run(ids, record=True)
        if check_forward:
            with torch.no_grad():
                hf = model(ids[None], use_cache=False).logits[0, position]
            err = (logits[position].detach() - hf).abs().max().item()
            if not err <= 1e-5:
                raise AssertionError(f"functional forward differs from {type(model).__name__}: max abs {err:.2e}")
        target = logits[position, wrong] - logits[position, correct]
        want = {"tokens": [emb] + ([pos_emb] if pos_emb is not None else []),
                "layers": outs, "mid": mids}
        states = [t for key in ("tokens", "layers", "mid") if key in record for t in want[key]]
        grads = torch.autograd.grad(target, states, allow_unused=False)
    it = iter(zip(states, grads))
    out = {"target": np.float64(target.item()), "delta": np.float64(target.item()),
           "logit_wrong": np.float64(logits[position, wrong].item()),
           "logit_correct": np.float64(logits[position, correct].item())}
    if "tokens" in record:
        out["token_relevance"] = _rel(*next(it))
        if pos_emb is not None:
            out["position_relevance"] = _rel(*next(it))
    if "layers" in record:
        out["layer_relevance"] = np.stack([_rel(*next(it)) for _ in outs])
    if "mid" in record:
        out["mid_relevance"] = np.stack([_rel(*next(it)) for _ in mids]) if mids else None
    return out
