"""Pipeline-parallel LRP (src/dist): 1, 2 and 4 stages give the whole model's numbers.

Reference: the single-process engine (clrp_lrp_batch: Engine::explain on the
whole model), itself checked against LXT and the independent implementation in
test_families.py / test_lrp_lxt*.py. The pipeline (clrp_pipeline_explain under
mpirun, oversubscribed on this machine) runs several micro-batches of different
lengths through the 1F1B schedule, under all three rules, recording every
output: token, layer×position and mid relevance, heads, top neurons, biases.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from numeric import rel_l2
from tiny_models import make_family, make_llama

RULES = ["attnlrp", "cp-lrp", "grad-x-input"]
FIELDS = ["target", "token_relevance", "mid_relevance", "layer_relevance", "head_relevance",
          "neuron_relevance", "bias_absorbed", "head_bias_absorbed", "position_relevance"]
TOL = 1e-5
MPI_ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1"}


def ids_of(n: int, vocab: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, vocab, n).tolist()


def cases_for(vocab: int, lengths=(7, 33, 45)) -> list[dict]:
    out = []
    for i, n in enumerate(lengths):
        rng = np.random.default_rng(100 + i)
        w, c = rng.choice(vocab, 2, replace=False).tolist()
        seeds = [{"position": n - 1, "wrong": w, "correct": c}]
        if n > 3:  # a second seed at another position: multi-target micro-batches
            seeds.append({"position": n // 2, "wrong": c, "correct": w})
        out.append({"ids": ids_of(n, vocab, seed=i), "seeds": seeds})
    return out


def run_pipeline(tool, model, request: dict, ranks: int, tmp: pathlib.Path) -> dict:
    req, out = tmp / f"pipe{ranks}.json", tmp / f"pipe{ranks}.out.json"
    req.write_text(json.dumps(request))
    r = subprocess.run(["mpirun", "-n", str(ranks), "--oversubscribe", str(tool), str(model), str(req), str(out)],
                       capture_output=True, text=True, env=MPI_ENV, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


def run_whole(tool, model, ids, seeds, rule, neurons, tmp: pathlib.Path) -> dict:
    req, out = tmp / "whole.json", tmp / "whole.out.json"
    req.write_text(json.dumps({"ids": ids, "seeds": seeds, "rule": rule, "neurons": neurons}))
    subprocess.run([str(tool), str(model), str(req), str(out)], check=True, capture_output=True, text=True)
    return json.loads(out.read_text())


def arr(v):
    return None if v is None else np.array(v["data"]).reshape(v["shape"])


def assert_same_explanation(got: dict, want: dict, where: str):
    for f in FIELDS:
        a, b = arr(got[f]), arr(want[f])
        assert (a is None) == (b is None), f"{where}: {f} recorded on one side only"
        if a is None:
            continue
        assert a.shape == b.shape, f"{where}: {f} shape {a.shape} vs {b.shape}"
        assert rel_l2(a, b) <= TOL, f"{where}: {f} differs by {rel_l2(a, b):.2e}"
    ga, gb = arr(got["neuron_ids"]), arr(want["neuron_ids"])
    if gb is not None:
        # Top-k ids can swap only where two neurons' relevance ties to rounding.
        assert (ga == gb).mean() >= 0.99, f"{where}: top neurons differ"


VARIANTS = ["llama_gqa_untied", "qwen3", "gemma3_swa16", "olmo2", "gpt_neox_parallel", "gpt2"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_stages_equal_the_whole_model(variant, build_tool, tmp_path):
    model = make_llama(variant) if variant.startswith("llama") else make_family(variant)
    vocab = json.loads((model / "config.json").read_text())["vocab_size"]
    cases = cases_for(vocab)
    request = {"cases": cases, "rules": RULES, "neurons": 5}
    whole = {(i, r): run_whole(build_tool("clrp_lrp_batch"), model, c["ids"], c["seeds"], rule, 5, tmp_path)
             for i, c in enumerate(cases) for r, rule in enumerate(RULES)}
    for ranks in (1, 2, 4):
        got = run_pipeline(build_tool("clrp_pipeline_explain"), model, request, ranks, tmp_path)
        assert len(got["split"]) == ranks and got["split"][0][0] == 0 and got["split"][-1][1] == 4
        assert got["transport"] == "mpi"
        for (i, r), want in whole.items():
            assert_same_explanation(got["cases"][i][r], want, f"{variant}, {ranks} stages, case {i}, {RULES[r]}")


def test_uneven_split_and_many_micro_batches(build_tool, tmp_path):
    """Stages of 1 and 3 layers, 6 micro-batches: more than the pipeline's depth."""
    model = make_family("qwen2")
    cases = cases_for(311, lengths=(5, 9, 20, 3, 40, 12))
    request = {"cases": cases, "rules": ["attnlrp"], "split": [1]}
    got = run_pipeline(build_tool("clrp_pipeline_explain"), model, request, 2, tmp_path)
    assert got["split"] == [[0, 1], [1, 4]]
    for i, c in enumerate(cases):
        want = run_whole(build_tool("clrp_lrp_batch"), model, c["ids"], c["seeds"], "attnlrp", 0, tmp_path)
        assert_same_explanation(got["cases"][i][0], want, f"case {i}")


def test_a_failing_micro_batch_fails_alone(build_tool, tmp_path):
    """A seed outside its tokens fails that case on the last stage; the others are unharmed."""
    model = make_family("olmo2")
    cases = cases_for(311, lengths=(9, 20, 12))
    cases[1]["seeds"][0]["position"] = 500
    request = {"cases": cases, "rules": ["attnlrp", "cp-lrp"]}
    for ranks in (1, 2, 4):
        got = run_pipeline(build_tool("clrp_pipeline_explain"), model, request, ranks, tmp_path)
        assert got["errors"][0] == "" and got["errors"][2] == ""
        assert f"stage {ranks - 1}:" in got["errors"][1] and "outside" in got["errors"][1]
        assert got["cases"][1] == []
        for i in (0, 2):
            want = run_whole(build_tool("clrp_lrp_batch"), model, cases[i]["ids"], cases[i]["seeds"], "cp-lrp", 0,
                             tmp_path)
            assert_same_explanation(got["cases"][i][1], want, f"{ranks} stages, case {i}")


def test_smollm2_stages(build_tool, smollm2_gguf, tmp_path):
    """SmolLM2-135M (30 layers) over 1, 2 and 4 stages, AttnLRP and CP-LRP."""
    cases = cases_for(49152, lengths=(64, 21))
    request = {"cases": cases, "rules": ["attnlrp", "cp-lrp"], "neurons": 8}
    ref = run_pipeline(build_tool("clrp_pipeline_explain"), smollm2_gguf, request, 1, tmp_path)
    for i, c in enumerate(cases):
        want = run_whole(build_tool("clrp_lrp_batch"), smollm2_gguf, c["ids"], c["seeds"], "attnlrp", 8, tmp_path)
        assert_same_explanation(ref["cases"][i][0], want, f"1 stage vs engine, case {i}")
    for ranks in (2, 4):
        got = run_pipeline(build_tool("clrp_pipeline_explain"), smollm2_gguf, request, ranks, tmp_path)
        sizes = [b - a for a, b in got["split"]]
        assert sum(sizes) == 30 and max(sizes) - min(sizes) <= 8, got["split"]
        for i in range(len(cases)):
            for r in range(2):
                assert_same_explanation(got["cases"][i][r], ref["cases"][i][r], f"{ranks} stages, case {i}, rule {r}")


def test_bad_split_is_refused(build_tool, tmp_path):
    model = make_family("qwen2")
    req, out = tmp_path / "req.json", tmp_path / "out.json"
    req.write_text(json.dumps({"cases": cases_for(311, (5,)), "rules": ["attnlrp"], "split": [0]}))
    r = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", str(build_tool("clrp_pipeline_explain")), str(model),
                        str(req), str(out)], capture_output=True, text=True, env=MPI_ENV, timeout=300)
    assert r.returncode != 0
    assert "layers [0,0)" in r.stderr or "at least one layer" in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("variant,ranks", [("qwen3", 2), ("gemma3_swa16", 3), ("gpt2", 2)])
def test_staged_decoding_equals_whole_model(build_tool, tmp_path, variant, ranks):
    """Incremental decoding through 2 and 3 stages (dist/staged_decoder.hpp: each stage holds
    its layers' part of the leader's KV caches) gives the whole model's logits bit for bit,
    through every fork the evaluator makes (a prompt, a truncated fork copied on write, the
    prompt repeated over rows, batched steps of three sequences), and the stages release the
    caches the leader dropped. Families: rotary with q/k norms, sliding windows of 16 tokens
    (past them), learned positions."""
    out = tmp_path / "out.json"
    r = subprocess.run(["mpirun", "-n", str(ranks), "--oversubscribe", str(build_tool("clrp_staged_decode")),
                        str(make_family(variant)), str(out)],
                       capture_output=True, text=True, env=MPI_ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["steps"] == 10
    assert got["equal"], got
    assert got["rooms_left"] == [1] * (ranks - 1), got
