"""Attribution graphs built stage by stage (include/clrp/graph/stage.hpp) equal the whole-model build.

clrp_graph_stages (tests/tools/graph_stages.cpp) runs the stages of an explicit layer split in one process,
hands the hidden states up and the boundaries (gradient, reachable nodes) down by hand, merges the parts and
writes the graph; without a split it calls build_graph on the whole model: the reference.

- Tiny models of six families (Llama with GQA, Qwen2 with biases, Gemma-3 with a 16-token window, OLMo-2
  with post-norms, GPT-NeoX with a parallel residual: no mid nodes, GPT-2 with learned positions; 4 layers),
  AttnLRP, CP-LRP and grad × input (which takes the packed edges; node threshold 0), 24 tokens of a real benchmark prompt
  seeded at the last token with clrp's own top-2 tokens: one stage through the stage API, 2 stages
  ([2] and the uneven [1]) and 4 stages ([1, 2, 3]); under AttnLRP also every memory plan (tapes kept or
  recomputed, dense or recomputed transitions, 4-row attention blocks) and the packed edges, each against
  the whole-model build of the same options.
- SmolLM2-135M (the shipped GGUF, fp32, 30 layers) at 64 tokens of real benchmark text, three rules,
  split 2 ways ([15]) and 4 ways ([8, 15, 23]); under AttnLRP also the leanest plan on 4 stages.

"Equal" (`assert_same_graph`): the same node layers, kept nodes and kept edges (as lists, in order), the
same per-transition counts, and every number (Δℓ, logits, node relevance and remainder per node layer,
edge weights, masses and cut-offs, decision profile) within 1e-5 relative to the largest magnitude of its
array. Stages run the same arithmetic on the same tensors, so the differences measured are 0.
Runtime (2 cores shared with other builds): tiny models ≈ 4 min, SmolLM2 ≈ 8 min.
"""
from __future__ import annotations

import json
import pathlib
import subprocess

import numpy as np
import pytest
import tokenizers

from benchmark_prompts import benchmark_prompts, clrp_token_ids
from tiny_models import make_family, make_llama

RULES = ["attnlrp", "cp-lrp", "grad-x-input"]
TINY = ["llama_gqa_untied", "qwen2", "gemma3_swa16", "olmo2", "gpt_neox_parallel", "gpt2"]
T_TINY = 24
TOL = 1e-5
TINY_SPLITS = [[], [2], [1], [1, 2, 3]]
# Memory plans and edge methods, each on 4 stages and on the whole model.
PLANS = [dict(keep_tapes=True, dense=True), dict(keep_tapes=False, dense=True),
         dict(keep_tapes=True, dense=False), dict(keep_tapes=False, dense=False, block=4), dict(batch=8)]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_tool(tool, model: pathlib.Path, request: dict, tmp_path: pathlib.Path, name: str) -> list[dict]:
    req, out = tmp_path / f"{name}.json", tmp_path / f"{name}.out.json"
    req.write_text(json.dumps(request))
    r = subprocess.run([str(tool), str(model), str(req), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, f"clrp_graph_stages failed ({r.returncode}): {r.stderr[-2000:]}"
    return json.loads(out.read_text())["runs"]


def top2(build_tool, model: pathlib.Path, ids: list[int], tmp_path: pathlib.Path) -> tuple[int, int]:
    """clrp's own two most likely next tokens after `ids` (wrong = top-1, correct = top-2)."""
    inp, out = tmp_path / "ids.jsonl", tmp_path / "logits.f32"
    inp.write_text(json.dumps({"ids": ids}) + "\n")
    subprocess.run([str(build_tool("clrp_forward_logits")), str(model), str(inp), str(out)], check=True,
                   capture_output=True)
    logits = np.fromfile(out, dtype=np.float32)
    first, second = np.argsort(-logits)[:2].tolist()
    return first, second


def rel_diff(got, want) -> float:
    """max |got − want| / max |want| (0 when both are all zero)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    if got.size == 0:
        return 0.0
    d = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    return d / scale if scale > 0 else (0.0 if d == 0 else float("inf"))


def assert_same_graph(got: dict, want: dict, what: str) -> float:
    """Asserts the two graphs equal (see the module's docstring); returns the largest relative difference."""
    assert got["node_layers"] == want["node_layers"], what
    assert got["tokens"] == want["tokens"] and got["position"] == want["position"], what
    diffs = {}
    for key in ("target", "wrong_logit", "correct_logit"):
        diffs[key] = rel_diff([got[key]], [want[key]])
    diffs["logits"] = rel_diff(got["logits"], want["logits"])
    for key in ("relevance", "remainder"):
        assert len(got[key]) == len(want[key]), f"{what}: {key} rows"
        for name, a, b in zip(want["node_layers"], got[key], want[key]):
            diffs[f"{key}.{name}"] = rel_diff(a, b)
    for key in ("contrast", "wrong", "correct"):
        diffs[f"decision.{key}"] = rel_diff(got["decision"][key], want["decision"][key])
    gn, wn = np.array(got["nodes"]).reshape(-1, 3), np.array(want["nodes"]).reshape(-1, 3)
    assert gn[:, :2].tolist() == wn[:, :2].tolist(), f"{what}: kept nodes differ"
    diffs["nodes"] = rel_diff(gn[:, 2], wn[:, 2])
    assert len(got["transitions"]) == len(want["transitions"]), what
    for gt, wt in zip(got["transitions"], want["transitions"]):
        name = f"{want['node_layers'][wt['source']]}->{want['node_layers'][wt['target']]}"
        for key in ("source", "target", "computed_targets", "pruned_edges"):
            assert gt[key] == wt[key], f"{what} {name}: {key} {gt[key]} != {wt[key]}"
        ge, we = np.array(gt["edges"]).reshape(-1, 3), np.array(wt["edges"]).reshape(-1, 3)
        assert ge[:, :2].tolist() == we[:, :2].tolist(), f"{what} {name}: kept edges differ"
        diffs[f"edges {name}"] = rel_diff(ge[:, 2], we[:, 2])
        for key in ("total_mass", "pruned_mass", "kept_mass", "threshold"):
            diffs[f"{key} {name}"] = rel_diff([gt[key]], [wt[key]])
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= TOL, f"{what}: {worst} differs by {diffs[worst]:.2e} (relative)"
    assert sum(t["total_mass"] > 0 for t in want["transitions"]) > 1, f"{what}: no edges computed"
    return diffs[worst]


def check_runs(runs: list[dict], request_runs: list[dict], what: str) -> float:
    """Each staged run against the whole-model run of the same options (the runs whose split is None)."""
    def options(r: dict) -> tuple:
        return tuple(sorted((k, json.dumps(v)) for k, v in r.items() if k != "split"))

    whole = {options(r): g for r, g in zip(request_runs, runs) if r.get("split") is None}
    worst = 0.0
    for r, g in zip(request_runs, runs):
        if r.get("split") is None:
            continue
        assert [b - a for a, b in g["split"]] and g["split"][0][0] == 0, g["split"]
        err = assert_same_graph(g, whole[options(r)], f"{what} split {r['split']} {options(r)}")
        print(f"{what} split {r['split']} {dict(options(r)) or 'default plan'}: max relative difference {err:.1e}")
        worst = max(worst, err)
    return worst


def node_threshold(rule: str) -> float:
    """Under grad × input the state below the final norm has relevance ≈ 0 (h · g of a scale-invariant
    norm's input; exactly 0 on some families): few or no edges reach the target, and the comparison rests
    on the unpruned numbers (relevance, remainders, masses). Threshold 0 computes every target row."""
    return 0.0 if rule == "grad-x-input" else 0.01


def tiny_ids(path: pathlib.Path) -> list[int]:
    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    text = next(t for t in benchmark_prompts(40, seed=4) if len(t) > 900)
    ids = tok.encode(text).ids[-T_TINY:]
    assert len(ids) == T_TINY
    return ids


@pytest.mark.parametrize("variant", TINY)
def test_tiny_stages_equal_the_whole_model(variant, build_tool, tmp_path):
    path = make_llama(variant) if variant.startswith("llama") else make_family(variant)
    ids = tiny_ids(path)
    wrong, correct = top2(build_tool, path, ids, tmp_path)
    for rule in RULES:
        runs = [{"split": s} for s in [None, *TINY_SPLITS]]
        if rule == "attnlrp":
            runs += [{**p, "split": s} for p in PLANS for s in (None, [1, 2, 3])]
        request = {"ids": ids, "position": T_TINY - 1, "wrong": wrong, "correct": correct, "rule": rule,
                   "mass": 0.85, "node_threshold": node_threshold(rule), "runs": runs}
        got = run_tool(build_tool("clrp_graph_stages"), path, request, tmp_path, f"{variant}_{rule}")
        names = got[0]["node_layers"]
        if variant == "gpt_neox_parallel":
            assert not any(n.startswith("mid") for n in names) and len(names) == 5
        else:
            assert len(names) == 9
        check_runs(got, runs, f"{variant} {rule}")
        if rule != "grad-x-input":
            assert all(len(g["nodes"]) > 1 for g in got), f"{variant} {rule}: an empty graph"


@pytest.fixture(scope="module")
def smollm2_ids(clrp_bin, tmp_path_factory):
    """64 tokens of real benchmark text, tokenized by clrp."""
    text = "\n\n".join(benchmark_prompts(40, seed=12)[:4])
    ids = clrp_token_ids(clrp_bin, [text], tmp_path_factory.mktemp("tok"))[0]
    assert len(ids) >= 64
    return ids[-64:]


# grad × input builds on the packed path (minutes at 64 tokens on SmolLM2); its stage
# split is checked on every tiny family above.
@pytest.mark.parametrize("rule", ["attnlrp", "cp-lrp"])
def test_smollm2_stages_equal_the_whole_model(rule, smollm2_ids, smollm2_gguf, build_tool, tmp_path):
    wrong, correct = top2(build_tool, smollm2_gguf, smollm2_ids, tmp_path)
    runs = [{"split": None}, {"split": [15]}, {"split": [8, 15, 23]}]
    if rule == "attnlrp":
        lean = dict(keep_tapes=False, dense=False, block=16)
        runs += [{**lean, "split": None}, {**lean, "split": [8, 15, 23]}]
    request = {"ids": smollm2_ids, "position": 63, "wrong": wrong, "correct": correct, "rule": rule,
               "mass": 0.85, "node_threshold": node_threshold(rule), "runs": runs}
    got = run_tool(build_tool("clrp_graph_stages"), smollm2_gguf, request, tmp_path, f"smollm2_{rule}")
    assert len(got[0]["node_layers"]) == 61
    assert [len(g["split"]) for g in got[1:3]] == [2, 4]
    check_runs(got, runs, f"SmolLM2 {rule}")
    if rule != "grad-x-input":
        assert all(len(g["nodes"]) > 1 for g in got), f"SmolLM2 {rule}: an empty graph"


def test_parts_out_of_order_are_refused(build_tool, tmp_path):
    """Parts merged out of stage order do not tile the node layers: refused, not merged."""
    path = make_family("qwen2")
    ids = tiny_ids(path)
    wrong, correct = top2(build_tool, path, ids, tmp_path)
    req, out = tmp_path / "bad.json", tmp_path / "bad.out.json"
    req.write_text(json.dumps({"ids": ids, "position": T_TINY - 1, "wrong": wrong, "correct": correct,
                               "rule": "attnlrp", "split": [1, 3], "reverse_parts": True}))
    r = subprocess.run([str(build_tool("clrp_graph_stages")), str(path), str(req), str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "must come in stage order" in r.stderr, r.stderr
