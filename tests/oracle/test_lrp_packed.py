"""Batched explanation (lrp/engine.hpp, model::Packing): short sequences packed along the token
axis and explained in one forward and one rule-modified backward equal each sequence explained
alone, to float32 rounding (below 4e-6 of the explanation's scale), on every family (sliding windows
shorter than the packed axis, learned positions, parallel residuals, q/k norms), with two seeds
per sequence, every rule, and through a two-stage split (the seam carries the packed gradient)."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
import torch

from tiny_models import make_family, make_llama

# One variant per family (and the window variants: their windows of 16 are shorter than the
# packed axis but not than each sequence, so a window that leaked across sequences would show).
VARIANTS = ["llama_gqa_untied", "qwen2_swa", "qwen3", "mistral", "olmo2", "olmo3", "gemma3_swa16",
            "gpt_neox_parallel", "gpt_neox_sequential", "gpt2"]
LENGTHS = (9, 23, 4, 17)


def model_path(variant: str):
    return make_llama(variant) if variant.startswith("llama") else make_family(variant)


def request(vocab: int, rule: str, split: int = 0) -> dict:
    g = torch.Generator().manual_seed(7)
    pack = []
    for n in LENGTHS:
        ids = torch.randint(3, vocab, (n,), generator=g).tolist()
        w, c = torch.randint(3, vocab, (2,), generator=g).tolist()
        c = c if c != w else (w + 1) % vocab
        # Two seeds: the last token and one inside (counted from the end for the last).
        pack.append({"ids": ids, "seeds": [{"position": -1, "wrong": w, "correct": c},
                                           {"position": n // 2, "wrong": c, "correct": w}]})
    return {"pack": pack, "rule": rule, "neurons": 3, "split": split}


def run(build_tool, path, req, tmp_path) -> dict:
    r, out = tmp_path / "req.json", tmp_path / "out.json"
    r.write_text(json.dumps(req))
    subprocess.run([str(build_tool("clrp_lrp_batch")), str(path), str(r), str(out)], check=True,
                   capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(out.read_text())


def assert_equal_explanations(packed: dict, alone: dict, where: str) -> None:
    """Every field within 4e-6 of the explanation's scale: the field's largest one-at-a-time value
    or |Δℓ|, at least 1 (the logits' scale; relevance decomposes Δℓ). A packed forward multiplies
    matrices of more rows than each sequence's own, and BLAS kernels block by rows: on one
    thread the two are equal bit for bit on some CPUs (AVX2) and differ by float32 rounding on
    others (measured on an AVX-512 Xeon: at most 1.4e-6 of the scale, 2.7e-6 of a field's own
    largest value)."""
    scale = max(max(abs(x) for x in alone["target"]["data"]), 1.0)
    for key, a in alone.items():
        p = packed[key]
        if a is None:
            assert p is None, f"{where} {key}"
            continue
        assert p["shape"] == a["shape"], f"{where} {key}"
        if key == "neuron_ids":
            continue  # compared through neuron_relevance (equal values, ties may swap ids)
        x, y = np.array(p["data"]), np.array(a["data"])
        err = np.abs(x - y).max() / max(np.abs(y).max(), scale)
        assert err <= 4e-6, f"{where} {key}: {err:.2e}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_packed_equals_one_at_a_time(variant, build_tool, tmp_path):
    path = model_path(variant)
    vocab = json.loads((path / "config.json").read_text())["vocab_size"]
    got = run(build_tool, path, request(vocab, "attnlrp"), tmp_path)
    assert len(got["packed"]) == len(got["alone"]) == len(LENGTHS)
    for i, (p, a) in enumerate(zip(got["packed"], got["alone"])):
        assert_equal_explanations(p, a, f"{variant} sequence {i}")


@pytest.mark.parametrize("rule", ["cp-lrp", "grad-x-input"])
def test_packed_under_other_rules_and_stages(rule, build_tool, tmp_path):
    path = make_family("gemma3_swa16")
    vocab = json.loads((path / "config.json").read_text())["vocab_size"]
    got = run(build_tool, path, request(vocab, rule, split=2), tmp_path)
    for i, (p, a) in enumerate(zip(got["packed"], got["alone"])):
        assert_equal_explanations(p, a, f"{rule} split sequence {i}")
