"""The Python reference ("oracle") of clrp's cross-layer attribution graphs (PAPER.md, "Attribution graphs").

Nodes
-----
Hidden states at (layer, token), bottom to top, for a model of L decoder layers:

``"emb"``     the hidden state entering layer 0: the embedding output as block 0 reads it. Gemma-3: after
              the √hidden scale (HF's scaled embedding module). GPT-2: token + position embedding
              (wte[ids] + wpe[pos], after the embedding dropout, identity in eval). GPT-NeoX: after
              emb_dropout (identity in eval).
``"mid{l}"``  the residual stream after layer l's attention residual add (lrp_independent.py's
              mid_relevance): Llama/Qwen/Mistral/GPT-NeoX sequential: input of post_attention_layernorm;
              OLMo-2/3: residual + post_attention_layernorm(attn), the MLP's input; Gemma-3: residual +
              post_attention_layernorm(attn), the input of pre_feedforward_layernorm; GPT-2: input of ln_2.
              Absent for GPT-NeoX with use_parallel_residual.
``"out{l}"``  the output of block l (the residual stream after the MLP residual add).

Node relevance R_n[j] = Σ_k h_n[j,k] g_n[j,k], g the modified gradient of the main pass, seeded with
d(logit[wrong] − logit[correct]) at `position` (+1 / −1 on the two logits) under the LRP rule (LXT 2.1
patches through lrp_reference.lxt_patched; "grad-x-input": plain autograd).

Edges
-----
For consecutive node layers s → t (emb→mid0, mid0→out0, out0→mid1, ...; parallel residual: emb→out0,
out0→out1, ...), A[j, i] = Σ_k h_s[i,k] · ∂⟨h_t[j], g_t[j]⟩/∂h_s[i,k] (rows: target token j, columns:
source token i), with g_t held fixed. It is computed by recomputing the transition h_s → h_t from a
detached h_s with the family's own HF submodules (so LXT's patches apply inside), seeding the output's
gradient with g_t at row j only and taking (h_s ⊙ grad).sum(-1). Only rows j with |R_t[j]| >
node_threshold are computed (the reference study's ``real_target_rel.abs() > node_threshold``); with
node_threshold <= 0 every row is. ``batch=B`` packs B targets into one backward over B copies of the
transition (the reference study's batch packing); ``batch=1`` is one backward per target.

Each recomputed transition is checked against the main pass's node tensor, and the composition of all
transitions (plus the final norm and LM head) against the HF logits. Masks are built here (causal, plus
a sliding window of w keys k with q − w < k ≤ q on the layers that have one) and checked against the mask
HF passes to each layer; rotary tables come from the model's own rotary modules (Gemma-3: the local table
on sliding layers; OLMo-3: the table of the layer's attention type).

Identities that hold (tests/oracle/test_graph_reference.py): column sums Σ_j A[j,i] = R_s[i] when every
row is computed (g_s is the backward of g_t through the transition); under CP-LRP on a bias-free model the
transition is linear in h_s, so row sums Σ_i A[j,i] = R_t[j]; mid→out transitions are diagonal with
A[j,j] = R_mid[j].

Pruning (:func:`prune_reference`) is the plain specification the C++ implements.
"""
from __future__ import annotations

import contextlib
import inspect
import time
from typing import Callable, Iterator

import numpy as np
import torch

import lrp_reference as lrp

RULES = lrp.RULES
# Families LXT 2.1 ships no patch map for: lrp_reference.composed_maps (composed=True).
COMPOSED_FAMILIES = ("mistral", "olmo2", "olmo3", "gpt_neox")
# Batch of the packed entry point (PAPER.md: 32 under 1B parameters).
PACKED_BATCH = 32


def needs_composed(model: torch.nn.Module) -> bool:
    return model.config.model_type in COMPOSED_FAMILIES


def layout(model: torch.nn.Module) -> str:
    """pre (Llama, Qwen2/3, Mistral) | sandwich (Gemma-3) | post (OLMo-2/3) | gpt2 | neox_seq | neox_par."""
    mt = model.config.model_type
    if mt in ("llama", "mistral", "qwen2", "qwen3"):
        return "pre"
    if mt == "gemma3_text":
        return "sandwich"
    if mt in ("olmo2", "olmo3"):
        return "post"
    if mt == "gpt2":
        return "gpt2"
    if mt == "gpt_neox":
        return "neox_par" if model.config.use_parallel_residual else "neox_seq"
    raise ValueError(f"no attribution-graph reference for model_type {mt!r}")


def node_layers(model: torch.nn.Module) -> list[str]:
    n = len(lrp._decoder_layers(model))
    names = ["emb"]
    for l in range(n):
        if layout(model) != "neox_par":
            names.append(f"mid{l}")
        names.append(f"out{l}")
    return names


def _backbone(model: torch.nn.Module) -> torch.nn.Module:
    if hasattr(model, "gpt_neox"):
        return model.gpt_neox
    if hasattr(model, "transformer"):
        return model.transformer
    return model.get_decoder()


def _final_norm(model: torch.nn.Module) -> torch.nn.Module:
    bb = _backbone(model)
    for name in ("norm", "final_layer_norm", "ln_f"):
        if hasattr(bb, name):
            return getattr(bb, name)
    raise ValueError("no final norm found")


def layer_window(model: torch.nn.Module, l: int) -> int | None:
    """The sliding window (number of keys, including the query's own) of layer l, or None (full causal)."""
    config = model.config
    types = getattr(config, "layer_types", None)
    if types is not None and types[l] == "sliding_attention":
        return int(config.sliding_window)
    if config.model_type == "mistral" and config.sliding_window is not None:
        return int(config.sliding_window)
    return None


def causal_mask(T: int, window: int | None, dtype=torch.float32) -> torch.Tensor:
    """Additive mask [1, 1, T, T]: 0 where key k may be read by query q (k ≤ q, and q − window < k with a
    window), finfo.min elsewhere (as transformers' eager masks)."""
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    allowed = k <= q
    if window is not None:
        allowed &= k > q - window
    mask = torch.full((T, T), torch.finfo(dtype).min, dtype=dtype)
    mask[allowed] = 0.0
    return mask[None, None]


def _rope(model: torch.nn.Module, layer: torch.nn.Module, h: torch.Tensor, position_ids: torch.Tensor):
    """The (cos, sin) that HF passes to this layer's attention, from the model's own rotary modules."""
    bb = _backbone(model)
    mt = model.config.model_type
    if mt == "gpt2":
        return None
    if mt == "gemma3_text":
        module = bb.rotary_emb_local if layer.self_attn.is_sliding else bb.rotary_emb
    elif mt == "olmo3":
        module = bb.rotary_embs[layer.self_attn.attention_type]
    else:
        module = bb.rotary_emb
    return module(h, position_ids)


class _Layer:
    """The two halves of one decoder layer as functions of the residual stream (batched [B, T, H])."""

    def __init__(self, model, l: int, mask: torch.Tensor, pe):
        self.layer = lrp._decoder_layers(model)[l]
        self.kind = layout(model)
        self.mask, self.pe = mask, pe

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        """The attention branch's contribution to the residual stream (without the residual)."""
        ly, kind = self.layer, self.kind
        if kind == "pre":
            return ly.self_attn(hidden_states=ly.input_layernorm(x), position_embeddings=self.pe,
                                attention_mask=self.mask)[0]
        if kind == "sandwich":
            a = ly.self_attn(hidden_states=ly.input_layernorm(x), position_embeddings=self.pe,
                             attention_mask=self.mask)[0]
            return ly.post_attention_layernorm(a)
        if kind == "post":
            a = ly.self_attn(hidden_states=x, position_embeddings=self.pe, attention_mask=self.mask)[0]
            return ly.post_attention_layernorm(a)
        if kind == "gpt2":
            return ly.attn(ly.ln_1(x), attention_mask=self.mask)[0]
        # GPT-NeoX (both residual layouts)
        a = ly.attention(ly.input_layernorm(x), attention_mask=self.mask, position_embeddings=self.pe)[0]
        return ly.post_attention_dropout(a)

    def mlp(self, m: torch.Tensor) -> torch.Tensor:
        """The MLP branch's contribution, read from `m` (the mid state; the block input for NeoX parallel)."""
        ly, kind = self.layer, self.kind
        if kind == "pre":
            return ly.mlp(ly.post_attention_layernorm(m))
        if kind == "sandwich":
            return ly.post_feedforward_layernorm(ly.mlp(ly.pre_feedforward_layernorm(m)))
        if kind == "post":
            return ly.post_feedforward_layernorm(ly.mlp(m))
        if kind == "gpt2":
            return ly.mlp(ly.ln_2(m))
        return ly.post_mlp_dropout(ly.mlp(ly.post_attention_layernorm(m)))

    def part1(self, x):  # block input -> mid
        return x + self.attn(x)

    def part2(self, m):  # mid -> block output
        return m + self.mlp(m)

    def parallel(self, x):  # GPT-NeoX parallel residual: block input -> block output, HF's summation order
        return self.mlp(x) + self.attn(x) + x


def _rule_context(model, rule: str, composed: bool):
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    if rule == "grad-x-input":
        return contextlib.nullcontext()
    return lrp.lxt_patched(model, rule, composed=composed)


def _check_model(model):
    if model.config._attn_implementation != "eager":
        raise ValueError("load the model with attn_implementation='eager'")
    if model.training:
        raise ValueError("model must be in eval mode")
    if next(model.parameters()).dtype != torch.float32:
        raise ValueError("the graph reference runs in fp32")
    lrp.freeze(model)


def _bound_mask(layer: torch.nn.Module, args, kwargs):
    """The attention_mask argument of a decoder layer call, however it was passed."""
    bound = inspect.signature(layer.forward).bind_partial(*args, **kwargs)
    return bound.arguments.get("attention_mask")


def _main_pass(model, ids: list[int], position: int, wrong: int, correct: int):
    """Forward + contrastive backward with node tensors captured (retain_grad). The caller holds the rule
    context. Returns (names, {name: tensor with .grad}, target, logits [T, V], HF masks per layer)."""
    layers = lrp._decoder_layers(model)
    kind = layout(model)
    nodes: dict[str, torch.Tensor] = {}
    hf_masks: list = [None] * len(layers)
    hooks = []

    def keep(name, h):
        h.retain_grad()
        nodes[name] = h

    def layer_pre(l):
        def hook(module, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            if l == 0:
                keep("emb", h)
            hf_masks[l] = _bound_mask(module, args, kwargs)
        return hook

    def mid_pre(l):
        def hook(_module, args):
            keep(f"mid{l}", args[0])
        return hook

    def layer_post(l):
        def hook(_module, _args, output):
            keep(f"out{l}", output if isinstance(output, torch.Tensor) else output[0])
        return hook

    for l, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(layer_pre(l), with_kwargs=True))
        if kind != "neox_par":
            hooks.append(lrp._mid_module(layer).register_forward_pre_hook(mid_pre(l)))
        hooks.append(layer.register_forward_hook(layer_post(l)))
    ids_t = torch.tensor([list(ids)], dtype=torch.long)
    try:
        with torch.enable_grad():
            # The embedding output requires grad (parameters are frozen), so every node gets a gradient.
            emb = model.get_input_embeddings()(ids_t).detach().requires_grad_(True)
            logits = model(inputs_embeds=emb, use_cache=False).logits[0]
            target = logits[position, wrong] - logits[position, correct]
            target.backward()
    finally:
        for h in hooks:
            h.remove()
    names = node_layers(model)
    missing = [n for n in names if n not in nodes or nodes[n].grad is None]
    if missing:
        raise RuntimeError(f"no gradient reached nodes {missing}")
    return names, nodes, float(target.item()), logits.detach(), hf_masks


def _relevance(h: torch.Tensor) -> np.ndarray:
    return (h.detach().double() * h.grad.double()).sum(-1)[0].numpy()


def _transitions(model, names: list[str], T: int, hf_masks) -> list[tuple[str, str, Callable]]:
    """[(src, tgt, f)] in bottom-to-top order, f the recomputation of h_tgt from h_src."""
    layers = lrp._decoder_layers(model)
    kind = layout(model)
    position_ids = torch.arange(T)[None]
    probe = torch.zeros(1, T, 1)  # the rotary modules read only its dtype and device
    out = []
    prev = "emb"
    for l, layer in enumerate(layers):
        mask = causal_mask(T, layer_window(model, l))
        hf = hf_masks[l]
        if hf is None:
            raise RuntimeError(f"layer {l}: HF passed no attention mask (eager attention expected)")
        if hf.shape[-2:] != (T, T) or not torch.equal(hf[..., :T, :T] == 0, mask == 0) \
                or not torch.equal(hf[0, 0][hf[0, 0] != 0], mask[0, 0][mask[0, 0] != 0]):
            raise AssertionError(f"layer {l}: own mask (window {layer_window(model, l)}) differs from HF's")
        fl = _Layer(model, l, mask, _rope(model, layer, probe, position_ids))
        if kind == "neox_par":
            out.append((prev, f"out{l}", fl.parallel))
        else:
            out.append((prev, f"mid{l}", fl.part1))
            out.append((f"mid{l}", f"out{l}", fl.part2))
        prev = f"out{l}"
    assert [s for s, _, _ in out] + [out[-1][1]] == names
    return out


def _edge_matrix(f: Callable, h_s: torch.Tensor, h_t: torch.Tensor, g_t: torch.Tensor, rows: list[int],
                 batch: int, check_tol: float = 1e-5) -> np.ndarray:
    """A [T, T] (float64 copy of fp32 results) for the computed target rows; other rows 0."""
    T, H = h_s.shape[1], h_s.shape[2]
    A = np.zeros((T, T), dtype=np.float64)
    src = h_s.detach()
    scale = float(h_t.detach().abs().max())
    checked = False
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        x = src.expand(len(chunk), T, H).clone().requires_grad_(True)
        with torch.enable_grad():
            y = f(x)
            if not checked:  # the recomputation must reproduce the main pass's node tensor
                torch.testing.assert_close(y[:1].detach(), h_t.detach(), rtol=check_tol, atol=check_tol * scale)
                checked = True
            seed = torch.zeros_like(y)
            for b, j in enumerate(chunk):
                seed[b, j] = g_t[0, j]
            (grad,) = torch.autograd.grad(y, x, grad_outputs=seed)
        A[chunk] = (x.detach().double() * grad.double()).sum(-1).numpy()
        del x, y, seed, grad
    if not checked:  # no computed row: still check the recomputation once
        with torch.no_grad():
            torch.testing.assert_close(f(src), h_t.detach(), rtol=check_tol, atol=check_tol * scale)
    return A


def _rows(R_t: np.ndarray, node_threshold: float) -> list[int]:
    if node_threshold <= 0:
        return list(range(len(R_t)))
    return [int(j) for j in np.nonzero(np.abs(R_t) > node_threshold)[0]]


def _logits_from(model, h: torch.Tensor) -> torch.Tensor:
    logits = model.get_output_embeddings()(_final_norm(model)(h))
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


def iter_graph(model, ids: list[int], position: int, wrong: int, correct: int, rule: str = "attnlrp",
               batch: int = 1, node_threshold: float = 0.01, composed: bool = False) -> Iterator[dict]:
    """Yields the header {"node_layers", "relevance", "target", "transitions"} and then, per transition
    bottom to top, {"src", "tgt", "edges" (dense [T, T]), "computed" (rows), "seconds"}. Only one dense
    T×T is created per transition; a consumer that drops it keeps one alive at a time."""
    _check_model(model)
    if wrong == correct:
        raise ValueError("wrong and correct tokens must differ")
    if batch < 1:
        raise ValueError("batch must be ≥ 1")
    T = len(ids)
    if not -T <= position < T:
        raise IndexError(f"position {position} outside the {T} input tokens")
    position %= T
    if rule != "grad-x-input" and lrp.is_patched(model, composed):
        raise RuntimeError("model family is LXT-patched already")
    with _rule_context(model, rule, composed):
        names, nodes, target, logits, hf_masks = _main_pass(model, ids, position, wrong, correct)
        relevance = {n: _relevance(nodes[n]) for n in names}
        transitions = _transitions(model, names, T, hf_masks)
        # The composition of all transitions reproduces the HF logits.
        with torch.no_grad():
            h = nodes["emb"].detach()
            for _s, _t, f in transitions:
                h = f(h)
            composed_logits = _logits_from(model, h)[0]
        torch.testing.assert_close(composed_logits, logits, rtol=1e-5,
                                   atol=1e-5 * float(logits.abs().max()))
        yield {"node_layers": names, "relevance": relevance, "target": target,
               "transitions": [(s, t) for s, t, _ in transitions]}
        for s, t, f in transitions:
            start = time.perf_counter()
            rows = _rows(relevance[t], node_threshold)
            A = _edge_matrix(f, nodes[s], nodes[t], nodes[t].grad, rows, batch)
            yield {"src": s, "tgt": t, "edges": A, "computed": rows, "seconds": time.perf_counter() - start}


def reference_graph(model, ids: list[int], position: int, wrong: int, correct: int, rule: str = "attnlrp",
                    batch: int = 1, node_threshold: float = 0.01, composed: bool = False) -> dict:
    """The dense attribution graph: {"node_layers", "relevance" {name: [T]}, "edges" {(src, tgt): [T, T]}
    (rows target, columns source), "target" (Δℓ), "computed_targets" {(src, tgt): rows}}."""
    it = iter_graph(model, ids, position, wrong, correct, rule, batch, node_threshold, composed)
    head = next(it)
    graph = {"node_layers": head["node_layers"], "relevance": head["relevance"], "target": head["target"],
             "edges": {}, "computed_targets": {}}
    for tr in it:
        graph["edges"][(tr["src"], tr["tgt"])] = tr["edges"]
        graph["computed_targets"][(tr["src"], tr["tgt"])] = tr["computed"]
    return graph


def packed(model, ids: list[int], position: int, wrong: int, correct: int, rule: str = "attnlrp",
           batch: int = PACKED_BATCH, node_threshold: float = 0.01, composed: bool = False,
           keep_edges: bool = True) -> dict:
    """Batch-packed graph (default B = 32) for benchmarks: reference_graph's dict plus "seconds" {(src, tgt):
    time of that transition}. keep_edges=False drops each dense matrix once computed (only one T×T alive at
    a time; "edges" is then empty)."""
    it = iter_graph(model, ids, position, wrong, correct, rule, batch, node_threshold, composed)
    head = next(it)
    graph = {"node_layers": head["node_layers"], "relevance": head["relevance"], "target": head["target"],
             "edges": {}, "computed_targets": {}, "seconds": {}}
    for tr in it:
        key = (tr["src"], tr["tgt"])
        if keep_edges:
            graph["edges"][key] = tr["edges"]
        graph["computed_targets"][key] = tr["computed"]
        graph["seconds"][key] = tr["seconds"]
        del tr
    return graph


# --- pruning -------------------------------------------------------------------------------------------

def keep_mask(A: np.ndarray, p: float = 0.85, mode: str = "mass", edge_threshold: float | None = None) -> np.ndarray:
    """Boolean [T, T]: the edges of one transition that pruning keeps."""
    a = np.abs(np.asarray(A, dtype=np.float64))
    if mode == "threshold":
        if edge_threshold is None:
            raise ValueError("mode 'threshold' needs edge_threshold")
        return a > edge_threshold
    if mode != "mass":
        raise ValueError(f"mode must be 'mass' or 'threshold', not {mode!r}")
    flat = np.sort(a.ravel())[::-1]
    total = flat.sum()
    if total == 0:
        return np.zeros(a.shape, dtype=bool)
    cumsum = np.cumsum(flat)
    k = min(int(np.searchsorted(cumsum, p * total, side="left")), flat.size - 1)
    tau = flat[k]
    return (a >= tau) & (a > 0)


def prune_reference(graph: dict, position: int, p: float = 0.85, node_threshold: float = 0.01,
                    mode: str = "mass", edge_threshold: float | None = None) -> dict:
    """{"nodes": {(layer, pos)} ∪ {"target"}, "edges": {((src, i), (tgt, j)): signed weight}}.

    1. per transition, keep_mask (mass p, or |A| > edge_threshold);
    2. a node "target" (Δℓ) with one edge from (last out, position) of weight R_last[position];
    3. drop nodes with |R| < node_threshold (never "target" nor (last out, position)) with their edges;
    4. keep the ancestors of "target" through kept edges, and "target"."""
    names = graph["node_layers"]
    last = names[-1]
    T = len(graph["relevance"][names[0]])
    position %= T
    final = (last, position)
    rel = graph["relevance"]

    def alive(node) -> bool:
        if node == "target" or node == final:
            return True
        return abs(rel[node[0]][node[1]]) >= node_threshold

    edges: dict = {}
    for (s, t), A in graph["edges"].items():
        for j, i in zip(*np.nonzero(keep_mask(A, p, mode, edge_threshold))):
            u, v = (s, int(i)), (t, int(j))
            if alive(u) and alive(v):
                edges[(u, v)] = float(A[j, i])
    edges[(final, "target")] = float(rel[last][position])

    parents: dict = {}
    for u, v in edges:
        parents.setdefault(v, []).append(u)
    keep = {"target"}
    stack = ["target"]
    while stack:
        v = stack.pop()
        for u in parents.get(v, ()):
            if u not in keep:
                keep.add(u)
                stack.append(u)
    return {"nodes": keep, "edges": {e: w for e, w in edges.items() if e[0] in keep and e[1] in keep}}
