"""Checks of the LRP oracle itself (tests/oracle/lrp_reference.py), before clrp is compared with it.

- grad-x-input equals an independent torch.autograd.grad computation (embeddings and hidden states);
- LXT 2.1's patch takes effect on transformers 4.57.6, every part of it (attention, MLP, norm), and is
  undone cleanly so that rules can be switched in one process;
- CP-LRP is conservative on bias-free models (every residual-stream state sums to Δℓ);
- AttnLRP: the last layer's relevance sums to Δℓ (final RMSNorm with detached rsqrt and lm_head are
  linear); the earlier layers do not (softmax);
- SmolLM2-135M (the shipped GGUF) runs through the oracle on a ~100-token benchmark prompt.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import tokenizers
import torch
import transformers
from transformers.models.llama import modeling_llama

import lrp_reference as lrp
from benchmark_prompts import benchmark_prompts
from tiny_models import make_llama

VARIANTS = ["llama_gqa_untied", "llama_mha_tied"]
LXT_RULES = ["attnlrp", "cp-lrp"]


@pytest.fixture(scope="module", params=VARIANTS)
def tiny(request):
    path = make_llama(request.param)
    return request.param, lrp.load_model(path), tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))


def prompts(tok: tokenizers.Tokenizer, vocab: int) -> list[list[int]]:
    """One random prompt and two real benchmark prompts (tokenized with the tiny model's tokenizer)."""
    g = torch.Generator().manual_seed(7)
    out = [torch.randint(0, vocab, (23,), generator=g).tolist()]
    for text in benchmark_prompts(2, seed=3):
        out.append(tok.encode(text).ids[-40:])
    return out


def contrast(model, ids: list[int], position: int, rank: int) -> tuple[int, int]:
    """(wrong, correct) = the model's top-1 and its `rank`-th best token (0-based) at `position`.

    A contrast from the model's own top-k, as in the study; not the runner-up, because a near-tie makes
    Δℓ so small that fp32 rounding in the relevance sums (~1e-6 absolute) dominates a relative error."""
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits[0, position]
    order = logits.topk(rank + 1).indices.tolist()
    return order[0], order[rank]


def cases(model, tok):
    for ids in prompts(tok, model.config.vocab_size):
        for position in (len(ids) - 1, len(ids) // 2):
            wrong, correct = contrast(model, ids, position, rank=4)
            yield ids, position, wrong, correct


def rel_err(got, want, scale=None) -> float:
    scale = np.abs(want).max() if scale is None else scale
    return float(np.abs(np.asarray(got) - np.asarray(want)).max() / scale)


def test_grad_x_input_equals_autograd(tiny):
    """Independent: autograd.grad of logit_w − logit_c on inputs_embeds and output_hidden_states, no hooks."""
    _, model, tok = tiny
    L = model.config.num_hidden_layers
    for ids, position, wrong, correct in cases(model, tok):
        got = lrp.contrastive_relevance(model, ids, position, wrong, correct, "grad-x-input")
        emb = model.get_input_embeddings()(torch.tensor([ids])).detach().requires_grad_(True)
        out = model(inputs_embeds=emb, output_hidden_states=True, use_cache=False)
        # hidden_states[i] for 1 ≤ i < L is decoder layer i−1's output; [L] is after the final norm.
        states = [emb, *out.hidden_states[1:L]]
        seed = torch.zeros(model.config.vocab_size)
        seed[wrong], seed[correct] = 1.0, -1.0
        grads = torch.autograd.grad(out.logits[0, position], states, grad_outputs=seed)
        want = [(s * g).sum(-1)[0].detach().double().numpy() for s, g in zip(states, grads)]
        target = float(out.logits[0, position, wrong] - out.logits[0, position, correct])
        assert got["target"] == pytest.approx(target, rel=1e-6)
        assert got["logit_wrong"] == pytest.approx(float(out.logits[0, position, wrong]), rel=1e-6)
        assert rel_err(got["token_relevance"], want[0]) <= 1e-6
        assert np.array_equal(got["token_relevance"], got["embedding_relevance"])
        assert rel_err(got["layer_relevance"][: L - 1], np.stack(want[1:])) <= 1e-6
        assert got["mid_relevance"].shape == got["layer_relevance"].shape == (L, len(ids))
        # Causality: tokens after `position` get nothing, in every state.
        assert not got["token_relevance"][position + 1:].any()
        assert not got["mid_relevance"][:, position + 1:].any()
        assert not got["layer_relevance"][:, position + 1:].any()
        # Plain gradient through RMSNorm is scale-invariant: the last residual state carries ~0 in total
        # (only the eps in rsqrt(mean(x²) + eps) keeps it from being exactly 0).
        assert abs(got["layer_relevance"][-1].sum()) <= 1e-3 * np.abs(got["layer_relevance"]).max()


def test_patch_takes_effect_and_is_undone(tiny):
    """Each rule differs from the others; removing any one part of LXT's patch map changes AttnLRP;
    LXT's attention wrapper is what LlamaAttention calls; after the context everything is restored."""
    _, model, tok = tiny
    pristine = (modeling_llama.eager_attention_forward, modeling_llama.ALL_ATTENTION_FUNCTIONS,
                modeling_llama.LlamaMLP.forward, modeling_llama.LlamaRMSNorm.forward, torch.nn.Dropout.forward,
                dict(transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS._local_mapping))
    ids, position, wrong, correct = next(cases(model, tok))
    res = {rule: lrp.contrastive_relevance(model, ids, position, wrong, correct, rule) for rule in lrp.RULES}
    for a, b in [("attnlrp", "grad-x-input"), ("attnlrp", "cp-lrp"), ("cp-lrp", "grad-x-input")]:
        assert rel_err(res[a]["token_relevance"], res[b]["token_relevance"]) > 1e-2, (a, b)
    for part in ("attention", "mlp", "norm"):
        partial = lrp.contrastive_relevance(model, ids, position, wrong, correct, "attnlrp", exclude=(part,))
        assert rel_err(partial["token_relevance"], res["attnlrp"]["token_relevance"]) > 1e-2, part
    # The attention rule specifically: LXT's wrapper is installed, and LlamaAttention calls it once per layer.
    for rule in LXT_RULES:
        with lrp.lxt_patched(model, rule):
            wrapped = modeling_llama.eager_attention_forward
            assert wrapped.__module__ == "lxt.efficient.patches"
            calls = []

            def spy(*args, **kwargs):
                calls.append(1)
                return wrapped(*args, **kwargs)

            modeling_llama.eager_attention_forward = spy  # restored by lxt_patched's exit
            again = lrp._run(model, ids, position, wrong, correct)
            assert len(calls) == model.config.num_hidden_layers
            assert np.array_equal(again["token_relevance"], res[rule]["token_relevance"])
    now = (modeling_llama.eager_attention_forward, modeling_llama.ALL_ATTENTION_FUNCTIONS,
           modeling_llama.LlamaMLP.forward, modeling_llama.LlamaRMSNorm.forward, torch.nn.Dropout.forward,
           dict(transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS._local_mapping))
    assert now == pristine
    assert not lrp.is_patched(model)
    # Switching back and forth in one process gives bit-identical results.
    for rule in ("grad-x-input", "attnlrp", "cp-lrp"):
        again = lrp.contrastive_relevance(model, ids, position, wrong, correct, rule)
        assert np.array_equal(again["token_relevance"], res[rule]["token_relevance"]), rule
        assert np.array_equal(again["layer_relevance"], res[rule]["layer_relevance"]), rule


def test_attnlrp_through_sdpa_registry_equals_eager(tiny):
    """LXT 2.1 replaces modeling_llama.ALL_ATTENTION_FUNCTIONS by a plain dict of wrapped functions;
    on transformers 4.57.6 LlamaAttention indexes that module global, so the SDPA path gets the same
    rule as eager (the oracle itself always uses eager)."""
    name, model, tok = tiny
    sdpa = transformers.AutoModelForCausalLM.from_pretrained(
        make_llama(name), dtype=torch.float32, attn_implementation="sdpa").eval()
    lrp.freeze(sdpa)
    ids, position, wrong, correct = next(cases(model, tok))
    for rule in LXT_RULES:
        want = lrp.contrastive_relevance(model, ids, position, wrong, correct, rule)
        with lrp.lxt_patched(sdpa, rule):
            got = lrp._run(sdpa, ids, position, wrong, correct)
        assert rel_err(got["token_relevance"], want["token_relevance"]) <= 1e-4, rule


def test_cp_lrp_is_conservative(tiny):
    """Bias-free model: CP-LRP makes the network linear in its input (q, k, gate and rsqrt detached), so
    every residual-stream state (embeddings, each mid, each layer output) sums to Δℓ."""
    name, model, tok = tiny
    worst = 0.0
    for ids, position, wrong, correct in cases(model, tok):
        r = lrp.contrastive_relevance(model, ids, position, wrong, correct, "cp-lrp")
        sums = np.concatenate([[r["token_relevance"].sum()], r["mid_relevance"].sum(1), r["layer_relevance"].sum(1)])
        err = float(np.abs(sums - r["target"]).max() / abs(r["target"]))
        worst = max(worst, err)
        assert err <= 1e-4, (sums, r["target"])
    print(f"{name}: CP-LRP worst relative conservation error {worst:.2e}")


def test_attnlrp_layer_sums(tiny):
    """AttnLRP: after the last layer only the final norm (rsqrt detached) and lm_head remain, both linear,
    so layer_relevance[-1] sums to Δℓ. Within a layer the MLP block conserves (identity rule on SiLU,
    product ÷2), so mid_relevance[l] and layer_relevance[l] have the same sum. Attention does not
    conserve (softmax)."""
    name, model, tok = tiny
    for ids, position, wrong, correct in cases(model, tok):
        r = lrp.contrastive_relevance(model, ids, position, wrong, correct, "attnlrp")
        target = r["target"]
        mid, layer = r["mid_relevance"].sum(1), r["layer_relevance"].sum(1)
        print(f"{name} T={len(ids)} pos={position}: Δℓ={target:.5f} tokens={r['token_relevance'].sum():.5f} "
              f"mid={np.round(mid, 5).tolist()} layer={np.round(layer, 5).tolist()}")
        assert layer[-1] == pytest.approx(target, rel=1e-5)
        assert np.allclose(mid, layer, rtol=1e-4, atol=1e-5 * abs(target))
        assert np.all(np.isfinite(r["token_relevance"]))


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf):
    folder, name = smollm2_gguf.parent, smollm2_gguf.name
    tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    return lrp.load_model(folder, gguf_file=name), tok


def test_smollm2_runs_through_oracle(smollm2):
    model, tok = smollm2
    text = next(p for p in benchmark_prompts(20, seed=5) if len(tok(p)["input_ids"]) >= 100)
    ids = tok(text)["input_ids"][:100]
    position = len(ids) - 1
    wrong, correct = contrast(model, ids, position, rank=1)
    for rule in lrp.RULES:
        start = time.perf_counter()
        r = lrp.contrastive_relevance(model, ids, position, wrong, correct, rule)
        took = time.perf_counter() - start
        sums = r["layer_relevance"].sum(1)
        print(f"SmolLM2 {rule}: {took:.2f}s T={len(ids)} Δℓ={r['target']:.5f} tokens={r['token_relevance'].sum():.5f} "
              f"layers={np.round(sums, 4).tolist()}")
        assert took < 60  # ~1.5 s on an idle 2-core machine; generous for a loaded CI box
        assert r["layer_relevance"].shape == (model.config.num_hidden_layers, len(ids))
        assert all(np.all(np.isfinite(v)) for v in r.values())
        if rule == "cp-lrp":
            assert r["token_relevance"].sum() == pytest.approx(r["target"], rel=1e-4)
        if rule != "grad-x-input":
            assert sums[-1] == pytest.approx(r["target"], rel=1e-4)
