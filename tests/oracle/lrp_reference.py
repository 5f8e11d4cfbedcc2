"""The Python reference ("oracle") of clrp's LRP engine: contrastive relevance through LXT 2.1.

Rules
-----
``"attnlrp"``      LXT 2.1 efficient mode, ``lxt.efficient.models.<family>.attnLRP``: gradient x input
                   with RMSNorm's rsqrt detached, the activation through LXT's identity rule, the gated
                   MLP product's gradient / 2, and in attention q / 4, k / 4, v / 2 (gradient only).
``"cp-lrp"``       LXT 2.1 ``cp_LRP``: RMSNorm's rsqrt detached, q, k and the MLP gate detached.
``"grad-x-input"`` plain autograd on the unpatched model.

LXT patches *classes and modules*, not model instances (``LlamaMLP.forward``, ``LlamaRMSNorm.forward``,
``torch.nn.Dropout.forward``, ``modeling_llama.eager_attention_forward`` and the attention-function
registry). So one model instance serves every rule: :func:`lxt_patched` applies LXT's own patch map
(``lxt.efficient.monkey_patch``) on entry and restores every patched attribute on exit, including the
process-wide ``transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS`` entries that CP-LRP's patch
overwrites in place. The patch is process-global while active: not thread-safe, not reentrant.

LXT 2.1 on transformers 4.57.6 (checked by tests/oracle/test_lrp_reference.py): the patch takes
effect. ``LlamaAttention.forward`` calls the module-global ``eager_attention_forward`` (which LXT
rebinds) for ``attn_implementation="eager"`` and looks other implementations up in the module-global
``ALL_ATTENTION_FUNCTIONS`` with ``[...]`` (which works on the plain dict LXT puts there).

Families: LXT 2.1 ships maps for llama, qwen2, qwen3, gemma3 (Gemma3ForCausalLM; its RMSNorm patch
replaces ``_norm``, not ``forward``, and is restored as such) and gpt2 (its LayerNorm patch replaces
``torch.nn.LayerNorm.forward`` process-wide while active). All take effect on transformers 4.57.6 (each
family's attention calls its module-global ``eager_attention_forward``; checked by
tests/oracle/test_lrp_independent.py). For Mistral, OLMo-2, OLMo-3 and GPT-NeoX, ``composed=True``
uses :func:`composed_maps`: maps built from LXT's own patch functions, not shipped by LXT.

Inputs are fp32 on CPU; models are loaded with eager attention and frozen parameters, so only
activations receive gradients. The seed is d(logit[wrong] - logit[correct]) at ``position``, i.e.
+1 on the wrong logit and -1 on the correct one (not ``logit.backward(logit)``).
"""
from __future__ import annotations

import contextlib
from functools import partial
import pathlib
import sys
import warnings
from typing import Iterator

import numpy as np
import torch
import transformers

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import lxt.efficient  # noqa: F401  (imports lxt.efficient.models, which imports torchvision)
    import lxt.efficient.models as lxt_models
from lxt.efficient import monkey_patch
from lxt.efficient import patches as lxt_patches
from lxt.efficient import rules as lxt_rules
from lxt.efficient.patches import patch_method

RULES = ("attnlrp", "cp-lrp", "grad-x-input")
# Which patch map of the LXT family module each rule uses.
_PATCH_MAPS = {"attnlrp": "attnLRP", "cp-lrp": "cp_LRP"}
# Names accepted by lxt_patched(exclude=...): leave that part of LXT's patch map out (tests use it to
# show that each part is active).
PATCH_PARTS = ("attention", "mlp", "norm", "dropout")


def load_model(path: str | pathlib.Path, gguf_file: str | None = None) -> transformers.PreTrainedModel:
    """A causal LM in fp32, eager attention, eval mode, every parameter frozen."""
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
    return freeze(model)


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def lxt_family(model: torch.nn.Module):
    """The LXT module (e.g. lxt.efficient.models.llama) that patches this model's modeling module."""
    modeling = sys.modules[type(model).__module__]
    for name in ("llama", "qwen2", "qwen3", "gemma3", "gpt2", "bert"):
        family = getattr(lxt_models, name)
        if getattr(family, f"modeling_{name}", None) is modeling:
            return family
    raise ValueError(f"LXT 2.1 has no efficient-mode patch for {modeling.__name__}")


def _neox_mlp_forward(self, hidden_states):
    """LXT's GPT-2 MLP patch (identity rule on the activation) for GPTNeoXMLP's attribute names."""
    hidden_states = self.dense_h_to_4h(hidden_states)
    hidden_states = lxt_rules.identity_rule_implicit(self.act, hidden_states)
    return self.dense_4h_to_h(hidden_states)


def composed_maps(model: torch.nn.Module) -> dict[str, dict]:
    """Patch maps for families LXT 2.1 ships none for (Mistral, OLMo-2, OLMo-3, GPT-NeoX), composed only of
    LXT's own patch functions the way its llama (gated MLP, RMSNorm) and gpt2 (LayerNorm, plain MLP) maps
    are: {"attnlrp": map, "cp-lrp": map}. Not LXT's word: a second reference for lrp_independent.py."""
    modeling = sys.modules[type(model).__module__]
    mt = model.config.model_type
    if mt in ("mistral", "olmo2", "olmo3"):
        prefix = {"mistral": "Mistral", "olmo2": "Olmo2", "olmo3": "Olmo3"}[mt]
        mlp, norm = getattr(modeling, f"{prefix}MLP"), getattr(modeling, f"{prefix}RMSNorm")
        common = {norm: partial(patch_method, lxt_patches.rms_norm_forward),
                  torch.nn.Dropout: partial(patch_method, lxt_patches.dropout_forward)}
        return {"attnlrp": {mlp: partial(patch_method, lxt_patches.gated_mlp_forward), **common,
                            modeling: lxt_patches.patch_attention},
                "cp-lrp": {mlp: partial(patch_method, lxt_patches.cp_gated_mlp_forward), **common,
                           modeling: lxt_patches.patch_cp_attention}}
    if mt == "gpt_neox":
        common = {modeling.GPTNeoXMLP: partial(patch_method, _neox_mlp_forward),
                  torch.nn.LayerNorm: partial(patch_method, lxt_patches.layer_norm_forward),
                  torch.nn.Dropout: partial(patch_method, lxt_patches.dropout_forward)}
        return {"attnlrp": {**common, modeling: lxt_patches.patch_attention},
                "cp-lrp": {**common, modeling: lxt_patches.patch_cp_attention}}
    raise ValueError(f"no composed LXT patch map for {mt}")


def patch_maps(model: torch.nn.Module, composed: bool = False) -> dict[str, dict]:
    """{"attnlrp": map, "cp-lrp": map}: LXT 2.1's shipped maps for the model's family; with `composed`,
    composed_maps for the families LXT does not ship."""
    try:
        family = lxt_family(model)
    except ValueError:
        if not composed:
            raise
        return composed_maps(model)
    return {rule: getattr(family, name) for rule, name in _PATCH_MAPS.items()}


def _patched_method(patch) -> str:
    """The method a class patch of LXT replaces: "forward", or e.g. "_norm" (Gemma3RMSNorm)."""
    return getattr(patch, "keywords", {}).get("method_name", "forward")


def _part(target) -> str:
    if isinstance(target, type(sys)):
        return "attention"
    if target is torch.nn.Dropout:
        return "dropout"
    if "Norm" in target.__name__:
        return "norm"
    if "MLP" in target.__name__:
        return "mlp"
    raise ValueError(f"unknown LXT patch target {target!r}")


@contextlib.contextmanager
def lxt_patched(model: torch.nn.Module, rule: str, exclude: tuple[str, ...] = (),
                composed: bool = False) -> Iterator[dict]:
    """Applies LXT 2.1's patch map for `rule` ("attnlrp" or "cp-lrp") to `model`'s family and undoes it.

    `exclude` leaves parts of the map out ("attention", "mlp", "norm", "dropout"); for tests only.
    `composed` allows composed_maps for families LXT ships no map for.
    Yields the patch map that was applied.
    """
    if rule not in _PATCH_MAPS:
        raise ValueError(f"rule {rule!r} is not an LXT rule; one of {sorted(_PATCH_MAPS)}")
    unknown = set(exclude) - set(PATCH_PARTS)
    if unknown:
        raise ValueError(f"unknown patch parts {sorted(unknown)}")
    patch_map = {t: p for t, p in patch_maps(model, composed)[rule].items() if _part(t) not in exclude}

    saved: list[tuple[object, str, object, bool]] = []  # (owner, attr, value, owned)
    registry = transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS
    registry_local = dict(registry._local_mapping)
    for target, patch in patch_map.items():
        if isinstance(target, type(sys)):
            attrs = ("eager_attention_forward", "ALL_ATTENTION_FUNCTIONS")
        else:
            attrs = (_patched_method(patch),)
        for attr in attrs:
            owned = attr in vars(target)
            value = vars(target)[attr] if owned else getattr(target, attr)
            if getattr(value, "__module__", "") == "lxt.efficient.patches":
                raise RuntimeError(f"{target!r}.{attr} is already LXT-patched (nested lxt_patched?)")
            saved.append((target, attr, value, owned))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # LXT only warns when a patch fails: make that fatal
            monkey_patch(sys.modules[type(model).__module__], patch_map=patch_map)
        yield patch_map
    finally:
        for target, attr, value, owned in saved:
            if owned:
                setattr(target, attr, value)
            else:
                delattr(target, attr)
        registry._local_mapping.clear()
        registry._local_mapping.update(registry_local)


def is_patched(model: torch.nn.Module, composed: bool = False) -> bool:
    """Whether any of LXT's patch targets for this model's family is currently patched."""
    for target, patch in patch_maps(model, composed)["attnlrp"].items():
        if isinstance(target, type(sys)):
            fns = [target.eager_attention_forward]
        else:
            fns = [getattr(target, _patched_method(patch))]
        if any(getattr(f, "__module__", "") == "lxt.efficient.patches" for f in fns):
            return True
    return False


def _decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    decoder = model.get_decoder()  # LlamaModel, Qwen2Model, Gemma3TextModel, ...
    if hasattr(decoder, "layers"):
        return decoder.layers
    if hasattr(model, "gpt_neox"):
        return model.gpt_neox.layers
    return model.transformer.h  # GPT-2 (get_decoder returns the LM head model itself)


def _mid_module(layer: torch.nn.Module) -> torch.nn.Module | None:
    """The module whose input is the residual stream after the attention residual add.

    Llama, Qwen, Mistral, GPT-NeoX (sequential): post_attention_layernorm. Gemma-3 and OLMo-2/3 have a
    post_attention_layernorm too, but on the attention *output*: Gemma-3's MLP input norm is
    pre_feedforward_layernorm, OLMo's MLP reads the residual directly. GPT-2: ln_2. GPT-NeoX with a
    parallel residual has no such state: None."""
    if getattr(layer, "use_parallel_residual", False):
        return None
    if hasattr(layer, "pre_feedforward_layernorm"):
        return layer.pre_feedforward_layernorm
    if hasattr(layer, "post_feedforward_layernorm"):
        return layer.mlp
    if hasattr(layer, "ln_2"):
        return layer.ln_2
    return layer.post_attention_layernorm


def _relevance(x: torch.Tensor) -> np.ndarray:
    """h ⊙ g summed over the hidden dimension, for batch 0: [T]."""
    if x.grad is None:
        raise RuntimeError("no gradient reached a captured hidden state")
    return (x.detach() * x.grad).sum(-1)[0].double().cpu().numpy()


def _run(model, input_ids, position, wrong, correct):
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=next(model.parameters()).device)
    layers = _decoder_layers(model)
    mids: list[torch.Tensor | None] = [None] * len(layers)
    outs: list[torch.Tensor | None] = [None] * len(layers)
    hooks = []

    def capture_mid(i):
        # The MLP input norm's input is `residual + attn_out`, the tensor that is also the MLP
        # residual: its .grad is the total gradient of that residual-stream state.
        def hook(_module, args):
            args[0].retain_grad()
            mids[i] = args[0]
        return hook

    def capture_out(i):
        def hook(_module, _args, output):
            h = output if isinstance(output, torch.Tensor) else output[0]
            h.retain_grad()
            outs[i] = h
        return hook

    for i, layer in enumerate(layers):
        mid = _mid_module(layer)
        if mid is not None:
            hooks.append(mid.register_forward_pre_hook(capture_mid(i)))
        hooks.append(layer.register_forward_hook(capture_out(i)))
    try:
        with torch.enable_grad():
            emb = model.get_input_embeddings()(ids).detach().requires_grad_(True)
            logits = model(inputs_embeds=emb, use_cache=False).logits[0, position]
            target = logits[wrong] - logits[correct]
            target.backward()
    finally:
        for h in hooks:
            h.remove()
    token = _relevance(emb)
    return {
        "target": np.float64(target.item()),
        "logit_wrong": np.float64(logits[wrong].item()),
        "logit_correct": np.float64(logits[correct].item()),
        "token_relevance": token,
        "embedding_relevance": token.copy(),
        "mid_relevance": None if mids[0] is None else np.stack([_relevance(m) for m in mids]),
        "layer_relevance": np.stack([_relevance(o) for o in outs]),
    }


def contrastive_relevance(model: torch.nn.Module, input_ids: list[int], position: int, wrong: int,
                          correct: int, rule: str, exclude: tuple[str, ...] = (), composed: bool = False) -> dict:
    """Contrastive relevance of Δℓ = logit[wrong] − logit[correct] at `position` under `rule`.

    Returns numpy arrays (float64 copies of fp32 results):
      target, logit_wrong, logit_correct: scalars;
      token_relevance [T] = embedding_relevance [T]: embedding output ⊙ its gradient, summed over hidden;
      mid_relevance [L, T]: residual stream after each layer's attention residual add;
      layer_relevance [L, T]: residual stream after each decoder layer (after the MLP residual add).
    `exclude` (LXT rules only, for tests): parts of LXT's patch map to leave out, see lxt_patched.
    `composed`: allow composed_maps (Mistral, OLMo-2/3, GPT-NeoX), which LXT 2.1 does not ship.
    mid_relevance is None for GPT-NeoX with a parallel residual (no such state).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    if wrong == correct:
        raise ValueError("wrong and correct tokens must differ")
    if model.config._attn_implementation != "eager":
        raise ValueError("load the model with attn_implementation='eager' (see load_model)")
    if model.training:
        raise ValueError("model must be in eval mode")
    if not 0 <= position < len(input_ids) and not -len(input_ids) <= position < 0:
        raise IndexError(f"position {position} outside the {len(input_ids)} input tokens")
    freeze(model)
    if is_patched(model, composed):
        raise RuntimeError("model family is LXT-patched outside lrp_reference; unpatch it first")
    if rule == "grad-x-input":
        if exclude:
            raise ValueError("exclude only applies to LXT rules")
        return _run(model, input_ids, position, wrong, correct)
    with lxt_patched(model, rule, exclude, composed):
        return _run(model, input_ids, position, wrong, correct)
