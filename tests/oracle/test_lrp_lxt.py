"""clrp's relevance against LXT 2.1 (via lrp_reference.py) on tiny Llama models.

Tolerances from issue 5: relative L2 ≤ 1e-3 in fp32 and identical top-10 tokens,
for token relevance and per-layer residual relevance. (More prompts, long
inputs and SmolLM2 come with the rest of the LRP issue.)"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

import lrp_reference
from tiny_models import load_reference, make_llama
from numeric import rel_l2

PROMPTS = ["Question: What is the capital of France? Answer:",
           "Which of these is a mammal? A. shark B. whale C. trout D. eel. Answer:"]



@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp", "grad-x-input"])
@pytest.mark.parametrize("variant", ["llama_gqa_untied", "llama_mha_tied"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_relevance_equals_lxt(rule, variant, prompt, clrp_bin, tmp_path):
    path = make_llama(variant)
    out = tmp_path / "e.json"
    subprocess.run([str(clrp_bin), "explain", "--model", str(path), "--prompt", prompt, "--correct", " Paris",
                    "--rule", rule, "--json", str(out)], check=True, capture_output=True, text=True)
    got = json.loads(out.read_text())
    ref = lrp_reference.contrastive_relevance(load_reference(path), got["ids"], len(got["ids"]) - 1,
                                              got["wrong"]["id"], got["correct"]["id"], rule)
    assert got["target"] == pytest.approx(float(ref["target"]), rel=1e-5, abs=1e-5)
    tok, want = np.array(got["token_relevance"]), ref["token_relevance"]
    assert rel_l2(tok, want) <= 1e-3
    k = min(10, len(tok))
    assert set(np.argsort(-np.abs(tok))[:k]) == set(np.argsort(-np.abs(want))[:k])
    assert rel_l2(got["layer_relevance"], ref["layer_relevance"]) <= 1e-3
    assert rel_l2(got["mid_relevance"], ref["mid_relevance"]) <= 1e-3


@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp"])
def test_layer_conservation_equals_lxt(rule, clrp_bin, tmp_path):
    """clrp's per-layer account (relevance in, out, non-conserved rest) equals the same sums of LXT's relevance."""
    path = make_llama("llama_gqa_untied")
    out = tmp_path / "e.json"
    subprocess.run([str(clrp_bin), "explain", "--model", str(path), "--prompt", PROMPTS[1], "--correct", " Paris",
                    "--rule", rule, "--json", str(out)], check=True, capture_output=True, text=True)
    got = json.loads(out.read_text())
    ref = lrp_reference.contrastive_relevance(load_reference(path), got["ids"], len(got["ids"]) - 1,
                                              got["wrong"]["id"], got["correct"]["id"], rule)
    sums = [ref["token_relevance"].sum()] + [row.sum() for row in ref["layer_relevance"]]
    scale = abs(got["target"])
    for layer in got["layer_conservation"]:
        l = layer["layer"]
        assert layer["bias_absorbed"] == 0.0
        assert layer["relevance_in"] == pytest.approx(sums[l], abs=1e-5 * scale)
        assert layer["relevance_out"] == pytest.approx(sums[l + 1], abs=1e-5 * scale)
        assert layer["non_conserved"] == pytest.approx(sums[l + 1] - sums[l], abs=1e-5 * scale)
    if rule == "cp-lrp":
        assert all(abs(layer["non_conserved"]) <= 1e-5 * scale for layer in got["layer_conservation"])
