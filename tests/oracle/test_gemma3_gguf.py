"""Gemma-3-270M from its shipped GGUF (Q4_K_M) against transformers loading the same file.

Issue 6: max abs logit difference ≤ 2e-3 and the same top-1 on every prompt of a benchmark sample
(fp32; 100 prompts in CI, 200 when issue 6 was closed); relevance equal to LXT 2.1 (its Gemma-3 patch) at the LRP issue's
tolerances; bf16 compute with the same top-1 on a prompt sample.
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import transformers

import lrp_reference
from benchmark_prompts import benchmark_prompts
from reference_logits import compare_last_position
from test_forward_llama import clrp_logits


@pytest.fixture(scope="module")
def gemma(gguf_gemma3_path):
    folder, name = gguf_gemma3_path.parent, gguf_gemma3_path.name
    tok = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    ref = lrp_reference.load_model(folder, gguf_file=name)
    return tok, ref


def test_logits_equal_transformers_on_benchmark_prompts(gemma, gguf_gemma3_path, build_tool, tmp_path):
    tok, ref = gemma
    prompts = benchmark_prompts(100, seed=7)
    # The last 128 tokens of each prompt keep the test within CI's budget on 2 cores.
    ids = [tok(p)["input_ids"][-128:] for p in prompts]
    got = clrp_logits(build_tool("clrp_forward_logits"), gguf_gemma3_path, ids, tmp_path,
                      all_positions=False).reshape(len(ids), -1)
    worst, mismatched = compare_last_position(ref, ids, got)
    print(f"Gemma-3-270M GGUF vs transformers: max abs logit difference {worst:.3g} over {len(ids)} prompts")
    assert worst <= 2e-3
    assert not mismatched, f"top-1 differs on prompts {mismatched}"


@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp", "grad-x-input"])
def test_relevance_equals_lxt(rule, gemma, gguf_gemma3_path, build_tool, tmp_path):
    tok, ref = gemma
    # One short prompt and one past the 512-token sliding window of the local layers.
    for prompt in benchmark_prompts(2, seed=11, max_chars=4000)[:1] + [" ".join(benchmark_prompts(6, seed=3))]:
        ids = tok(prompt)["input_ids"][-700:]
        with torch.no_grad():
            wrong, correct = ref(torch.tensor([ids]), logits_to_keep=1).logits[0, -1].topk(2).indices.tolist()
        want = lrp_reference.contrastive_relevance(ref, ids, len(ids) - 1, wrong, correct, rule)
        req, out = tmp_path / "req.json", tmp_path / "out.json"
        req.write_text(json.dumps({"ids": ids, "rule": rule,
                                   "seeds": [{"position": len(ids) - 1, "wrong": wrong, "correct": correct}]}))
        subprocess.run([str(build_tool("clrp_lrp_batch")), str(gguf_gemma3_path), str(req), str(out)], check=True)
        got = json.loads(out.read_text())
        tok_rel = np.array(got["token_relevance"]["data"])
        w = np.asarray(want["token_relevance"])
        err = np.linalg.norm(tok_rel - w) / np.linalg.norm(w)
        print(f"Gemma-3-270M {rule} at {len(ids)} tokens: token relevance rel L2 {err:.2e}")
        assert err <= 1e-3
        assert set(np.argsort(-np.abs(tok_rel))[:10]) == set(np.argsort(-np.abs(w))[:10])
        layers = np.array(got["layer_relevance"]["data"]).reshape(got["layer_relevance"]["shape"])[0]
        assert np.linalg.norm(layers - want["layer_relevance"]) / np.linalg.norm(want["layer_relevance"]) <= 1e-3


def test_bfloat16_keeps_top1(gemma, gguf_gemma3_path, build_tool, tmp_path):
    """bf16 compute on 40 benchmark prompts: the same top-1 as transformers in bf16 wherever the
    reference's top-2 margin exceeds bf16 rounding, and as close to the fp32 logits as transformers'
    own bf16 is (bf16 runs of two implementations differ from each other by more than either
    differs from fp32, so fp32 is the yardstick; the figures go to docs/performance.md)."""
    tok, ref = gemma
    ids = [tok(p)["input_ids"][-128:] for p in benchmark_prompts(20, seed=9)]
    got = clrp_logits(build_tool("clrp_forward_logits"), gguf_gemma3_path, ids, tmp_path,
                      all_positions=False, extra=("--dtype", "bfloat16")).reshape(len(ids), -1)
    with torch.no_grad():
        fp32 = [ref(torch.tensor([s]), logits_to_keep=1).logits[0, -1].numpy() for s in ids]
        ref.to(torch.bfloat16)
        try:
            bf16 = [ref(torch.tensor([s]), logits_to_keep=1).logits[0, -1].float().numpy() for s in ids]
        finally:
            ref.to(torch.float32)
    flips = 0
    for g, want in zip(got, bf16):
        top2 = np.sort(want)[-2:]
        flips += top2[1] - top2[0] > 0.5 and int(g.argmax()) != int(want.argmax())
    ours = np.mean([np.abs(g - f).max() for g, f in zip(got, fp32)])
    theirs = np.mean([np.abs(b - f).max() for b, f in zip(bf16, fp32)])
    print(f"Gemma-3-270M bf16: mean max |logit - fp32| clrp {ours:.3g}, transformers {theirs:.3g}")
    assert flips == 0
    assert ours <= 1.5 * theirs
