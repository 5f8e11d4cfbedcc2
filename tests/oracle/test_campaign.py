"""`clrp run` end to end on a tiny model: 1, 2 and 4 ranks give the same store;
kill -9 and SIGTERM followed by --resume give every case exactly once with the
same numbers; aggregates equal a recomputation from the per-case data; bad
specs, locked stores and foreign stores are refused with clear messages."""
from __future__ import annotations

import fcntl
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from tiny_models import make_llama

GRAPH_SUMMARY_COLUMNS = ["nodes", "edges", "target", "first_token_share", "other_tokens_share",
                         "self_bias_share", "mean_fan_in", "intervention_correlation", "kept_share"]  # seconds cut

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


# The `tiny_model` and `failures` fixtures live in conftest.py (shared with test_merge.py,
# test_report.py and tests/slurm).


def write_spec(path: pathlib.Path, model: pathlib.Path, failures: pathlib.Path, store: str,
               rules=("attnlrp", "grad-x-input"), batch=2, commit_seconds=0.0, limit=0, extra="",
               graphs=3, deletion=20, layout="", faithfulness=True) -> pathlib.Path:
    """A spec over the tiny model; `graphs`: attribution graphs for that many cases per table;
    `deletion`: the deletion test's cap (deletion_max_tokens); `layout`: more [layout] lines;
    `faithfulness`: curves with both operators on a small grid (docs/faithfulness.md)."""
    faith = ('[faithfulness]\noperators = ["delete", "zero"]\nsingle_tokens = 3\n'
             'fractions = [0.25, 0.5, 1.0]\nseed = 5\n') if faithfulness else ""
    rules_s = ", ".join(f'"{r}"' for r in rules)
    path.write_text(f"""
name = "test"
store = "{store}"
rules = [{rules_s}]
[record]
residual = true
heads = true
neurons = 4
evidence_top_k = 5
deletion_max_tokens = {deletion}
{faith}[graphs]
cases = {graphs}
[layout]
batch_cases = {batch}
commit_seconds = {commit_seconds}
{layout}
[[models]]
name = "tiny"
path = "{model}"
[[cases]]
path = "{failures}"
limit = {limit}
seed = 3
{extra}
""")
    return path


def mpirun(clrp, n, *args, env_extra=None, wait=True):
    env = dict(os.environ, **MPI_ENV, **(env_extra or {}))
    cmd = ["mpirun", "-n", str(n), "--oversubscribe", str(clrp), "--threads", "1", "run", *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def read_store(path: pathlib.Path) -> dict:
    """Per (table, case id): every per-case number (rank and timings left out)."""
    out = {}
    with h5py.File(path, "r") as f:
        for model in f["runs"]:
            for ck in f["runs"][model]:
                for bench in f["runs"][model][ck]:
                    g = f["runs"][model][ck][bench]
                    n = int(g.attrs["committed_rows"])
                    rows = g["cases"][:n]
                    ids = g["case_id"][:]
                    for i, row in enumerate(rows):
                        cid = bytes(ids[row["id_offset"]:row["id_offset"] + row["id_length"]]).decode()
                        o, T = int(row["token_offset"]), int(row["n_tokens"])
                        key = (f"{model}/{ck}/{bench}", cid)
                        assert key not in out, f"{key} stored twice"
                        rec = {k: row[k] for k in ("wrong_id", "correct_id", "delta", "wrong_logit",
                                                   "correct_logit", "n_tokens", "prompt_tokens", "case_index")}
                        for name in ("tokens", "token_segment", "token_evidence", "token_relevance",
                                     "layer_relevance", "mid_relevance"):
                            if name in g:
                                rec[name] = g[name][o:o + T]
                        for name in ("conservation", "segment_relevance", "bias_absorbed",
                                     "head_relevance", "neuron_ids", "neuron_relevance", "graph_summary",
                                     "deletion_tokens", "faithfulness_candidates", "faithfulness_steps",
                                     "faithfulness_delta", "faithfulness_area", "faithfulness_flip", "outcome",
                                     "pattern"):
                            if name in g:  # heads, neurons and graphs only when recorded
                                rec[name] = g[name][i]
                        if "graph_summary" in rec:  # its last column is the build time
                            rec["graph_summary"] = rec["graph_summary"][:-1]
                        if "graph_node_layer" in g:  # the case's graph: nodes and edges (docs/store.md)
                            no, nn = int(row["graph_node_offset"]), int(row["n_graph_nodes"])
                            eo, ne = int(row["graph_edge_offset"]), int(row["n_graph_edges"])
                            for name in ("graph_node_layer", "graph_node_position", "graph_node_relevance",
                                         "graph_node_remainder", "graph_node_ablation"):
                                rec[name] = g[name][no:no + nn]
                            for name in ("graph_edge_source", "graph_edge_target", "graph_edge_weight"):
                                rec[name] = g[name][eo:eo + ne]
                        out[key] = rec
    return out


def assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for key in a:
        for name, va in a[key].items():
            vb = b[key][name]
            np.testing.assert_allclose(np.asarray(va, dtype=float), np.asarray(vb, dtype=float),
                                       rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=f"{key} {name}")


def read_aggregates(path: pathlib.Path, timings: bool = False) -> dict:
    """Every /aggregate dataset. Without `timings`, graph_summary_stats loses its last row
    (the graph build seconds), which no two runs share."""
    with h5py.File(path, "r") as f:
        out = {}
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
                if name.endswith("graph_summary_stats") and not timings:
                    out[name] = out[name][:-1]
        f["aggregate"].visititems(visit)
        return out


def recompute_aggregates(path: pathlib.Path) -> dict:
    """The aggregates of docs/store.md, recomputed from the per-case data."""
    out = {}
    with h5py.File(path, "r") as f:
        for model in f["runs"]:
            for ck in f["runs"][model]:
                for bench in f["runs"][model][ck]:
                    g = f["runs"][model][ck][bench]
                    k = int(g.attrs["evidence_top_k"])
                    n = int(g.attrs["committed_rows"])
                    rows = g["cases"][:n]
                    R = g["token_relevance"].shape[1]
                    deltas = rows["delta"].astype(float)
                    seg = g["segment_relevance"][:n]
                    cons = g["conservation"][:n]
                    conc, pos, lay, hits, rand, recovery = [], [], [], [], [], []
                    for row in rows:
                        o, T = int(row["token_offset"]), int(row["n_tokens"])
                        rel = g["token_relevance"][o:o + T].astype(float)  # [T, R]
                        ev = g["token_evidence"][o:o + T] != 0
                        lay.append(g["layer_relevance"][o:o + T].astype(float).sum(axis=0))  # [R, L]
                        bucket = (np.arange(T) * 10) // T
                        pos.append(np.stack([np.bincount(bucket, weights=rel[:, r], minlength=10) for r in range(R)]))
                        c = []
                        for r in range(R):
                            a = np.abs(rel[:, r])
                            p = a / a.sum()
                            s = np.sort(a)
                            ent = -np.sum(p[p > 0] * np.log(p[p > 0]))
                            gini = 2 * np.sum(np.arange(1, T + 1) * s) / (T * a.sum()) - (T + 1) / T
                            c.append([ent, gini, s[-1] / a.sum(), s[::-1][:5].sum() / a.sum()])
                        conc.append(c)
                        # Evidence recovery over the removable tokens (segment != -1, not the last).
                        segs = g["token_segment"][o:o + T]
                        cand = np.array([t for t in range(T - 1) if segs[t] != -1], dtype=int)
                        ec = ev[cand]
                        if ec.any():
                            nc, E = cand.size, int(ec.sum())
                            top_k, tenth = min(nc, k), -(-nc // 10)
                            row_rec = []
                            for r in range(R):
                                order = cand[np.lexsort((cand, -np.abs(rel[cand, r])))]
                                row_rec.append([ev[order[:top_k]].sum() / E, ev[order[:tenth]].sum() / E])
                            recovery.append((row_rec, top_k / nc, tenth / nc))
                        if ev.any():
                            kk = min(k, T)
                            hits.append([ev[np.lexsort((np.arange(T), -np.abs(rel[:, r])))[:kk]].any() for r in range(R)])
                            E = int(ev.sum())
                            miss = 1.0
                            for j in range(kk):
                                miss = 0.0 if T - E <= j else miss * (T - E - j) / (T - j)
                            rand.append(1 - miss)
                    prefix = f"{model}/{ck}/{bench}/"
                    hist = np.zeros(40)
                    for d in deltas:
                        hist[min(39, int(np.floor(np.clip(d, -20, 20) + 20)))] += 1
                    out[prefix + "delta_stats"] = np.array([n, deltas.mean(), deltas.std(), deltas.min(), deltas.max()])
                    out[prefix + "delta_histogram"] = hist
                    out[prefix + "segment_relevance"] = seg.mean(axis=0)
                    nz = np.abs(deltas) > 1e-9
                    out[prefix + "segment_relevance_normalized"] = (seg[nz] / np.abs(deltas[nz])[:, None, None]).mean(axis=0)
                    out[prefix + "concentration"] = np.array(conc).mean(axis=0)
                    out[prefix + "position_deciles"] = np.array(pos).mean(axis=0)
                    out[prefix + "layer_relevance"] = np.array(lay).mean(axis=0)
                    out[prefix + "conservation"] = np.stack([np.abs(cons).mean(axis=0), np.abs(cons).max(axis=0),
                                                              cons.mean(axis=0)], axis=1)
                    ne = len(hits)
                    if "deletion_tokens" in g:  # rows: rules, then random; [cases Δℓ>0, flip rate, mean k]
                        dt = g["deletion_tokens"][:n].astype(float)  # [n, R + 1]
                        rows_d = []
                        for j in range(dt.shape[1]):
                            eligible, flipped = dt[dt[:, j] != 0, j], dt[dt[:, j] > 0, j]
                            rows_d.append([eligible.size, flipped.size / eligible.size if eligible.size else np.nan,
                                           flipped.mean() if flipped.size else np.nan])
                        out[prefix + "deletion"] = np.array(rows_d)
                    if "graph_summary" in g:  # per column over cases with a graph: n, mean, sd, min, max
                        gs = g["graph_summary"][:n]
                        cols = []
                        for c in range(gs.shape[1]):
                            x = gs[~np.isnan(gs[:, c]), c]
                            cols.append([x.size, x.mean(), x.std(), x.min(), x.max()] if x.size else
                                        [0] + [np.nan] * 4)
                        out[prefix + "graph_summary_stats"] = np.array(cols)
                    nr = len(recovery)
                    out[prefix + "evidence_recovery"] = np.array([
                        [nr, *(np.mean([c[0][r][0] for c in recovery]), np.mean([c[1] for c in recovery]),
                               np.mean([c[0][r][1] for c in recovery]), np.mean([c[2] for c in recovery]))]
                        if nr else [0] + [np.nan] * 4 for r in range(R)])
                    out[prefix + "evidence_hit_rate"] = np.stack(
                        [np.full(R, ne), np.array(hits, dtype=float).mean(axis=0) if ne else np.full(R, np.nan),
                         np.full(R, np.mean(rand) if ne else np.nan)], axis=1)
    return out


@pytest.fixture(scope="session")
def reference_store(tmp_path_factory, clrp_bin, tiny_model, failures) -> pathlib.Path:
    d = tmp_path_factory.mktemp("ref")
    spec = write_spec(d / "spec.toml", tiny_model, failures, "store.h5")
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "complete" in r.stdout, r.stdout  # ranks really ran (mpirun exits 0 on refusals too)
    return d / "store.h5"


def test_store_holds_every_pair_once(reference_store, failures):
    data = read_store(reference_store)
    ids = [__import__("json").loads(l)["id"] for l in failures.read_text().splitlines()]
    assert sorted(cid for _, cid in data) == sorted(ids)
    for key, rec in data.items():
        T = rec["n_tokens"]
        assert rec["tokens"].shape == (T,)
        assert rec["token_relevance"].shape == (T, 2)
        # Token relevance sums to Δℓ up to the stored conservation error.
        for r in range(2):
            total = rec["token_relevance"][:, r].astype(float).sum()
            assert total == pytest.approx(rec["delta"] * (1 + rec["conservation"][r]) if rec["delta"] else total,
                                          rel=1e-4, abs=1e-4)
        # Segment sums are the token sums by segment.
        assert rec["segment_relevance"].shape == (2, 11)
        for r in range(2):
            for s in range(11):
                want = rec["token_relevance"][rec["token_segment"] == s, r].astype(float).sum()
                assert rec["segment_relevance"][r, s] == pytest.approx(want, rel=1e-5, abs=1e-5)
        # The last layer's residual relevance sums to Δℓ for AttnLRP (the head is linear).
        assert rec["layer_relevance"][:, 0, -1].astype(float).sum() == pytest.approx(rec["delta"], rel=1e-3, abs=1e-3)
    assert any(rec["token_evidence"].any() for rec in data.values()), "no SciQ evidence reached the store"
    assert any(rec["prompt_tokens"] < rec["n_tokens"] for rec in data.values()), "no pair prefix exercised"


def test_aggregates_equal_recomputation(reference_store):
    stored = read_aggregates(reference_store, timings=True)
    again = recompute_aggregates(reference_store)
    assert set(again) <= set(stored), set(again) - set(stored)
    assert any(name.endswith("/deletion") for name in again), "no deletion aggregate recomputed"
    assert any(name.endswith("/graph_summary_stats") and again[name][0, 0] > 0 for name in again), \
        "no graph aggregate recomputed"
    for name, want in again.items():
        np.testing.assert_allclose(stored[name], want, rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=name)


def _splitmix64(x: int) -> int:
    m = (1 << 64) - 1
    x = (x + 0x9E3779B97F4A7C15) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def _fnv1a64(s: str) -> int:
    h = 0xCBF29CE484222325  # FNV-1a 64's offset basis
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & ((1 << 64) - 1)
    return h


def deletion_orders(cid: str, seg: np.ndarray, rel: np.ndarray, seed: int = 5) -> list[np.ndarray]:
    """The orders of the deletion test (src/lrp/faithfulness.hpp; written here from
    docs/store.md's and docs/faithfulness.md's definitions, not taken from clrp): each rule's,
    then the random one (write_spec's faithfulness seed)."""
    cand = np.array([p for p in range(len(seg) - 1) if seg[p] != -1], dtype=int)
    orders = [cand[np.lexsort((cand, -rel[cand, r]))] for r in range(rel.shape[1])]
    h = _fnv1a64(cid) ^ ((seed * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
    orders.append(np.array(sorted(cand.tolist(), key=lambda p: (_splitmix64(h ^ p), p)), dtype=int))
    return orders


def test_deletion_tokens_equal_forward_recomputation(reference_store, build_tool, tiny_model, tmp_path):
    """Every stored tokens-to-flip equals deleting the same tokens one by one and reading
    Δℓ from clrp's plain forward pass (clrp_forward_logits)."""
    import json
    data = read_store(reference_store)
    seqs, cases = [], []
    for key, rec in data.items():
        ids = rec["tokens"].astype(int).tolist()
        per_order = []
        for order in deletion_orders(key[1], rec["token_segment"], rec["token_relevance"].astype(float)):
            lines = []
            for k in range(1, min(20, order.size) + 1):  # write_spec's cap
                gone = set(order[:k].tolist())
                seqs.append([t for p, t in enumerate(ids) if p not in gone])
                lines.append(len(seqs) - 1)
            per_order.append(lines)
        cases.append((key, rec, per_order))
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"ids": s}) + "\n" for s in seqs))
    subprocess.run([str(build_tool("clrp_forward_logits")), str(tiny_model), str(src), str(tmp_path / "out.f32")],
                   check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    logits = np.fromfile(tmp_path / "out.f32", dtype=np.float32).reshape(len(seqs), -1).astype(float)
    flips = 0
    for key, rec, per_order in cases:
        want = []
        for lines in per_order:
            if rec["delta"] <= 0:
                want.append(0)
                continue
            d = [logits[i, rec["wrong_id"]] - logits[i, rec["correct_id"]] for i in lines]
            want.append(next((k + 1 for k, x in enumerate(d) if x <= 0), -1))
        assert rec["deletion_tokens"].tolist() == want, key
        flips += sum(w > 0 for w in want)
    assert flips > 0, "no case flipped: the test exercises only the cap"


def test_faithfulness_equals_transformers_recomputation(reference_store, tiny_model):
    """Every stored faithfulness curve (write_spec's grid: both operators, K = 3, fractions 0.25, 0.5,
    1, seed 5) equals faithfulness_reference.py's — docs/faithfulness.md written independently, every
    deleted or zeroed input through a transformers forward (fp32, eager) — within 1e-4, with the same
    removable tokens, steps, areas (2e-4 / |Δℓ|) and tokens to flip; and the table aggregates equal
    faithfulness_aggregates over the cases in case-id order (the bootstrap's order)."""
    import faithfulness_reference as ref
    from tiny_models import load_reference
    model = load_reference(tiny_model)
    tables: dict[str, list] = {}
    checked = 0
    for (table, cid), rec in read_store(reference_store).items():
        ids = rec["tokens"].astype(int).tolist()
        seg = rec["token_segment"]
        rel = rec["token_relevance"].astype(float)
        special = {ids[p] for p in range(len(ids)) if seg[p] == -1}  # the tokenizer's own (none here)
        want = ref.faithfulness(model, ids, [rel[:, r] for r in range(rel.shape[1])], int(rec["wrong_id"]),
                                int(rec["correct_id"]), float(rec["delta"]), special_ids=special,
                                operators=("delete", "zero"), single_tokens=3, fractions=(0.25, 0.5, 1.0),
                                seed=5, case_id=cid)
        assert int(rec["faithfulness_candidates"]) == want.candidates, (table, cid)
        assert rec["faithfulness_steps"].tolist() == list(want.steps), (table, cid)
        np.testing.assert_allclose(rec["faithfulness_delta"].astype(float), want.curves, rtol=0, atol=1e-4,
                                   err_msg=f"{table} {cid}")
        np.testing.assert_allclose(rec["faithfulness_area"], want.area, rtol=0,
                                   atol=2e-4 / abs(float(rec["delta"])), err_msg=f"{table} {cid}")
        assert rec["faithfulness_flip"].tolist() == want.flip.tolist(), (table, cid)
        tables.setdefault(table, []).append((cid.encode(), rec))
        checked += 1
    assert checked >= 20
    stored = read_aggregates(reference_store)
    for table, cases in tables.items():
        cases.sort(key=lambda c: c[0])
        again = ref.faithfulness_aggregates(np.stack([c[1]["faithfulness_delta"] for c in cases]),
                                            np.stack([c[1]["faithfulness_area"] for c in cases]),
                                            np.stack([c[1]["faithfulness_flip"] for c in cases]), seed=5)
        for name, value in again.items():
            np.testing.assert_allclose(stored[f"{table}/{name}"], value, rtol=1e-6, atol=1e-9, equal_nan=True,
                                       err_msg=f"{table}/{name}")


def expected_outcome(rec: dict, r: int, top_k: int = 5, recovery: float = 0.5, urt_ratio: float = 1.0,
                     oit_share: float = 0.5, graph_correlation: float = 0.5,
                     graph_kept_share: float = 0.1) -> tuple[int, int]:
    """docs/faithfulness.md's outcome and pattern of a stored case under rule r, from its curves,
    evidence, relevance and graph scores (written from the doc, not from clrp)."""
    curves = rec["faithfulness_delta"].astype(float)  # [O, C, S]
    R = rec["token_relevance"].shape[1]
    informative = bool(np.any((curves[:, 2 * r, 1:] <= 0) & (curves[:, 2 * R, 1:] > 0)))
    seg, ev = rec["token_segment"], rec["token_evidence"] != 0
    rel = rec["token_relevance"][:, r].astype(float)
    cand = np.array([p for p in range(len(seg) - 1) if seg[p] != -1], dtype=int)
    pattern = -1
    E = int(ev[cand].sum()) if cand.size else 0
    if E:
        order = cand[np.lexsort((cand, -np.abs(rel[cand])))]
        informative |= ev[order[:top_k]].sum() / E >= recovery
        a, e = np.abs(rel[cand]), ev[cand]
        pos = rel[cand] > 0
        urt = rel[cand][e].sum() > 0 or (a.sum() > 0 and a[e].sum() / a.sum() < urt_ratio * E / cand.size)
        toward = rel[cand][pos].sum()
        oit = toward > 0 and rel[cand][pos & ~e].sum() / toward > oit_share
        pattern = int(urt) | (2 * int(oit))
    scores = rec.get("graph_summary")
    corr, kept = ((scores[GRAPH_SUMMARY_COLUMNS.index("intervention_correlation")],
                   scores[GRAPH_SUMMARY_COLUMNS.index("kept_share")]) if scores is not None else (np.nan, np.nan))
    tested = bool(rec["graph_node_layer"].size) and not np.isnan(corr) if "graph_node_layer" in rec else False
    graph = (1 if corr >= graph_correlation and kept >= graph_kept_share else 2) if tested else 3
    outcome = -1 if not rec["delta"] > 0 else (0 if informative else graph)
    return outcome, pattern


def test_outcomes_and_patterns_equal_recomputation(reference_store):
    """Every stored outcome and pattern equals expected_outcome's, and the outcomes / patterns
    aggregates count them; the tiny model gives more than one outcome and some patterns (SciQ's
    support sentences are evidence)."""
    data = read_store(reference_store)
    stored = read_aggregates(reference_store)
    counts: dict = {}
    for (table, cid), rec in data.items():
        R = rec["token_relevance"].shape[1]
        for r in range(R):
            want = expected_outcome(rec, r)
            assert (int(rec["outcome"][r]), int(rec["pattern"][r])) == want, (table, cid, r)
            o, p = counts.setdefault(table, (np.zeros((R, 5)), np.zeros((R, 5))))
            o[r, want[0] + 1] += 1
            if want[1] >= 0 and rec["delta"] > 0:
                p[r, 0] += 1
                p[r, {1: 1, 2: 2, 3: 3, 0: 4}[want[1]]] += 1
    for table, (o, p) in counts.items():
        np.testing.assert_array_equal(stored[f"{table}/outcomes"], o, err_msg=table)
        np.testing.assert_array_equal(stored[f"{table}/patterns"], p, err_msg=table)
    every = sum(o for o, _ in counts.values())
    assert (every[:, 1] > 0).any() and (every[:, 2:].sum(axis=1) > 0).any(), every  # informative and not
    assert (every[:, 2:4] > 0).any(), every  # some graph tested where input attribution is not informative
    assert sum(p for _, p in counts.values())[:, 0].sum() > 0  # patterns where evidence is known


@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_give_the_same_store(tmp_path, clrp_bin, tiny_model, failures, reference_store, ranks):
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", batch=1 + ranks % 3)
    r = mpirun(clrp_bin, ranks, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{ranks} ranks" in r.stdout, r.stdout
    store = tmp_path / "store.h5"
    assert_same(read_store(reference_store), read_store(store))
    a, b = read_aggregates(reference_store), read_aggregates(store)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)
    # Every rank wrote its own log, and more than one rank explained cases.
    logs = sorted((tmp_path / "store.h5.logs").glob("rank-*.log"))
    assert len(logs) == ranks
    with h5py.File(store) as f:
        ranks_seen = set()
        for path in ["runs/" + k for k in {key[0] for key in read_store(store)}]:
            ranks_seen |= set(f[path]["cases"]["rank"].tolist())
    assert len(ranks_seen) > 1


def rank_pids(log_dir: pathlib.Path) -> list[int]:
    pids = []
    for log in log_dir.glob("rank-*.log"):
        m = re.search(r" pid (\d+) ", log.read_text())
        if m:
            pids.append(int(m.group(1)))
    return pids


def committed_lines(log_dir: pathlib.Path) -> int:
    return sum(l.count("committed ") for l in (p.read_text() for p in log_dir.glob("rank-*.log")))


def committed_cases(store: pathlib.Path) -> int:
    with h5py.File(store) as f:
        return sum(int(g.attrs["committed_rows"]) for m in f["runs"].values()
                   for c in m.values() for g in c.values())


def h5dump_reads(store: pathlib.Path):
    r = subprocess.run(["h5dump", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, f"h5dump cannot read {store}: {r.stderr[-2000:]}"


# Where the 2-rank run dies: ("commits", n) kills both ranks from outside after the n-th
# commit line of the rank logs (while cases are being explained, nearly all of a run);
# ("hook", "POINT:N") makes every rank SIGKILL itself the N-th time it reaches POINT inside
# the store's HDF5 writes (src/store/kill_hook.hpp): mid-append (case rows written, their
# ragged data not), right after a commit's data flush, between the committed_* attributes
# of one table (2nd commit: 10 counts per commit with the fixture's 2 tables), and while
# /aggregate is being rewritten after the last commit.
KILL_POINTS = [("commits", 1), ("commits", 4), ("commits", 9), ("hook", "append:5"),
               ("hook", "commit-flushed:3"), ("hook", "commit-attr:12"), ("hook", "aggregate:1")]


@pytest.mark.parametrize("how,where", KILL_POINTS, ids=[f"{h}-{w}" for h, w in KILL_POINTS])
def test_kill9_then_resume(tmp_path, clrp_bin, tiny_model, failures, reference_store, how, where):
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", batch=1)
    store, logs = tmp_path / "store.h5", tmp_path / "store.h5.logs"
    total = len(read_store(reference_store))
    if how == "commits":
        proc = mpirun(clrp_bin, 2, spec, env_extra={"CLRP_TEST_CASE_DELAY_MS": "150"}, wait=False)
        deadline = time.time() + 300
        while committed_lines(logs) < where and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        for pid in rank_pids(logs):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode != 0
    else:
        r = mpirun(clrp_bin, 2, spec, env_extra={"CLRP_TEST_KILL_AT": where})
        assert r.returncode != 0 and "complete" not in r.stdout, r.stdout + r.stderr
    h5dump_reads(store)
    committed = committed_cases(store)
    if where == "aggregate:1":
        assert committed == total  # every case committed; only /aggregate was cut short
    else:
        assert 0 < committed < total
    r = mpirun(clrp_bin, 2, spec, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"({committed} committed before)" in r.stdout, r.stdout
    h5dump_reads(store)
    assert_same(read_store(reference_store), read_store(store))
    a, b = read_aggregates(reference_store), read_aggregates(store)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)


def test_full_disk_keeps_committed_cases(tmp_path, clrp_bin, tiny_model, failures, reference_store):
    """A store on a tmpfs with room for about half of it: the run fails with an error that
    names the store, the file stays readable with every committed case intact, and after
    the tmpfs grows, --resume finishes it with the numbers of an uninterrupted run."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    # Half the bytes the finished store occupies (it is sparse: st_size is far larger), plus
    # the 1 MiB the store keeps free for HDF5's metadata (Store::ensure_space).
    used = reference_store.stat().st_blocks * 512
    size = (1 << 20) + used // 2
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()}): needs root")
    try:
        spec = write_spec(mnt / "spec.toml", tiny_model, failures, "store.h5", batch=1)
        r = mpirun(clrp_bin, 2, spec)
        assert r.returncode != 0 and "complete" not in r.stdout, r.stdout + r.stderr
        assert re.search(r"clrp: error on rank \d: \S*store\.h5: not enough free space to write the next batch "
                         r".*cases committed before are kept", r.stderr), r.stderr
        store = mnt / "store.h5"
        h5dump_reads(store)
        kept = read_store(store)
        ref = read_store(reference_store)
        assert 0 < len(kept) < len(ref)
        assert_same({k: ref[k] for k in kept}, kept)
        subprocess.run(["mount", "-o", f"remount,size={16 * used}", str(mnt)], check=True)
        r = mpirun(clrp_bin, 2, spec, "--resume")
        assert r.returncode == 0 and f"({len(kept)} committed before)" in r.stdout, r.stdout + r.stderr
        assert_same(ref, read_store(store))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_sigterm_commits_and_exits_75(tmp_path, clrp_bin, tiny_model, failures, reference_store):
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", batch=1, commit_seconds=1000)
    proc = mpirun(clrp_bin, 2, spec, env_extra={"CLRP_TEST_CASE_DELAY_MS": "200"}, wait=False)
    logs = tmp_path / "store.h5.logs"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if sum(p.read_text().count("case ") for p in logs.glob("rank-*.log")) >= 4:
            break
        time.sleep(0.05)
    for pid in rank_pids(logs):
        os.kill(pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, out + err
    assert "stopped early" in out
    stored = read_store(tmp_path / "store.h5")
    assert 0 < len(stored) < len(read_store(reference_store))  # committed at the signal, not before
    r = mpirun(clrp_bin, 2, spec, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_same(read_store(reference_store), read_store(tmp_path / "store.h5"))


def test_refusals(tmp_path, clrp_bin, tiny_model, failures, reference_store):
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", limit=3)
    assert mpirun(clrp_bin, 1, spec).returncode == 0
    # An existing store without --resume.
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 2 and "already exists" in r.stderr, r.stderr
    # A different spec on --resume.
    other = write_spec(tmp_path / "other.toml", tiny_model, failures, "store.h5", limit=3, rules=("attnlrp",))
    r = mpirun(clrp_bin, 1, other, "--resume")
    assert r.returncode == 2 and "different campaign spec" in r.stderr, r.stderr
    # A store held by another campaign.
    with open(tmp_path / "store.h5.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("pid 1 on elsewhere")
        lock.flush()
        r = mpirun(clrp_bin, 2, spec, "--resume")
    assert r.returncode == 2 and "being written by another campaign" in r.stderr, r.stderr
    # Resume of a finished store: nothing to do, still complete.
    r = mpirun(clrp_bin, 1, spec, "--resume")
    assert r.returncode == 0 and "(3 committed before)" in r.stdout, r.stdout + r.stderr


def test_spec_errors_all_at_once(tmp_path, clrp_bin, tiny_model):
    spec = tmp_path / "bad.toml"
    spec.write_text(f"""
name = "x"
store = "nowhere/s.h5"
rules = ["attnlrp", "lrp-eps"]
[[models]]
name = "tiny"
path = "{tiny_model}"
dtype = "half"
[[models]]
name = "gone"
path = "no/such/model"
[[cases]]
path = "missing.jsonl"
limt = 3
[faithfulness]
urt_ratio = inf
""")
    r = subprocess.run([str(clrp_bin), "run", str(spec)], capture_output=True, text=True,
                       env=dict(os.environ, **MPI_ENV))
    assert r.returncode == 2
    for want in ["store: ", "rules[1]: 'lrp-eps'", "models[0].dtype: 'half'", "models[1].path: ",
                 "cases[0].path: ", "cases[0].limt: unknown key",
                 "faithfulness.urt_ratio: must be a finite number", "7 problems"]:
        assert want in r.stderr, (want, r.stderr)


def test_inspect(reference_store, clrp_bin):
    r = subprocess.run([str(clrp_bin), "inspect", str(reference_store), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    j = __import__("json").loads(r.stdout)
    assert j["campaign"] == "test" and j["committed_cases"] == len(read_store(reference_store))
    assert all("aggregate" in t for t in j["tables"])
    data = read_store(reference_store)
    assert sum(t["graph_nodes"] for t in j["tables"]) == sum(r["graph_node_layer"].size for r in data.values()) > 0
    assert sum(t["graph_edges"] for t in j["tables"]) == sum(r["graph_edge_source"].size for r in data.values())
    r = subprocess.run([str(clrp_bin), "inspect", str(reference_store)], capture_output=True, text=True)
    assert r.returncode == 0 and "committed cases" in r.stdout and "attnlrp" in r.stdout
    assert "graphs: " in r.stdout


def test_fixed_set_over_checkpoints_and_models(tmp_path, clrp_bin, tiny_model, failures):
    """Pairs of one model explained under a second model and a folder of step*/ checkpoints;
    each (model, checkpoint) gets its own tables, and the numbers of the reference's own
    table equal a plain explain-failures run of that model."""
    other = make_llama("llama_mha_tied")  # same tokenizer (same recipe), other weights
    ck = tmp_path / "ck"
    for step, model in (("step20", other), ("step3", tiny_model)):
        (ck / step).mkdir(parents=True)
        for f in model.iterdir():
            (ck / step / f.name).symlink_to(f)
    spec = tmp_path / "spec.toml"
    spec.write_text(f"""
name = "fixed"
mode = "fixed-set"
reference = "ref"
store = "store.h5"
rules = ["attnlrp"]
[record]
residual = true
heads = false
[[models]]
name = "ref"
path = "{tiny_model}"
[[models]]
name = "sweep"
checkpoints = "{ck}"
[[cases]]
path = "{failures}"
limit = 6
seed = 1
""")
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    data = read_store(tmp_path / "store.h5")
    tables = sorted({t for t, _ in data})
    assert [t.split("/")[1] for t in tables] == ["final", "final", "step20", "step20", "step3", "step3"]
    # step3 is the reference model itself: identical numbers; step20 is another model.
    for t, cid in data:
        if t.startswith("sweep/step3/"):
            ref = data[(t.replace("sweep/step3/", "ref/final/"), cid)]
            np.testing.assert_allclose(data[(t, cid)]["token_relevance"], ref["token_relevance"], rtol=1e-6)
        if t.startswith("sweep/step20/"):
            ref = data[(t.replace("sweep/step20/", "ref/final/"), cid)]
            assert not np.allclose(data[(t, cid)]["token_relevance"], ref["token_relevance"])


def test_fixed_set_carries_pairs_to_another_tokenizer(tmp_path, clrp_bin, tiny_model, failures, smollm2_gguf):
    """Fixed set across tokenizers, from a failure file: the tiny reference's pairs go to SmolLM2
    (another vocabulary) by their text; each is explained there or listed, with its reason, in
    the table's pairs_not_carried (tests/oracle/test_campaign_benchmarks.py checks the carried
    tokens against Hugging Face `tokenizers`)."""
    spec = tmp_path / "spec.toml"
    spec.write_text(f"""
name = "fixed"
mode = "fixed-set"
reference = "ref"
store = "store.h5"
rules = ["attnlrp"]
[record]
residual = false
heads = false
[[models]]
name = "ref"
path = "{tiny_model}"
[[models]]
name = "smol"
path = "{smollm2_gguf}"
[[cases]]
path = "{failures}"
limit = 6
""")
    r = subprocess.run([str(clrp_bin), "--threads", "2", "run", str(spec)], capture_output=True, text=True,
                       env=dict(os.environ, **MPI_ENV))
    assert r.returncode == 0, r.stdout + r.stderr
    stored = read_store(tmp_path / "store.h5")
    with h5py.File(tmp_path / "store.h5") as f:
        refused = {}
        for bench in f["runs/smol/final"]:
            g = f["runs/smol/final"][bench]
            if "pairs_not_carried" in g:
                refused |= {(bench, e["case_id"]): e["reason"]
                            for e in json.loads(bytes(g["pairs_not_carried"][:]).decode())}
    reference = {(t.split("/")[-1], cid): rec for (t, cid), rec in stored.items() if t.startswith("ref/")}
    carried = {(t.split("/")[-1], cid): rec for (t, cid), rec in stored.items() if t.startswith("smol/")}
    assert len(reference) == 6 and carried, (reference.keys(), refused)
    assert not set(carried) & set(refused)
    assert set(carried) | set(refused) == set(reference)
    for key, rec in carried.items():  # SmolLM2's own ids and tokens, not the tiny model's
        assert list(rec["tokens"]) != list(reference[key]["tokens"]), key
    for reason in refused.values():
        assert reason.split(":")[0] in {"no_differing_token", "diverges_inside_prompt", "prefix_retokenizes",
                                        "tokens_do_not_spell_text", "same_text", "not_whole_text"}, reason


def test_failed_cases_are_counted_not_stored(tmp_path, clrp_bin, tiny_model, failures):
    """A pair that cannot be explained (here: longer than the model's context) is logged
    and counted; the others are stored; a resume tries the failed one again."""
    import json
    lines = failures.read_text().splitlines()[:4]
    long = json.loads(lines[0])
    long["id"] = "too-long"
    long["pair"]["prefix"] = " fox" * 600
    f = tmp_path / "failures.jsonl"
    f.write_text("".join(l + "\n" for l in lines + [json.dumps(long)]))
    spec = write_spec(tmp_path / "spec.toml", tiny_model, f, "store.h5")
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 explained, 1 failed" in r.stdout, r.stdout
    assert "too-long" not in {cid for _, cid in read_store(tmp_path / "store.h5")}
    logs = "".join(p.read_text() for p in (tmp_path / "store.h5.logs").glob("rank-*.log"))
    assert re.search(r"case too-long FAILED: .*longer than the model's context", logs), logs
    r = mpirun(clrp_bin, 1, spec, "--resume")
    assert "(4 committed before)" in r.stdout and "0 explained, 1 failed" in r.stdout, r.stdout
    # The table records the failure, so the store counts as finished (4 stored + 1 failed = 5 planned).
    with h5py.File(tmp_path / "store.h5") as f:
        g = f["runs/tiny/final"][json.loads(lines[0])["benchmark"]]
        assert (int(g.attrs["planned_rows"]), int(g.attrs["failed_rows"])) == (
            int(g.attrs["committed_rows"]) + 1, 1)


def test_graphs_in_the_store_equal_clrp_graph(reference_store, clrp_bin, tiny_model, failures, tmp_path):
    """The first 3 pairs of each table carry their attribution graph; each equals `clrp graph` on that case."""
    data = read_store(reference_store)
    with_graph = {key: rec for key, rec in data.items() if rec["graph_node_layer"].size}
    by_table = {}
    for (table, _cid) in data:
        by_table[table] = by_table.get(table, 0) + 1
    for table, n in by_table.items():
        assert sum(1 for (t, _c) in with_graph if t == table) == min(3, n), table
    for key, rec in data.items():
        if key not in with_graph:
            assert np.isnan(rec["graph_summary"]).all() and rec["graph_edge_source"].size == 0
    assert with_graph
    for (table, cid), rec in list(with_graph.items())[:2]:
        out = tmp_path / (cid.replace("/", "_") + ".json")
        subprocess.run([str(clrp_bin), "--threads", "1", "graph", "--model", str(tiny_model), "--cases",
                        str(failures), "--id", cid, "--interventions", "16", "--json", str(out)], check=True,
                       capture_output=True)
        g = __import__("json").loads(out.read_text())
        names = [layer["name"] for layer in g["clrp"]["node_layers"]]
        summary = g["clrp"]["summary"]
        assert rec["graph_summary"][0] == summary["nodes"] and rec["graph_summary"][1] == summary["edges"]
        assert rec["graph_summary"][2] == pytest.approx(g["clrp"]["target"], rel=1e-5)
        assert rec["graph_summary"][5] == pytest.approx(summary["self_bias_share"], rel=1e-4, abs=1e-6)
        # Nodes: (layer, position) -> relevance, the same set with the same values.
        stored_nodes = {(names[l], int(p)): float(r) for l, p, r in
                        zip(rec["graph_node_layer"], rec["graph_node_position"], rec["graph_node_relevance"])}
        json_nodes = {}
        for n in g["nodes"]:
            if n["feature_type"] == "logit":
                continue
            row = "emb" if n["layer"] == "E" else next(x["name"] for x in g["clrp"]["node_layers"]
                                                      if x["row"] == int(n["layer"]))
            json_nodes[(row, n["ctx_idx"])] = n["relevance"]
        assert stored_nodes.keys() == json_nodes.keys()
        for k, v in json_nodes.items():
            assert stored_nodes[k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
        # Edges between hidden states (the JSON adds the one edge into the Δℓ node).
        node_keys = list(zip(rec["graph_node_layer"], rec["graph_node_position"]))
        stored_edges = sorted((int(node_keys[s][0]), int(node_keys[s][1]), int(node_keys[t][0]),
                               int(node_keys[t][1]), round(float(w), 5)) for s, t, w in
                              zip(rec["graph_edge_source"], rec["graph_edge_target"], rec["graph_edge_weight"]))
        assert len(stored_edges) == summary["edges"] == len(g["links"]) - 1
        # Remainder = relevance minus the unpruned incoming edges: stored per node, as in the JSON.
        rem = g["clrp"]["remainder"]
        for (l, p), r in zip(node_keys, rec["graph_node_remainder"]):
            assert r == pytest.approx(rem[int(l)][int(p)], rel=1e-5, abs=1e-7)
        # The intervention test ([graphs] interventions = 16, the default): the same nodes zeroed, the
        # same measured changes, correlation and kept share (docs/graphs.md, "Interventions").
        t = g["clrp"]["interventions"]
        measured = {(names[int(l)], int(p)): float(m) for l, p, m in
                    zip(rec["graph_node_layer"], rec["graph_node_position"], rec["graph_node_ablation"])
                    if not np.isnan(m)}
        assert measured.keys() == {(n["layer"], n["position"]) for n in t["nodes"]} and measured
        for n in t["nodes"]:
            assert measured[(n["layer"], n["position"])] == pytest.approx(n["measured"], rel=1e-4, abs=1e-5)
        columns = GRAPH_SUMMARY_COLUMNS
        assert rec["graph_summary"][columns.index("intervention_correlation")] == pytest.approx(
            t["correlation"], rel=1e-4, abs=1e-5)
        assert rec["graph_summary"][columns.index("kept_share")] == pytest.approx(t["kept_share"], rel=1e-5)


@pytest.fixture(scope="module")
def one_rank_store(tmp_path_factory, clrp_bin, tiny_model, failures) -> pathlib.Path:
    """The store of one rank, without graphs (the pipeline tests' reference)."""
    d = tmp_path_factory.mktemp("one")
    spec = write_spec(d / "spec.toml", tiny_model, failures, "store.h5", graphs=0)
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    return d / "store.h5"


def assert_same_store(a: pathlib.Path, b: pathlib.Path):
    assert_same(read_store(a), read_store(b))
    x, y = read_aggregates(a), read_aggregates(b)
    assert sorted(x) == sorted(y)
    for k in x:
        np.testing.assert_allclose(x[k], y[k], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)


@pytest.mark.parametrize("stages", [2, 4])
def test_pipeline_groups_give_the_same_store(tmp_path, clrp_bin, tiny_model, failures, reference_store, stages):
    """4 ranks as G = 4 / stages groups of `stages` pipeline stages give the store of one rank
    (and so of G = 4, P = 1: test_ranks_give_the_same_store), attribution graphs (built stage
    by stage) and the deletion test included."""
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", batch=3)
    r = mpirun(clrp_bin, 4, spec, "--stages", stages)
    assert r.returncode == 0, r.stdout + r.stderr
    groups = 4 // stages
    assert f"4 ranks: {groups} group{'s' if groups > 1 else ''} of {stages} stages" in r.stdout, r.stdout
    assert "layers [0," in r.stdout and "transport mpi" in r.stdout, r.stdout  # the split, printed at start
    store = tmp_path / "store.h5"
    assert_same_store(reference_store, store)
    # Only the groups' leaders (stage 0) hold and write records.
    with h5py.File(store) as f:
        ranks_seen = set()
        for path in ["runs/" + k for k in {key[0] for key in read_store(store)}]:
            ranks_seen |= set(f[path]["cases"]["rank"].tolist())
    assert ranks_seen <= set(range(0, 4, stages))


def test_a_dead_stage_aborts_and_the_campaign_resumes(tmp_path, clrp_bin, tiny_model, failures, one_rank_store):
    """G = 2, P = 2: the last stage of group 1 is killed (-9) after the first commit. The job
    stops, naming the dead rank; --resume finishes it with every case exactly once."""
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", batch=1, graphs=0)
    store, logs = tmp_path / "store.h5", tmp_path / "store.h5.logs"
    proc = mpirun(clrp_bin, 4, spec, "--stages", 2, env_extra={"CLRP_TEST_CASE_DELAY_MS": "150"}, wait=False)
    deadline = time.time() + 300
    while committed_lines(logs) < 4 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    victim = logs / "rank-3.log"
    assert "(group 1 stage 1 (world rank 3 of 4))" in victim.read_text()
    os.kill(int(re.search(r" pid (\d+) ", victim.read_text()).group(1)), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "complete" not in out
    assert "rank 3" in err and "signal 9" in err, err[-3000:]
    committed = committed_cases(store)
    assert 0 < committed < len(read_store(one_rank_store))
    r = mpirun(clrp_bin, 4, spec, "--stages", 2, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"({committed} committed before)" in r.stdout, r.stdout
    assert_same_store(one_rank_store, store)


def _bytes(text: str) -> float:
    value, unit = text.split()
    return float(value) * {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}[unit]


def test_memory_budget_chooses_the_stages(tmp_path, clrp_bin, tiny_model, failures, one_rank_store):
    """layout.memory_per_rank: a model over budget is refused with its estimate (and the stage
    count that would fit); stages = "auto" picks the fewest stages that fit, here 2."""
    estimates = {}
    for stages in (1, 2):
        spec = write_spec(tmp_path / "probe.toml", tiny_model, failures, "probe.h5", graphs=0,
                          layout=f'memory_per_rank = "1K"\nstages = {stages}')
        r = mpirun(clrp_bin, 4, spec)
        assert r.returncode != 0 and "layout.memory_per_rank" in r.stderr, r.stdout + r.stderr
        m = re.search(r"needs about ([\d.]+ \w+) per rank with (\d) stage", r.stderr)
        assert m and int(m[2]) == stages, r.stderr
        assert "over the budget of 1.0 KiB" in r.stderr
        estimates[stages] = _bytes(m[1])
    assert estimates[2] < estimates[1]
    budget = int((estimates[1] + estimates[2]) / 2)
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5", graphs=0,
                      layout=f'memory_per_rank = "{budget}"\nstages = "auto"')
    r = mpirun(clrp_bin, 4, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 ranks: 2 groups of 2 stages" in r.stdout and "per rank with 2 stage(s)" in r.stdout, r.stdout
    assert_same_store(one_rank_store, tmp_path / "store.h5")


def test_stages_must_divide_the_ranks(tmp_path, clrp_bin, tiny_model, failures):
    spec = write_spec(tmp_path / "spec.toml", tiny_model, failures, "store.h5")
    r = mpirun(clrp_bin, 3, spec, "--stages", 2)
    assert "the 3 ranks of the job do not split into groups of 2 stages" in r.stderr, r.stderr
    assert not (tmp_path / "store.h5").exists()
