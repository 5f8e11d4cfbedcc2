"""Self-tests of graph_reference.py (the Python reference of cross-layer attribution graphs), on tiny models:

- node relevance equals lrp_reference's (LXT) mid / layer / embedding relevance;
- the recomputation checks fire on a wrong mask window and on a wrong recomputation;
- batch packing (B = 8, 32) equals one backward per target;
- with every row computed, column sums Σ_j A[j,i] = R_source[i] for every transition and rule;
- CP-LRP on bias-free models: row sums Σ_i A[j,i] = R_target[j];
- MLP transitions (mid → out) are diagonal with A[j,j] = R_mid[j] on the computed rows, 0 elsewhere;
- the LXT patch takes effect inside the transitions (edges differ from grad × input);
- pruning and reachability on hand-built graphs, and against a layer-by-layer sweep on random graphs.
"""
from __future__ import annotations

import numpy as np
import pytest
import tokenizers
import torch

import graph_reference as gr
import lrp_independent as li
import lrp_reference as lrp
from benchmark_prompts import benchmark_prompts
from tiny_models import load_family, make_family
from numeric import rel_l2

T = 20
FAMILIES = ["llama_gqa_untied", "qwen3", "gemma3_swa16", "gpt2", "gpt_neox_parallel", "mistral", "olmo3",
            "gpt_neox_sequential"]
BIAS_FREE = ["llama_gqa_untied", "qwen3", "gemma3_swa16", "mistral", "olmo2"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")



_cache: dict = {}


def case(name: str):
    """(model, ids, position, wrong, correct): the last T tokens of a real prompt, the model's top-2 there."""
    if name not in _cache:
        path = make_family(name)
        model = load_family(path)
        tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        text = next(t for t in benchmark_prompts(40, seed=4) if len(t) > 900)
        ids = tok.encode(text).ids[-T:]
        with torch.no_grad():
            top = model(torch.tensor([ids])).logits[0, -1].topk(2).indices.tolist()
        _cache[name] = (model, ids, T - 1, top[0], top[1])
    return _cache[name]


_graphs: dict = {}


def graph(name: str, rule: str = "attnlrp", **kw):
    key = (name, rule, tuple(sorted(kw.items())))
    if key not in _graphs:
        model, ids, pos, w, c = case(name)
        _graphs[key] = gr.reference_graph(model, ids, pos, w, c, rule, composed=gr.needs_composed(model), **kw)
    return _graphs[key]


@pytest.mark.parametrize("name", FAMILIES)
def test_node_relevance_equals_lrp_reference(name):
    model, ids, pos, w, c = case(name)
    g = graph(name)
    ref = lrp.contrastive_relevance(model, ids, pos, w, c, "attnlrp", composed=gr.needs_composed(model))
    assert g["target"] == pytest.approx(float(ref["target"]), rel=1e-6)
    L = len(lrp._decoder_layers(model))
    names = gr.node_layers(model)
    assert names[0] == "emb" and names[-1] == f"out{L - 1}"
    assert len(names) == 1 + (L if name == "gpt_neox_parallel" else 2 * L)
    for l in range(L):
        assert rel_l2(g["relevance"][f"out{l}"], ref["layer_relevance"][l]) <= 1e-5
        if ref["mid_relevance"] is not None:
            assert rel_l2(g["relevance"][f"mid{l}"], ref["mid_relevance"][l]) <= 1e-5
    emb = ref["token_relevance"]
    if name == "gpt2":  # the node is wte + wpe: token plus learned-position relevance
        ind = li.independent_relevance(model, ids, pos, w, c, "attnlrp")
        emb = ind["token_relevance"] + ind["position_relevance"]
        assert rel_l2(g["relevance"]["emb"], emb) <= 1e-5
    else:
        assert rel_l2(g["relevance"]["emb"], emb) <= 1e-5


def test_wrong_window_or_recomputation_is_caught(monkeypatch):
    model, ids, pos, w, c = case("mistral")
    monkeypatch.setattr(gr, "layer_window", lambda model, l: None)  # Mistral's window 16 < T
    with pytest.raises(AssertionError, match="differs from HF"):
        gr.reference_graph(model, ids, pos, w, c, composed=True)
    monkeypatch.undo()
    model, ids, pos, w, c = case("gemma3_swa16")
    monkeypatch.setattr(gr._Layer, "mlp", lambda self, m: self.layer.mlp(self.layer.pre_feedforward_layernorm(m)))
    with pytest.raises(AssertionError):  # post_feedforward_layernorm left out
        gr.reference_graph(model, ids, pos, w, c)


@pytest.mark.parametrize("name", ["llama_gqa_untied", "qwen3", "gemma3_swa16", "gpt2", "gpt_neox_parallel", "olmo3"])
def test_batch_packing_equals_one_backward_per_target(name):
    one = graph(name, batch=1)
    for batch in (8, 32):
        packed = graph(name, batch=batch)
        assert packed["computed_targets"] == one["computed_targets"]
        for key, A in one["edges"].items():
            assert rel_l2(packed["edges"][key], A) <= 1e-6, (batch, key)
            assert np.abs(packed["edges"][key] - A).max() <= 1e-6 * np.abs(A).max()
    assert any(len(rows) > 8 for rows in one["computed_targets"].values())  # several chunks were packed


def test_packed_entry_point_drops_matrices():
    model, ids, pos, w, c = case("qwen3")
    g = gr.packed(model, ids, pos, w, c, keep_edges=False)
    assert g["edges"] == {} and len(g["seconds"]) == len(g["node_layers"]) - 1
    assert g["computed_targets"] == graph("qwen3")["computed_targets"]


@pytest.mark.parametrize("rule", gr.RULES)
@pytest.mark.parametrize("name", FAMILIES)
def test_column_sums_are_source_relevance(name, rule):
    g = graph(name, rule, node_threshold=0.0)
    assert all(rows == list(range(T)) for rows in g["computed_targets"].values())
    for (s, t), A in g["edges"].items():
        assert rel_l2(A.sum(0), g["relevance"][s]) <= 1e-4, (s, t)


@pytest.mark.parametrize("name", BIAS_FREE)
def test_cp_lrp_row_sums_are_target_relevance(name):
    g = graph(name, "cp-lrp", node_threshold=0.0)
    for (s, t), A in g["edges"].items():
        assert rel_l2(A.sum(1), g["relevance"][t]) <= 1e-4, (s, t)


def test_attnlrp_rows_are_not_conservative():
    """Contrast to the CP-LRP identity: AttnLRP's ½ and ¼ factors make attention transitions non-conservative."""
    g = graph("llama_gqa_untied", "attnlrp", node_threshold=0.0)
    A = g["edges"][("emb", "mid0")]
    assert rel_l2(A.sum(1), g["relevance"]["mid0"]) > 1e-2


@pytest.mark.parametrize("rule", gr.RULES)
@pytest.mark.parametrize("name", ["llama_gqa_untied", "gemma3_swa16", "olmo3", "gpt2", "gpt_neox_sequential"])
def test_mlp_transitions_are_diagonal(name, rule):
    g = graph(name, rule)
    L = len(lrp._decoder_layers(case(name)[0]))
    for l in range(L):
        key = (f"mid{l}", f"out{l}")
        A, rows = g["edges"][key], g["computed_targets"][key]
        assert rows == [j for j in range(T) if abs(g["relevance"][f"out{l}"][j]) > 0.01]
        assert np.count_nonzero(A - np.diag(np.diag(A))) == 0, key
        want = np.zeros(T)
        want[rows] = g["relevance"][f"mid{l}"][rows]
        np.testing.assert_allclose(np.diag(A), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("name", ["llama_gqa_untied", "qwen3", "gemma3_swa16", "gpt2", "mistral", "gpt_neox_parallel"])
def test_lrp_patches_take_effect_in_transitions(name):
    plain = graph(name, "grad-x-input", node_threshold=0.0)
    for rule in ("attnlrp", "cp-lrp"):
        g = graph(name, rule, node_threshold=0.0)
        for key, A in g["edges"].items():  # norms, MLP and attention rules: every transition differs
            assert rel_l2(A, plain["edges"][key]) > 1e-2, (rule, key)
    assert not lrp.is_patched(case(name)[0], composed=gr.needs_composed(case(name)[0]))


def test_rejects_bad_arguments():
    model, ids, pos, w, c = case("llama_gqa_untied")
    with pytest.raises(ValueError):
        gr.reference_graph(model, ids, pos, w, w)
    with pytest.raises(ValueError):
        gr.reference_graph(model, ids, pos, w, c, rule="lrp")
    with pytest.raises(ValueError):
        gr.reference_graph(model, ids, pos, w, c, batch=0)
    with pytest.raises(IndexError):
        gr.reference_graph(model, ids, T, w, c)


# --- pruning -------------------------------------------------------------------------------------------

def hand_graph():
    """T = 3, layers emb → mid0 → out0, final node (out0, 2)."""
    rel = {"emb": np.array([0.5, 0.005, 0.3]), "mid0": np.array([0.2, 0.4, -0.6]),
           "out0": np.array([0.001, 0.3, 1.0])}
    A1 = np.array([[0.2, 0.0, 0.0],
                   [0.1, 0.3, 0.0],
                   [-0.5, 0.02, 0.08]])  # rows: mid0 token j, columns: emb token i
    A2 = np.diag([0.0, 0.4, -0.6])       # row 0 not computed (|R_out0[0]| < 0.01)
    return {"node_layers": ["emb", "mid0", "out0"], "relevance": rel, "target": 0.9,
            "edges": {("emb", "mid0"): A1, ("mid0", "out0"): A2}}


def test_keep_mask_mass():
    A1 = hand_graph()["edges"][("emb", "mid0")]
    # |A| sorted 0.5 0.3 0.2 0.1 0.08 0.02 0 0 0, total 1.2, 0.85 · 1.2 = 1.02; cumsum ≥ 1.02 first at 1.1
    # (index 3) → τ = 0.1
    want = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(gr.keep_mask(A1, 0.85), want)
    # p = 0.5: 0.6 first reached at 0.8 (index 1) → τ = 0.3
    np.testing.assert_array_equal(gr.keep_mask(A1, 0.5), np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=bool))
    # ties at τ are all kept: total 4, p · total = 2 reached at index 1, τ = 1
    assert gr.keep_mask(np.ones((2, 2)), 0.5).all()
    # zeros never kept; an all-zero matrix keeps nothing
    assert not gr.keep_mask(np.zeros((3, 3)), 0.85).any()
    assert gr.keep_mask(np.diag([0.0, 0.0, 2.0]), 1.0).sum() == 1
    np.testing.assert_array_equal(gr.keep_mask(A1, mode="threshold", edge_threshold=0.05), np.abs(A1) > 0.05)
    with pytest.raises(ValueError):
        gr.keep_mask(A1, mode="threshold")


def test_prune_hand_graph_mass():
    g = gr.prune_reference(hand_graph(), position=2, p=0.85)
    # kept edges: (emb,0)→(mid0,0/1/2), (emb,1)→(mid0,1), (mid0,1)→(out0,1), (mid0,2)→(out0,2);
    # (emb,1) falls under the node threshold; only (emb,0)→(mid0,2)→(out0,2)→target reaches the target
    assert g["nodes"] == {"target", ("out0", 2), ("mid0", 2), ("emb", 0)}
    assert g["edges"] == {(("emb", 0), ("mid0", 2)): -0.5, (("mid0", 2), ("out0", 2)): -0.6,
                          (("out0", 2), "target"): 1.0}


def test_prune_hand_graph_threshold_mode():
    g = gr.prune_reference(hand_graph(), position=2, mode="threshold", edge_threshold=0.05)
    # 0.08 now kept: (emb,2) → (mid0,2) joins
    assert g["nodes"] == {"target", ("out0", 2), ("mid0", 2), ("emb", 0), ("emb", 2)}
    assert g["edges"][(("emb", 2), ("mid0", 2))] == 0.08
    assert len(g["edges"]) == 4


def test_prune_node_threshold_and_final_node():
    hg = hand_graph()
    # a high node threshold drops everything but the target and the final node, which is never dropped
    g = gr.prune_reference(hg, position=2, node_threshold=0.7)
    assert g["nodes"] == {"target", ("out0", 2)} and g["edges"] == {(("out0", 2), "target"): 1.0}
    hg["relevance"]["out0"][2] = 1e-4
    g = gr.prune_reference(hg, position=-1)
    assert ("out0", 2) in g["nodes"] and g["edges"][(("out0", 2), "target")] == 1e-4
    # the final node follows `position`: at position 1, (out0,1) ← (mid0,1) ← (emb,0)
    g = gr.prune_reference(hand_graph(), position=1)
    assert g["nodes"] == {"target", ("out0", 1), ("mid0", 1), ("emb", 0)}
    assert g["edges"][(("out0", 1), "target")] == 0.3
    # all-zero matrices: nothing but the target edge
    hg = hand_graph()
    hg["edges"] = {k: np.zeros_like(A) for k, A in hg["edges"].items()}
    g = gr.prune_reference(hg, position=2)
    assert g["nodes"] == {"target", ("out0", 2)}


def _sweep(graph, position, p, node_threshold):
    """Reachability by a top-down sweep over the layers (a second, independent formulation)."""
    names = graph["node_layers"]
    rel = graph["relevance"]
    T = len(rel[names[0]])
    alive = {n: np.abs(rel[n]) >= node_threshold for n in names}
    alive[names[-1]][position] = True
    reach = np.zeros(T, dtype=bool)
    reach[position] = True
    nodes = {"target", (names[-1], position)}
    for s, t in reversed(list(zip(names[:-1], names[1:]))):
        K = gr.keep_mask(graph["edges"][(s, t)], p) & alive[t][:, None] & alive[s][None, :]
        reach = (K & reach[:, None]).any(0)
        nodes |= {(s, int(i)) for i in np.nonzero(reach)[0]}
    return nodes


@pytest.mark.parametrize("seed", range(20))
def test_prune_random_graphs_against_layer_sweep(seed):
    rng = np.random.default_rng(seed)
    T, names = 6, ["emb", "mid0", "out0", "mid1", "out1"]
    rel = {n: rng.normal(0, 0.05, T) for n in names}
    edges = {}
    for s, t in zip(names[:-1], names[1:]):
        A = rng.normal(0, 1, (T, T)) * (rng.random((T, T)) < 0.4)
        edges[(s, t)] = np.tril(A) if t.startswith("mid") else np.diag(np.diag(A))
    graph = {"node_layers": names, "relevance": rel, "target": 1.0, "edges": edges}
    position = int(rng.integers(T))
    p = float(rng.choice([0.5, 0.85, 0.95]))
    got = gr.prune_reference(graph, position, p=p, node_threshold=0.03)
    assert got["nodes"] == _sweep(graph, position, p, 0.03)
    for (u, v), wgt in got["edges"].items():
        assert u in got["nodes"] and v in got["nodes"]
        if v != "target":
            assert wgt == edges[(u[0], v[0])][v[1], u[1]] and wgt != 0
    # every kept node but the target has an out-edge in the pruned graph
    assert {u for u, _ in got["edges"]} == got["nodes"] - {"target"}
