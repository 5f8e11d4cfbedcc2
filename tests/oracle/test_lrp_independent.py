"""lrp_independent.py (own functional forward + own rule Functions, no LXT) against LXT 2.1.

- LXT families (llama, qwen2, qwen3, gemma3, gpt2; LXT's shipped patch maps through lrp_reference):
  AttnLRP and CP-LRP token, per-layer and mid relevance agree to relative L2 ≤ 1e-4 with identical
  top-10 tokens, on 5 prompts of 12 to 300 tokens (longer than the 16-token sliding windows);
- families LXT 2.1 does not patch (Mistral, OLMo-2, OLMo-3, GPT-NeoX): the same against maps composed
  of LXT's own patch functions (lrp_reference.composed_maps), on 3 prompts;
- every part of LXT's shipped map (attention, MLP, norm) takes effect on each LXT family on
  transformers 4.57.6, and is undone;
- conservation properties of the independent implementation on bias-free families.
Measured: every comparison agrees to ≤ 2e-6 (most bit-identical).
"""
from __future__ import annotations

import numpy as np
import pytest
import tokenizers
import torch
import transformers

import lrp_independent as li
import lrp_reference as lrp
from benchmark_prompts import benchmark_prompts
from tiny_models import load_family, make_family
from numeric import rel_l2

LXT_VARIANTS = ["llama_gqa_untied", "qwen2", "qwen2_swa", "qwen3", "gemma3_swa16", "gpt2"]
COMPOSED_VARIANTS = ["mistral", "olmo2", "olmo3_yarn", "gpt_neox_parallel", "gpt_neox_sequential"]
LXT_RULES = ["attnlrp", "cp-lrp"]
LENGTHS = [12, 40, 100, 170, 300]
TOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_torch_thread")



_models: dict = {}


def loaded(name):
    if name not in _models:
        path = make_family(name)
        _models[name] = (load_family(path), tokenizers.Tokenizer.from_file(str(path / "tokenizer.json")))
    return _models[name]


_texts: list[str] = []


def cases(name: str, n: int):
    """(ids, position, wrong, correct): real benchmark prompts cut to LENGTHS (the last tokens), read at
    the last position (the third prompt: its middle); the contrast is the model's top-1 against its 5th."""
    model, tok = loaded(name)
    if not _texts:
        _texts.extend(t for t in benchmark_prompts(40, seed=4) if len(t) > 900)
    lengths = LENGTHS if n == len(LENGTHS) else [LENGTHS[0], LENGTHS[2], LENGTHS[-1]][:n]
    for k, length in enumerate(lengths):
        ids = tok.encode(_texts[k]).ids[-length:]
        assert len(ids) == length
        position = len(ids) // 2 if k == 2 else len(ids) - 1
        with torch.no_grad():
            order = model(torch.tensor([ids]), use_cache=False).logits[0, position].topk(5).indices.tolist()
        yield ids, position, order[0], order[4]


def compare(name: str, rule: str, n: int, composed: bool):
    model, _ = loaded(name)
    worst = 0.0
    for ids, position, wrong, correct in cases(name, n):
        ref = lrp.contrastive_relevance(model, ids, position, wrong, correct, rule, composed=composed)
        got = li.independent_relevance(model, ids, position, wrong, correct, rule)
        assert got["target"] == pytest.approx(float(ref["target"]), rel=1e-5, abs=1e-6)
        errs = [rel_l2(got["token_relevance"], ref["token_relevance"]),
                rel_l2(got["layer_relevance"], ref["layer_relevance"])]
        if ref["mid_relevance"] is None:
            assert got["mid_relevance"] is None  # GPT-NeoX parallel residual
        else:
            errs.append(rel_l2(got["mid_relevance"], ref["mid_relevance"]))
        assert max(errs) <= TOL, (len(ids), errs)
        tok, want = got["token_relevance"], ref["token_relevance"]
        k = min(10, len(tok))
        assert set(np.argsort(-np.abs(tok))[:k]) == set(np.argsort(-np.abs(want))[:k])
        worst = max(worst, *errs)
    print(f"{name} {rule}: max relative L2 {worst:.1e}")


@pytest.mark.parametrize("rule", LXT_RULES)
@pytest.mark.parametrize("name", LXT_VARIANTS)
def test_equals_lxt(name, rule):
    compare(name, rule, len(LENGTHS), composed=False)


@pytest.mark.parametrize("rule", LXT_RULES)
@pytest.mark.parametrize("name", COMPOSED_VARIANTS)
def test_equals_composed_lxt_maps(name, rule):
    compare(name, rule, 3, composed=True)


def _pristine(model):
    modeling = __import__(type(model).__module__, fromlist=["_"])
    attrs = [(target, lrp._patched_method(p)) for target, p in lrp.patch_maps(model)["attnlrp"].items()
             if not isinstance(target, type(lrp))]
    return ([modeling.eager_attention_forward, modeling.ALL_ATTENTION_FUNCTIONS]
            + [vars(t).get(a) for t, a in attrs] + [torch.nn.LayerNorm.forward, torch.nn.Dropout.forward]
            + [dict(transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS._local_mapping)])


@pytest.mark.parametrize("name", ["qwen2", "qwen3", "gemma3", "gpt2"])
def test_every_part_of_lxt_patch_takes_effect(name):
    """On transformers 4.57.6, leaving out any one part of LXT's shipped map (attention, MLP, norm) changes
    AttnLRP; the rules differ from each other; everything is restored afterwards (Gemma3RMSNorm._norm,
    torch.nn.LayerNorm.forward included)."""
    model, _ = loaded(name)
    before = _pristine(model)
    ids, position, wrong, correct = next(cases(name, 3))
    full = lrp.contrastive_relevance(model, ids, position, wrong, correct, "attnlrp")["token_relevance"]
    for part in ("attention", "mlp", "norm"):
        partial = lrp.contrastive_relevance(model, ids, position, wrong, correct, "attnlrp", exclude=(part,))
        assert rel_l2(partial["token_relevance"], full) > 1e-2, part
    for rule in ("cp-lrp", "grad-x-input"):
        other = lrp.contrastive_relevance(model, ids, position, wrong, correct, rule)["token_relevance"]
        assert rel_l2(other, full) > 1e-2, rule
    assert _pristine(model) == before
    assert not lrp.is_patched(model)


@pytest.mark.parametrize("name", ["llama_gqa_untied", "qwen3", "mistral", "olmo2", "olmo3", "gemma3"])
def test_conservation_on_bias_free_families(name):
    """CP-LRP makes a bias-free network linear in its input: every residual state sums to Δℓ.
    AttnLRP: the final norm (constant factor) and the unembedding are linear, so the last layer sums
    to Δℓ; the MLP half of each block conserves (identity rule, ½ product; OLMo/Gemma's post-norms
    with constant factor are linear), so mid and layer sums agree. Attention does not conserve."""
    for ids, position, wrong, correct in cases(name, 3):
        model, _ = loaded(name)
        cp = li.independent_relevance(model, ids, position, wrong, correct, "cp-lrp")
        sums = np.concatenate([[cp["token_relevance"].sum()], cp["mid_relevance"].sum(1),
                               cp["layer_relevance"].sum(1)])
        assert np.abs(sums - cp["target"]).max() <= 1e-4 * abs(cp["target"]), sums
        at = li.independent_relevance(model, ids, position, wrong, correct, "attnlrp")
        mid, layer = at["mid_relevance"].sum(1), at["layer_relevance"].sum(1)
        assert layer[-1] == pytest.approx(at["target"], rel=1e-4)
        assert np.allclose(mid, layer, rtol=1e-4, atol=1e-5 * abs(at["target"]))
        assert not at["token_relevance"][position + 1:].any()
        assert rel_l2(at["token_relevance"], cp["token_relevance"]) > 1e-2
