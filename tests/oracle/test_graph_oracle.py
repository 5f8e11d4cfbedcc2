"""clrp's attribution graphs (tests/tools/graph_dense.cpp, ``clrp_graph_dense``) against the Python reference
graph_reference.py: node relevance and every transition's dense edge matrix.

- Tiny models of every family in tiny_models (a Llama and every FAMILY_VARIANTS entry), AttnLRP, CP-LRP and
  grad × input, 20 tokens of a real benchmark prompt, seeded at the last token with the model's top-2 tokens
  (wrong = top-1, correct = top-2): the structured closed form (batch 0), the packed backward (batch 1, 8,
  32) and query-blocked runs (block 4) each within 1e-4 of the reference (batch 1), and the packed and
  blocked runs within 1e-5 of the structured one; node_threshold 0.01, and 0 (every row) for AttnLRP.
- SmolLM2-135M (the shipped GGUF, fp32) at 64 tokens (three rules) and 256 tokens (AttnLRP) of real
  benchmark text: within 1e-4 of the reference (packed, B = 32, which the self-tests show equal to B = 1).

"Within tol" (`assert_graph_close`): Δℓ within tol relative (or 1e-5 absolute); for each relevance vector
and each edge matrix, relative L2 ≤ tol and max |difference| ≤ tol · max |reference|. Rows whose target relevance lies within 1e-4 · max|R| of the node
threshold are left out of the edge comparison (either side may compute them).

The tool reads a tiny model's directory (config.json + safetensors) or the GGUF file; its output
(safetensors): float32 "relevance.<node>" [T], "edges.<source>.<target>" [T, T] (rows: target token,
columns: source token), __metadata__ "node_layers" (a JSON list) and "target" (Δℓ, a JSON number).
Nodes as graph_reference.py defines them ("emb" is the input of block 0: Gemma-3 after the √hidden scale,
GPT-2 token + position embedding).
Runtime (2 cores, reference side only): tiny models ≈ 20 s; SmolLM2 ≈ 16 s load + 3 × 15 s (64 tokens) +
≈ 150 s (256 tokens).
"""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import tokenizers
import torch
from safetensors import safe_open

import graph_reference as gr
import lrp_reference
from benchmark_prompts import benchmark_prompts, clrp_token_ids
from test_families import REFUSED
from tiny_models import FAMILY_VARIANTS, load_family, make_family
from numeric import rel_l2

# Every variant clrp loads (the REFUSED ones are tested to be refused in test_families.py).
TINY = ["llama_gqa_untied", *(v for v in FAMILY_VARIANTS if v not in REFUSED)]
T_TINY = 20
TOL = 1e-4
TOL_INTERNAL = 1e-5
# (batch, block): 0 = structured closed form; block 0 = the plan's own choice
TINY_MODES = [(0, 0), (1, 0), (32, 0), (0, 4)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")



def run_dense(tool, model_path, request: dict, tmp_path, name: str) -> dict:
    """Runs clrp_graph_dense; returns {"node_layers", "target", "relevance" {node: [T]}, "edges" {(s, t): [T, T]}}."""
    req, out = tmp_path / f"{name}.json", tmp_path / f"{name}.safetensors"
    req.write_text(json.dumps(request))
    proc = subprocess.run([str(tool), str(model_path), str(req), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, f"clrp_graph_dense failed ({proc.returncode}): {proc.stderr[-2000:]}"
    with safe_open(str(out), framework="numpy") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    names = json.loads(meta["node_layers"])
    got = {"node_layers": names, "target": float(meta["target"]), "relevance": {}, "edges": {}}
    for key, value in tensors.items():
        kind, _, rest = key.partition(".")
        if kind == "relevance":
            got["relevance"][rest] = value
        elif kind == "edges":
            s, t = rest.split(".")
            got["edges"][(s, t)] = value
    return got


def comparable_rows(ref: dict, tgt: str, node_threshold: float) -> np.ndarray:
    """Target rows not on the threshold's edge (compared: every row when the threshold is 0)."""
    r = np.abs(ref["relevance"][tgt])
    if node_threshold <= 0:
        return np.ones(len(r), dtype=bool)
    return np.abs(r - node_threshold) > 1e-4 * r.max()


# Under grad × input, float32 rounding of the cancelling products h · g (see assert_graph_close) differs
# between CPUs (vector widths change the summation order): an entry may differ by a few 1e-7 absolute
# from the reference, which against a small |Δℓ| (0.02 on a tiny model whose top two logits nearly tie)
# exceeds the relative tolerance. Allowed absolutely, on top of it; 1e-6 is under 1e-4 of any Δℓ above 0.01.
GRAD_X_INPUT_ATOL = 1e-6


def assert_close(got, want, tol, what, floor=0.0, atol=0.0):
    """Relative L2 and max-abs relative to max|want|; `floor` bounds that scale from below, and `atol` is
    an absolute allowance on the max-abs difference (both for grad × input)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(np.abs(want).max() if want.size else 0.0, floor)
    if scale == 0:
        assert not np.abs(got).any(), f"{what}: reference is all zero, got max |x| {np.abs(got).max():.2e}"
        return
    err_l2 = float(np.linalg.norm(got - want) / max(np.linalg.norm(want), floor * np.sqrt(want.size), 1e-30))
    err_max = max(np.abs(got - want).max() - atol, 0.0) / scale
    assert err_l2 <= tol and err_max <= tol, f"{what}: relative L2 {err_l2:.2e}, max |diff| / max {err_max:.2e} > {tol}"


def assert_graph_close(got: dict, ref: dict, tol: float, node_threshold: float, what: str, rule: str = "") -> float:
    """Returns the worst relative L2 over relevance and edges.

    Under grad × input, the relevance of a state just below an RMSNorm/LayerNorm is a difference of two
    nearly equal terms (the norm is scale-invariant, so h · g ≈ 0): float32 rounding noise of either
    implementation. Those arrays are compared on the scale max(max|reference|, 0.1 · |Δℓ|).
    """
    floor = 0.1 * abs(ref["target"]) if rule == "grad-x-input" else 0.0
    atol = GRAD_X_INPUT_ATOL if rule == "grad-x-input" else 0.0
    assert got["node_layers"] == ref["node_layers"], what
    assert got["target"] == pytest.approx(ref["target"], rel=tol, abs=1e-5), what
    assert set(got["relevance"]) == set(ref["relevance"]), what
    assert set(got["edges"]) == set(ref["edges"]), f"{what}: transitions {sorted(got['edges'])}"
    worst = 0.0
    for node, want in ref["relevance"].items():
        assert_close(got["relevance"][node], want, tol, f"{what} relevance.{node}", floor, atol)
        worst = max(worst, rel_l2(got["relevance"][node], want))
    for (s, t), want in ref["edges"].items():
        rows = comparable_rows(ref, t, node_threshold)
        assert_close(got["edges"][(s, t)][rows], want[rows], tol, f"{what} edges.{s}.{t}", floor, atol)
        worst = max(worst, rel_l2(got["edges"][(s, t)][rows], want[rows]))
    return worst


# --- tiny models ---------------------------------------------------------------------------------------

_tiny: dict = {}


def tiny_case(name: str):
    """(path, model, ids, position, wrong, correct)."""
    if name not in _tiny:
        path = make_family(name)
        model = load_family(path)
        tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        text = next(t for t in benchmark_prompts(40, seed=4) if len(t) > 900)
        ids = tok.encode(text).ids[-T_TINY:]
        assert len(ids) == T_TINY
        with torch.no_grad():
            top = model(torch.tensor([ids]), use_cache=False).logits[0, -1].topk(2).indices.tolist()
        _tiny[name] = (path, model, ids, T_TINY - 1, top[0], top[1])
    return _tiny[name]


def check_modes(tool, name, rule, node_threshold, modes, tmp_path):
    path, model, ids, position, wrong, correct = tiny_case(name)
    ref = gr.reference_graph(model, ids, position, wrong, correct, rule, batch=1, node_threshold=node_threshold,
                             composed=gr.needs_composed(model))
    runs = {}
    for batch, block in modes:
        request = {"ids": ids, "rule": rule, "position": position, "wrong": wrong, "correct": correct,
                   "node_threshold": node_threshold, "batch": batch, "block": block}
        runs[(batch, block)] = got = run_dense(tool, path, request, tmp_path, f"b{batch}_q{block}")
        err = assert_graph_close(got, ref, TOL, node_threshold, f"{name} {rule} batch {batch} block {block}", rule)
        print(f"{name} {rule} thr {node_threshold} batch {batch} block {block}: worst relative L2 {err:.1e}")
    structured = runs[(0, 0)]
    for mode, got in runs.items():
        if mode != (0, 0):
            assert_graph_close(got, structured, TOL_INTERNAL, node_threshold,
                               f"{name} {rule} batch {mode[0]} block {mode[1]} vs structured", rule)


@pytest.mark.parametrize("rule", gr.RULES)
@pytest.mark.parametrize("name", TINY)
def test_tiny_graph_equals_reference(name, rule, build_tool, tmp_path):
    check_modes(build_tool("clrp_graph_dense"), name, rule, 0.01, TINY_MODES, tmp_path)


@pytest.mark.parametrize("name", TINY)
def test_tiny_graph_every_row_equals_reference(name, build_tool, tmp_path):
    """node_threshold 0: every target row is computed (rows of tiny relevance included)."""
    check_modes(build_tool("clrp_graph_dense"), name, "attnlrp", 0.0, [(0, 0), (8, 0), (0, 4)], tmp_path)


# --- SmolLM2-135M --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smollm2_reference(smollm2_gguf):
    return lrp_reference.load_model(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)


@pytest.fixture(scope="module")
def smollm2_ids(clrp_bin, tmp_path_factory):
    """Real benchmark text (prompts joined until long enough), tokenized by clrp: at least 256 tokens."""
    pool = benchmark_prompts(40, seed=12)
    text, i = "", 0
    while len(text) < 2400:
        text += pool[i] + "\n\n"
        i += 1
    ids = clrp_token_ids(clrp_bin, [text], tmp_path_factory.mktemp("tok"))[0]
    assert len(ids) >= 256
    return ids


@pytest.mark.parametrize("length,rules,modes", [
    (64, gr.RULES, [(0, 0), (0, 16), (32, 0)]),
    (256, ("attnlrp",), [(0, 0), (0, 64), (32, 0)]),
])
def test_smollm2_graph_equals_reference(length, rules, modes, smollm2_ids, smollm2_reference, smollm2_gguf,
                                        build_tool, tmp_path):
    tool = build_tool("clrp_graph_dense")
    ids = smollm2_ids[-length:]
    with torch.no_grad():
        top = smollm2_reference(torch.tensor([ids]), use_cache=False).logits[0, -1].topk(2).indices.tolist()
    position, wrong, correct = length - 1, top[0], top[1]
    for rule in rules:
        ref = gr.packed(smollm2_reference, ids, position, wrong, correct, rule)
        runs = {}
        for batch, block in modes:
            request = {"ids": ids, "rule": rule, "position": position, "wrong": wrong, "correct": correct,
                       "node_threshold": 0.01, "batch": batch, "block": block}
            runs[(batch, block)] = got = run_dense(tool, smollm2_gguf, request, tmp_path, f"{rule}_b{batch}_q{block}")
            err = assert_graph_close(got, ref, TOL, 0.01, f"SmolLM2 {length} {rule} batch {batch} block {block}", rule)
            print(f"SmolLM2 {length} tokens {rule} batch {batch} block {block}: worst relative L2 {err:.1e}")
        for mode, got in runs.items():
            if mode != (0, 0):
                assert_graph_close(got, runs[(0, 0)], TOL_INTERNAL, 0.01,
                                   f"SmolLM2 {length} {rule} batch {mode[0]} block {mode[1]} vs structured", rule)


@pytest.mark.parametrize("name", ["llama_gqa_untied", "gemma3_swa16", "gpt_neox_parallel"])
def test_every_memory_plan_gives_the_same_graph(name, build_tool, tmp_path):
    """Recomputed forward tapes and streamed (two-pass, recomputed-block) pruning change nothing: the same
    unpruned edges and the same number of kept edges per transition as keeping everything."""
    tool = build_tool("clrp_graph_dense")
    path, _model, ids, position, wrong, correct = tiny_case(name)
    base = {"ids": ids, "rule": "attnlrp", "position": position, "wrong": wrong, "correct": correct,
            "node_threshold": 0.01, "batch": 0, "block": 4}
    kept = {}
    runs = {}
    for keep_tapes, dense in [(True, True), (False, True), (False, False)]:
        tag = f"t{int(keep_tapes)}d{int(dense)}"
        runs[tag] = run_dense(tool, path, {**base, "keep_tapes": keep_tapes, "dense": dense}, tmp_path, tag)
        with safe_open(str(tmp_path / f"{tag}.safetensors"), framework="numpy") as f:
            kept[tag] = (json.loads(f.metadata()["kept_edges"]), f.metadata()["kept_nodes"])
    for tag in ("t0d1", "t0d0"):
        assert_graph_close(runs[tag], runs["t1d1"], 1e-6, 0.01, f"{name} plan {tag}")
        assert kept[tag] == kept["t1d1"], f"{name} plan {tag}: kept edges/nodes differ"
    assert sum(kept["t1d1"][0]) > 0


@pytest.mark.parametrize("name", ["llama_gqa_untied", "qwen3", "gemma3"])
def test_conservation_and_remainder(name, build_tool, tmp_path):
    """CP-LRP on a model without biases: every target's (unpruned) incoming edges sum to its relevance
    (1e-4 relative), so the stored remainder is ~0. AttnLRP: the remainder ("self bias") is stored and
    equals R − Σ incoming edges, and is not ~0 (the softmax rule does not conserve)."""
    tool = build_tool("clrp_graph_dense")
    path, _model, ids, position, wrong, correct = tiny_case(name)
    worst_attn = 0.0
    for rule in ("cp-lrp", "attnlrp"):
        req = {"ids": ids, "rule": rule, "position": position, "wrong": wrong, "correct": correct,
               "node_threshold": 0.0, "batch": 0, "block": 0}
        got = run_dense(tool, path, req, tmp_path, rule)
        with safe_open(str(tmp_path / f"{rule}.safetensors"), framework="numpy") as f:
            remainder = {k.split(".", 1)[1]: f.get_tensor(k) for k in f.keys() if k.startswith("remainder.")}
        for (s, t), A in got["edges"].items():
            R = got["relevance"][t].astype(np.float64)
            rows = A.astype(np.float64).sum(1)
            scale = np.abs(R).max()
            np.testing.assert_allclose(remainder[t], R - rows, atol=1e-5 * scale, err_msg=f"{rule} {s}->{t}")
            if rule == "cp-lrp":
                assert np.abs(R - rows).max() <= 1e-4 * scale, f"{name} cp-lrp {s}->{t} not conservative"
            else:
                worst_attn = max(worst_attn, np.abs(R - rows).max() / scale)
    assert worst_attn > 1e-3, "AttnLRP conserved exactly: the softmax rule did not apply"


@pytest.mark.parametrize("name,mass", [("llama_gqa_untied", 0.85), ("gemma3", 0.85), ("gpt_neox_parallel", 0.5),
                                       ("qwen2", 0.95)])
def test_pruning_equals_the_reference_pruning(name, mass, build_tool, tmp_path):
    """clrp's pruning (per-transition mass cut in two passes, node threshold, reachability while walking
    top-down) keeps exactly the edges and nodes that graph_reference.prune_reference keeps when applied to
    clrp's own unpruned edges."""
    tool = build_tool("clrp_graph_dense")
    path, _model, ids, position, wrong, correct = tiny_case(name)
    req = {"ids": ids, "rule": "attnlrp", "position": position, "wrong": wrong, "correct": correct,
           "node_threshold": 0.01, "batch": 0, "block": 0, "mass": mass}
    got = run_dense(tool, path, req, tmp_path, "g")
    with safe_open(str(tmp_path / "g.safetensors"), framework="numpy") as f:
        kept_edges = json.loads(f.metadata()["kept_edges"])
        kept_nodes = int(f.metadata()["kept_nodes"])
    pruned = gr.prune_reference(got, position, p=mass, node_threshold=0.01)
    names = got["node_layers"]
    want = [sum(1 for (u, v) in pruned["edges"] if v != "target" and u[0] == s and v[0] == t)
            for s, t in zip(names[:-1], names[1:])]
    assert kept_edges == want
    assert kept_nodes == len(pruned["nodes"]) - 1  # the reference counts the target node too
    assert sum(want) > 0
