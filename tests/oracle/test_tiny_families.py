"""The tiny models of every family (tiny_models.make_family) and lrp_independent's functional forward.

- every variant builds, saves fp32 safetensors + tokenizer.json, and loads back in transformers;
- the functional forward of lrp_independent (plain torch on the weights) equals the HF logits (≤ 1e-5);
- its grad-x-input equals torch autograd input × gradient on the HF model (1e-6 relative), for the
  token embeddings, each attention residual state ("mid") and each block's output;
- the switch each variant exists for has an effect (flipping it in the functional forward changes the
  logits), so the equality above actually covers it.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tokenizers
import torch

import lrp_independent as li
from tiny_models import FAMILY_VARIANTS, family_of, load_family, make_family

VARIANTS = list(FAMILY_VARIANTS)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def loaded():
    cache = {}

    def get(name):
        if name not in cache:
            path = make_family(name)
            cache[name] = (path, load_family(path))
        return cache[name]

    return get


def inputs(path, vocab: int) -> list[list[int]]:
    """A real-text prompt (cycled to 150 tokens: longer than the sliding windows) and a random one."""
    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    text = tok.encode("Question: Which of these is a mammal? A. shark B. whale C. trout D. eel. Answer:").ids
    g = torch.Generator().manual_seed(11)
    return [(text * 10)[:150], torch.randint(0, vocab, (70,), generator=g).tolist()]


@pytest.mark.parametrize("name", VARIANTS)
def test_builds_and_loads(name, loaded):
    path, model = loaded(name)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model_type"] == family_of(name)
    assert (path / "model.safetensors").exists()
    assert not list(path.glob("*.bin"))
    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    assert tok.get_vocab_size() == model.config.vocab_size
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.parameters())
    assert model.config._attn_implementation == "eager"
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert tied == bool(model.config.tie_word_embeddings)
    # Non-degenerate: logits vary across positions and the prediction is not constant.
    with torch.no_grad():
        logits = model(torch.tensor([inputs(path, model.config.vocab_size)[1]])).logits[0]
    assert logits.std() > 0.3
    assert logits.argmax(-1).unique().numel() >= 3


@pytest.mark.parametrize("name", VARIANTS)
def test_functional_forward_equals_hf(name, loaded):
    path, model = loaded(name)
    for ids in inputs(path, model.config.vocab_size):
        with torch.no_grad():
            want = model(torch.tensor([ids]), use_cache=False).logits[0]
        got = li.functional_logits(model, ids)
        assert (got - want).abs().max().item() <= 1e-5


def _hf_states(model, spec: li.Spec):
    """HF modules whose output is a block's output / whose input is the mid residual state."""
    from lrp_reference import _decoder_layers, _mid_module
    return _decoder_layers(model), [_mid_module(layer) for layer in _decoder_layers(model)]


@pytest.mark.parametrize("name", VARIANTS)
def test_grad_x_input_equals_autograd(name, loaded):
    """Independent of lrp_reference's _run: hooks capture the HF tensors, torch.autograd.grad takes
    d(logit_w − logit_c) with respect to them."""
    path, model = loaded(name)
    spec = li.spec_of(model.config)
    layers, mid_modules = _hf_states(model, spec)
    ids = inputs(path, model.config.vocab_size)[0][:120]
    position = len(ids) - 1
    with torch.no_grad():
        order = model(torch.tensor([ids])).logits[0, position].topk(5).indices.tolist()
    wrong, correct = order[0], order[4]
    got = li.independent_relevance(model, ids, position, wrong, correct, "grad-x-input")

    outs, mids = [], []
    hooks = [layer.register_forward_hook(lambda m, a, o: outs.append(o if torch.is_tensor(o) else o[0]))
             for layer in layers]
    hooks += [mod.register_forward_pre_hook(lambda m, a: mids.append(a[0])) for mod in mid_modules if mod is not None]
    try:
        emb = model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb, use_cache=False).logits[0, position]
        target = logits[wrong] - logits[correct]
        grads = torch.autograd.grad(target, [emb, *outs, *mids])
    finally:
        for h in hooks:
            h.remove()
    rel = [(s.detach() * g).sum(-1)[0].double().numpy() for s, g in zip([emb, *outs, *mids], grads)]
    L = len(layers)

    def close(a, b):
        return np.abs(np.asarray(a) - b).max() <= 1e-6 * np.abs(b).max()

    assert got["target"] == pytest.approx(target.item(), rel=1e-6, abs=1e-6)
    assert close(got["token_relevance"], rel[0])
    assert close(got["layer_relevance"], np.stack(rel[1:L + 1]))
    if spec.parallel_residual:
        assert got["mid_relevance"] is None and not mids
    else:
        assert close(got["mid_relevance"], np.stack(rel[L + 1:]))
    assert not got["token_relevance"][position + 1:].any()


# name -> spec changes that undo the variant's switch (each must change the logits).
SWITCHES = {
    "qwen2_swa": dict(windows=[None] * 4),
    "qwen3": dict(qk_norm="none"),
    "mistral": dict(windows=[None] * 4),
    "olmo2": dict(qk_norm="none"),
    "olmo3": dict(windows=[None] * 4),
    "olmo3_yarn": dict(rope=["local"] * 4),  # default rope on the full layers too
    "gemma3": dict(rope=["global"] * 4, embed_scale=None, scale=[32 ** -0.5] * 4),
    "gemma3_swa16": dict(windows=[None] * 4),
    "gpt_neox_parallel": dict(parallel_residual=False, rotary_dim=16),
    "gpt_neox_sequential": dict(parallel_residual=True),
    "gpt2_untied_inv_layer": dict(scale=[16 ** -0.5] * 4),
}


@pytest.mark.parametrize("name", list(SWITCHES))
def test_switch_matters(name, loaded):
    path, model = loaded(name)
    ids = inputs(path, model.config.vocab_size)[0][:100]
    spec = li.spec_of(model.config)
    base = li.functional_logits(model, ids, spec)
    for field, value in SWITCHES[name].items():
        flipped = li.functional_logits(model, ids, dataclasses.replace(spec, **{field: value}))
        assert (flipped - base).abs().max().item() > 1e-2, field
