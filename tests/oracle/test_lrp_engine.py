"""Structural properties of clrp's LRP engine (no external reference needed):
multi-target batches equal single runs, pipeline-style split backward equals
the whole-model backward, and relevance is accounted for (CP-LRP: tokens plus
what biases absorb equals Δℓ)."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tiny_models import make_llama

FIELDS = ["target", "token_relevance", "mid_relevance", "layer_relevance", "head_relevance", "bias_absorbed"]


def run_batch(tool, model, request, tmp_path, name="out"):
    req, out = tmp_path / f"{name}.req.json", tmp_path / f"{name}.json"
    req.write_text(json.dumps(request))
    subprocess.run([str(tool), str(model), str(req), str(out)], check=True, capture_output=True, text=True)
    got = json.loads(out.read_text())
    return {k: np.array(v["data"]).reshape(v["shape"]) for k, v in got.items() if v is not None}


def random_seeds(n, t, vocab, seed=0):
    rng = np.random.default_rng(seed)
    seeds = []
    for _ in range(n):
        w, c = rng.choice(vocab, size=2, replace=False)
        seeds.append({"position": int(rng.integers(0, t)), "wrong": int(w), "correct": int(c)})
    return seeds


def assert_close(a, b, rel, what):
    scale = max(np.abs(b).max(), 1e-12)
    err = np.abs(a - b).max() / scale
    assert err <= rel, f"{what}: max abs difference {err:.2e} of the largest magnitude > {rel}"


@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp", "grad-x-input"])
def test_32_seeds_in_one_pass_equal_32_single_runs(rule, build_tool, tmp_path):
    tool = build_tool("clrp_lrp_batch")
    model = make_llama("llama_gqa_untied")
    ids = np.random.default_rng(3).integers(0, 300, size=40).tolist()
    seeds = random_seeds(32, len(ids), 311)
    batch = run_batch(tool, model, {"ids": ids, "rule": rule, "seeds": seeds, "neurons": 8}, tmp_path, "batch")
    for i, s in enumerate(seeds):
        single = run_batch(tool, model, {"ids": ids, "rule": rule, "seeds": [s], "neurons": 8}, tmp_path, f"s{i}")
        for f in FIELDS + ["neuron_relevance"]:
            assert_close(batch[f][i], single[f][0], 1e-6, f"seed {i} {f}")
        assert np.array_equal(batch["neuron_ids"][i], single["neuron_ids"][0])


@pytest.mark.parametrize("split", [1, 2, 3])
@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp"])
def test_split_backward_equals_whole(split, rule, build_tool, tmp_path):
    """Explaining [a,L) and then [0,a) from the handed-over gradient equals explaining the whole model."""
    tool = build_tool("clrp_lrp_batch")
    model = make_llama("llama_mha_tied")
    ids = np.random.default_rng(5).integers(0, 300, size=33).tolist()
    req = {"ids": ids, "rule": rule, "seeds": random_seeds(4, len(ids), 311, seed=1), "neurons": 5}
    whole = run_batch(tool, model, req, tmp_path, "whole")
    parts = run_batch(tool, model, dict(req, split=split), tmp_path, "parts")
    for f in FIELDS + ["neuron_relevance", "neuron_ids"]:
        assert np.array_equal(whole[f], parts[f]), f


def test_cp_lrp_tokens_plus_biases_equal_target(build_tool, tmp_path):
    """With biases, CP-LRP stays exact once the relevance the biases absorb is counted."""
    tool = build_tool("clrp_lrp_batch")
    ids = np.random.default_rng(7).integers(0, 300, size=25).tolist()
    got = run_batch(tool, make_llama("llama_biases"), {"ids": ids, "rule": "cp-lrp",
                                                       "seeds": random_seeds(6, len(ids), 311, seed=2)}, tmp_path)
    target = got["target"]
    tokens = got["token_relevance"].sum(-1)
    absorbed = got["bias_absorbed"].sum(-1)
    assert np.all(np.abs(absorbed) > 1e-3 * np.abs(target)), "the biases should absorb something"
    np.testing.assert_allclose(tokens + absorbed, target, rtol=1e-4, atol=1e-5)
    # Layer by layer: relevance entering a layer = leaving it minus what its biases absorbed.
    layer_in = np.concatenate([tokens[:, None], got["layer_relevance"].sum(-1)[:, :-1]], axis=1)
    np.testing.assert_allclose(layer_in, got["layer_relevance"].sum(-1) - got["bias_absorbed"], rtol=1e-4, atol=1e-5)


def test_no_biases_absorb_nothing(build_tool, tmp_path):
    tool = build_tool("clrp_lrp_batch")
    ids = list(range(1, 20))
    got = run_batch(tool, make_llama("llama_gqa_untied"), {"ids": ids, "rule": "attnlrp",
                                                           "seeds": random_seeds(2, len(ids), 311)}, tmp_path)
    assert np.all(got["bias_absorbed"] == 0)
