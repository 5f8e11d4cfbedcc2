"""A campaign store as pandas tables, one row per committed case (and per rule,
segment or layer where the data has those axes). Only the first
`committed_rows` rows of each table are read: rows past them belong to a run
that has not committed them (docs/store.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

import h5py
import numpy as np
import pandas as pd


@dataclass
class Store:
    path: str
    campaign: str
    spec: dict
    tables: pd.DataFrame  # one row per table: model, checkpoint, benchmark, committed, planned, failed
    # One row per case; `fixed_pair`: it explains a fixed-set campaign's (the reference's) pair;
    # `same_set`: it belongs to the pairs its campaign explains under every target (fixed-set: the
    # reference's; explain-failures: each target's own, so every case), what models are compared on.
    cases: pd.DataFrame
    segments: pd.DataFrame  # case × rule × segment
    layers: pd.DataFrame  # case × rule × layer (when residual relevance was recorded)
    evidence: pd.DataFrame  # case × rule, cases with evidence tokens only
    graphs: pd.DataFrame  # one row per case with an attribution graph: its graph_summary columns
    deletion: pd.DataFrame  # case × method (each rule, then "random"): stored deletion_tokens
    deletion_tables: pd.DataFrame  # table × method: the store's /aggregate/.../deletion rows
    # Faithfulness curves (docs/faithfulness.md), when recorded: per case × operator × method
    # (each rule, then "random"): the two areas (NaN for "random"), tokens to flip, Δℓ, N;
    faithfulness: pd.DataFrame = field(default_factory=pd.DataFrame)
    # and per case × operator × order ("<rule> most", "<rule> least", "random") × step: k removed,
    # x = k / N, Δℓ after the step, and y = Δℓ_k / Δℓ.
    faithfulness_curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Per case × rule (with faithfulness): the outcome's name and the URT / OIT pattern (NaN-free
    # booleans; `evidence` False where no evidence is known) — docs/faithfulness.md.
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)
    # One row per evaluated benchmark item (campaigns with [[benchmarks]]): its outcome
    # ("correct", "failure_with_pair", "failure_no_pair", "error"), Δℓ of its pair, why a
    # failure has none, and the evaluator's whole record (`detail`, a dict).
    evaluations: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Graph interventions (docs/graphs.md, "Interventions"): per tested node of a case's graph, its
    # node layer index and position, the change of Δℓ the graph predicts (−relevance) and the one
    # measured with the node's hidden state zeroed.
    graph_interventions: pd.DataFrame = field(default_factory=pd.DataFrame)
    checkpoint_order: dict = field(default_factory=dict)  # (model, checkpoint) -> position
    specs: list = field(default_factory=list)  # every campaign's spec (several when stores are read as one)
    # Fixed-set campaigns across tokenizers: the reference's pairs that did not carry to a
    # table's tokenizer, and why (model, checkpoint, benchmark, case_id, reason).
    not_carried: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def unfinished(self) -> pd.DataFrame:
        """The tables with work left (incomplete())."""
        return self.tables[incomplete(self.tables)]

    @property
    def rules(self) -> list[str]:
        """Every rule of the store's tables, in the spec's order."""
        return list(dict.fromkeys(r for rs in self.tables["rules"] for r in rs))


def incomplete(tables: pd.DataFrame) -> pd.Series:
    """Per table: cases still to explain or benchmark items still to answer (the explanations are
    planned only once every item is answered, so a run killed while evaluating has planned none)."""
    return (tables["committed"] + tables["failed"] < tables["planned"]) | (
        tables["evaluated"] < tables["planned_evaluations"])


def reference_failures(spec: dict, evaluations: pd.DataFrame, order: dict) -> pd.DataFrame:
    """A fixed-set spec's fixed set: the evaluation rows of its reference's last checkpoint that
    failed with a pair (empty without a reference or its evaluations)."""
    ref = spec.get("reference") or ""
    rows = evaluations[evaluations["model"] == ref]
    if not ref or rows.empty:
        return rows.iloc[0:0]
    last = max(rows["checkpoint"].unique(), key=lambda c: order.get((ref, c), 0))
    return rows[(rows["checkpoint"] == last) & rows["with_pair"]]


def checkpoint_order(spec: dict) -> dict:
    """(model, checkpoint) -> position in the spec (step folders are listed by step number)."""
    out = {}
    for m in spec.get("models", []):
        for i, c in enumerate(m.get("checkpoints", [])):
            out[(m["name"], c["name"])] = i
    return out


def _topk_hit(rel: np.ndarray, ev: np.ndarray, k: int) -> bool:
    """Do the k tokens of largest |relevance| (ties: earlier token) include an evidence token?"""
    order = np.lexsort((np.arange(rel.size), -np.abs(rel)))[:min(k, rel.size)]
    return bool(ev[order].any())


# lrp::Outcome codes −1 .. 3, by code + 1 (docs/faithfulness.md, "Outcomes and patterns").
OUTCOMES = ["not_a_failure", "input_informative", "graph_informative", "neither", "graph_not_tested"]


def _recovery(rel: np.ndarray, ev: np.ndarray, seg: np.ndarray, k: int) -> dict:
    """Evidence recovery (docs/faithfulness.md): among the removable tokens (segment != -1, not the
    last), the share of the evidence in the top k and the top ceil(10 %) by |relevance| (ties: earlier
    token), and the same share expected of as many random tokens."""
    cand = np.array([t for t in range(rel.size - 1) if seg[t] != -1], dtype=int)
    E = int(ev[cand].sum()) if cand.size else 0
    if E == 0:
        return {"recovery_topk": np.nan, "recovery_topk_chance": np.nan, "recovery_top10": np.nan,
                "recovery_top10_chance": np.nan}
    order = cand[np.lexsort((cand, -np.abs(rel[cand])))]
    top_k, tenth = min(k, cand.size), -(-cand.size // 10)
    return {"recovery_topk": ev[order[:top_k]].sum() / E, "recovery_topk_chance": top_k / cand.size,
            "recovery_top10": ev[order[:tenth]].sum() / E, "recovery_top10_chance": tenth / cand.size}


def _random_hit(T: int, E: int, k: int) -> float:
    """P(at least one of k random distinct tokens of T is among the E evidence tokens)."""
    k = min(k, T)
    miss = 1.0
    for j in range(k):
        if T - E <= j:
            return 1.0
        miss *= (T - E - j) / (T - j)
    return 1.0 - miss


def _deletion_aggregate(f: h5py.File, model: str, ck: str, bench: str, methods: list[str]) -> list[dict]:
    """The C++ aggregate /aggregate/<model>/<checkpoint>/<benchmark>/deletion ([R + 1, 3]: cases
    with Δℓ > 0, flip rate among them, mean tokens to flip among the flipped), one row per method."""
    name = f"aggregate/{model}/{ck}/{bench}/deletion"
    if name not in f:
        return []
    d = f[name][()]
    return [{"model": model, "checkpoint": ck, "benchmark": bench, "method": m, "cases": int(d[j, 0]),
             "flip_rate": float(d[j, 1]), "mean_tokens": float(d[j, 2])} for j, m in enumerate(methods)]


EVALUATION_COLUMNS = ["model", "checkpoint", "benchmark", "case_id", "item_index", "outcome", "correct",
                      "correct_per_char", "with_pair", "no_pair", "delta", "wrong_id", "correct_id",
                      "pair_position", "prompt_tokens", "generated_tokens", "seconds", "detail"]


def _evaluation_rows(g: h5py.Group, model: str, ck: str, bench: str) -> list[dict]:
    """The committed evaluation rows of a table (docs/store.md, "Evaluations")."""
    n = int(g.attrs.get("committed_evaluations", 0))
    if n == 0:
        return []
    names = json.loads(g.attrs["outcome_names"])
    rows = g["evaluations"][:n]
    ids, detail = bytes(g["evaluation_id"][:]), bytes(g["evaluation_detail"][:])
    out = []
    for row in rows:
        d = json.loads(detail[row["detail_offset"]:row["detail_offset"] + row["detail_length"]])
        outcome = names[int(row["outcome"])]
        out.append({"model": model, "checkpoint": ck, "benchmark": bench,
                    "case_id": ids[row["id_offset"]:row["id_offset"] + row["id_length"]].decode(),
                    "item_index": int(row["item_index"]), "outcome": outcome,
                    "correct": outcome == "correct", "correct_per_char": bool(row["correct_per_char"]),
                    "with_pair": outcome == "failure_with_pair", "no_pair": d.get("no_pair"),
                    "delta": float(row["delta"]), "wrong_id": int(row["wrong_id"]),
                    "correct_id": int(row["correct_id"]), "pair_position": int(row["pair_position"]),
                    "prompt_tokens": int(row["prompt_tokens"]),
                    "generated_tokens": int(row["generated_tokens"]), "seconds": float(row["seconds"]),
                    "detail": d})
    return out


def _fixed_pairs(spec: dict, cases: pd.DataFrame, evaluations: pd.DataFrame, order: dict) -> pd.Series:
    """Per case row: does it explain the campaign's fixed set (fixed-set mode: the reference's pair)
    rather than the target's own failure? With own_failures a target's own failures lie on the
    items the reference's last checkpoint did not fail, so the reference's verdicts tell them apart."""
    if spec.get("mode") != "fixed-set":
        return pd.Series(False, index=cases.index)
    if not spec.get("own_failures"):
        return pd.Series(True, index=cases.index)
    failed = reference_failures(spec, evaluations, order)
    keys = set(zip(failed["benchmark"], failed["case_id"]))
    return pd.Series([(b, c) in keys for b, c in zip(cases["benchmark"], cases["case_id"])], index=cases.index,
                     dtype=bool)


def read_store(path: str) -> Store:
    case_rows, seg_rows, layer_rows, ev_rows, table_rows, graph_rows = [], [], [], [], [], []
    intervention_rows = []
    del_rows, del_tables, eval_rows, not_carried = [], [], [], []
    faith_rows, curve_rows, outcome_rows = [], [], []
    with h5py.File(path, "r") as f:
        spec = json.loads(f.attrs["spec"].decode() if isinstance(f.attrs["spec"], bytes) else f.attrs["spec"])
        campaign = f.attrs["campaign"]
        campaign = campaign.decode() if isinstance(campaign, bytes) else str(campaign)
        runs = f["runs"] if "runs" in f else {}
        for model in runs:
            for ck in runs[model]:
                for bench in runs[model][ck]:
                    g = runs[model][ck][bench]
                    rules = json.loads(g.attrs["rules"])
                    segcols = json.loads(g.attrs["segment_columns"])
                    n = int(g.attrs["committed_rows"])
                    layout = g.attrs.get("layout", b"{}")
                    layout = json.loads(layout.decode() if isinstance(layout, bytes) else layout or "{}")
                    # The deletion test's cap (record.deletion_max_tokens; 0: not recorded).
                    cap = int(layout.get("deletion_max_tokens", 0)) if "deletion_tokens" in g else 0
                    table_rows.append({
                        "model": model, "checkpoint": ck, "benchmark": bench, "committed": n,
                        "planned": int(g.attrs.get("planned_rows", n)),
                        "failed": int(g.attrs.get("failed_rows", 0)), "layers": int(g.attrs["layers"]),
                        # Benchmark items answered and planned (a run killed while evaluating has
                        # fewer; a table of failure files plans none).
                        "evaluated": int(g.attrs.get("committed_evaluations", 0)),
                        "planned_evaluations": int(g.attrs.get("planned_evaluations", 0)),
                        "deletion_max_tokens": cap, "rules": rules})
                    if cap:
                        del_tables += _deletion_aggregate(f, model, ck, bench, rules + ["random"])
                    eval_rows += _evaluation_rows(g, model, ck, bench)
                    if "pairs_not_carried" in g:
                        for e in json.loads(bytes(g["pairs_not_carried"][:]).decode()):
                            not_carried.append({"model": model, "checkpoint": ck, "benchmark": bench,
                                                "case_id": e["case_id"], "reason": e["reason"]})
                    if n == 0:
                        continue
                    rows = g["cases"][:n]
                    ids = g["case_id"][:]
                    k = int(g.attrs["evidence_top_k"])
                    seg = g["segment_relevance"][:n]  # [n, R, S], S = len(segment_columns)
                    tok_end = int((rows["token_offset"] + rows["n_tokens"]).max())
                    rel = g["token_relevance"][:tok_end]
                    evid = g["token_evidence"][:tok_end] != 0
                    tseg = g["token_segment"][:tok_end]
                    lay = g["layer_relevance"][:tok_end] if "layer_relevance" in g else None
                    # Attribution graphs (schema clrp-store/2, [graphs] in the spec): the
                    # per-case summary; NaN rows are cases without a graph.
                    gcols = json.loads(g.attrs["graph_summary_columns"]) if "graph_summary" in g else []
                    gsum = g["graph_summary"][:n] if gcols else None
                    gabl = "graph_node_ablation" in g
                    if gabl:
                        gnl, gnp = g["graph_node_layer"][()], g["graph_node_position"][()]
                        gnr, gna = g["graph_node_relevance"][()], g["graph_node_ablation"][()]
                    # Deletion test: tokens deleted until Δℓ <= 0 per rule, then random order;
                    # 0: Δℓ <= 0 already, −1: not flipped within the cap.
                    dtok = g["deletion_tokens"][:n] if cap else None
                    # Faithfulness curves: [n, O, C, S] Δℓ, [n, O, R, 2] areas, [n, O, R + 1] flips.
                    faith = layout.get("faithfulness") if "faithfulness_delta" in g else None
                    if faith:
                        fd, fa = g["faithfulness_delta"][:n], g["faithfulness_area"][:n]
                        ff, fs = g["faithfulness_flip"][:n], g["faithfulness_steps"][:n]
                        fn = g["faithfulness_candidates"][:n]
                        foc, fpa = g["outcome"][:n], g["pattern"][:n]
                        K = int(faith["single_tokens"])
                        orders = [f"{r} {w}" for r in rules for w in ("most", "least")] + ["random"]
                    for i, row in enumerate(rows):
                        cid = bytes(ids[row["id_offset"]:row["id_offset"] + row["id_length"]]).decode()
                        if gsum is not None and not np.isnan(gsum[i, 0]):
                            graph_rows.append({"model": model, "checkpoint": ck, "benchmark": bench, "case_id": cid,
                                               **{c: float(v) for c, v in zip(gcols, gsum[i])}})
                            if gabl:
                                a, m = int(row["graph_node_offset"]), int(row["n_graph_nodes"])
                                for j in range(a, a + m):
                                    if not np.isnan(gna[j]):
                                        intervention_rows.append({
                                            "model": model, "checkpoint": ck, "benchmark": bench, "case_id": cid,
                                            "node_layer": int(gnl[j]), "position": int(gnp[j]),
                                            "predicted": -float(gnr[j]), "measured": float(gna[j])})
                        o, T = int(row["token_offset"]), int(row["n_tokens"])
                        delta = float(row["delta"])
                        key = {"model": model, "checkpoint": ck, "benchmark": bench, "case_id": cid}
                        case_rows.append({**key, "delta": delta, "pair_delta": float(row["pair_delta"]),
                                          "n_tokens": T, "case_index": int(row["case_index"])})
                        if faith:
                            for r, rule in enumerate(rules):
                                bits = int(fpa[i, r])
                                outcome_rows.append({**key, "rule": rule, "delta": delta,
                                                     "outcome": OUTCOMES[int(foc[i, r]) + 1],
                                                     "evidence": bits >= 0, "urt": bits > 0 and bool(bits & 1),
                                                     "oit": bits > 0 and bool(bits & 2)})
                            N = int(fn[i])
                            for oi, op in enumerate(faith["operators"]):
                                for j, method in enumerate(rules + ["random"]):
                                    a = fa[i, oi, j] if j < len(rules) else (np.nan, np.nan)
                                    faith_rows.append({**key, "operator": op, "method": method, "delta": delta,
                                                       "candidates": N, "area_least_minus_most": float(a[0]),
                                                       "area_random_minus_most": float(a[1]),
                                                       "tokens_to_flip": int(ff[i, oi, j]), "single_tokens": K})
                                for c, order in enumerate(orders):
                                    for st, removed in enumerate(fs[i]):
                                        v = float(fd[i, oi, c, st])
                                        curve_rows.append({**key, "operator": op, "order": order, "step": st,
                                                           "k": int(removed),
                                                           "x": int(removed) / N if N else np.nan,
                                                           "fraction": (0.0 if st == 0 else np.nan) if st <= K
                                                           else float(faith["fractions"][st - K - 1]),
                                                           "delta_k": v, "y": v / delta if delta else np.nan})
                        if dtok is not None:
                            for j, method in enumerate(rules + ["random"]):
                                del_rows.append({**key, "method": method, "delta": delta,
                                                 "tokens": int(dtok[i, j]), "max_tokens": cap})
                        ev = evid[o:o + T]
                        for r, rule in enumerate(rules):
                            for s, name in enumerate(segcols):
                                v = float(seg[i, r, s])
                                seg_rows.append({**key, "rule": rule, "segment": name, "relevance": v,
                                                 "share": v / abs(delta) if abs(delta) > 1e-9 else np.nan})
                            if lay is not None:
                                sums = lay[o:o + T, r, :].astype(float).sum(axis=0)
                                for layer, v in enumerate(sums):
                                    layer_rows.append({**key, "rule": rule, "layer": layer, "relevance": v})
                            if ev.any():
                                ev_rows.append({**key, "rule": rule,
                                                "hit": _topk_hit(rel[o:o + T, r].astype(float), ev, k),
                                                "random": _random_hit(T, int(ev.sum()), k), "k": k,
                                                **_recovery(rel[o:o + T, r].astype(float), ev, tseg[o:o + T], k)})
    cols = ["model", "checkpoint", "benchmark", "case_id"]
    cases = pd.DataFrame(case_rows, columns=cols + ["delta", "pair_delta", "n_tokens", "case_index"])
    evaluations = pd.DataFrame(eval_rows, columns=EVALUATION_COLUMNS)
    order = checkpoint_order(spec)
    cases["fixed_pair"] = _fixed_pairs(spec, cases, evaluations, order)
    cases["same_set"] = cases["fixed_pair"] if spec.get("mode") == "fixed-set" else True
    return Store(
        path=str(path), campaign=campaign, spec=spec,
        tables=pd.DataFrame(table_rows, columns=["model", "checkpoint", "benchmark", "committed", "planned",
                                                 "failed", "layers", "evaluated", "planned_evaluations",
                                                 "deletion_max_tokens", "rules"]),
        cases=cases,
        segments=pd.DataFrame(seg_rows, columns=cols + ["rule", "segment", "relevance", "share"]),
        layers=pd.DataFrame(layer_rows, columns=cols + ["rule", "layer", "relevance"]),
        evidence=pd.DataFrame(ev_rows, columns=cols + ["rule", "hit", "random", "k", "recovery_topk",
                                                       "recovery_topk_chance", "recovery_top10",
                                                       "recovery_top10_chance"]),
        graphs=pd.DataFrame(graph_rows, columns=cols + list(dict.fromkeys(
            k for r in graph_rows for k in r if k not in cols))),
        deletion=pd.DataFrame(del_rows, columns=cols + ["method", "delta", "tokens", "max_tokens"]),
        deletion_tables=pd.DataFrame(del_tables, columns=["model", "checkpoint", "benchmark", "method", "cases",
                                                          "flip_rate", "mean_tokens"]),
        evaluations=evaluations,
        faithfulness=pd.DataFrame(faith_rows, columns=cols + [
            "operator", "method", "delta", "candidates", "area_least_minus_most", "area_random_minus_most",
            "tokens_to_flip", "single_tokens"]),
        outcomes=pd.DataFrame(outcome_rows, columns=cols + ["rule", "delta", "outcome", "evidence", "urt",
                                                           "oit"]),
        faithfulness_curves=pd.DataFrame(curve_rows, columns=cols + [
            "operator", "order", "step", "k", "x", "fraction", "delta_k", "y"]),
        graph_interventions=pd.DataFrame(intervention_rows, columns=cols + [
            "node_layer", "position", "predicted", "measured"]),
        checkpoint_order=order, specs=[spec],
        not_carried=pd.DataFrame(not_carried, columns=cols + ["reason"]))


def read_stores(paths: list[str]) -> Store:
    """Several campaigns' stores read as one (a study run as several jobs, e.g. the trained series
    in one and the shipped models in another): their rows side by side. Each campaign keeps its
    own comparisons (`cases.same_set`, the reference of each fixed-set spec in `specs`); a model
    name in two of them would mix their rows, so that is refused."""
    parts = [read_store(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    owner: dict[str, str] = {}
    for part in parts:
        for model in part.tables["model"].unique():
            if model in owner:
                raise ValueError(f"model {model!r} is in two of the stores ({owner[model]} and {part.path}): "
                                 "give it another name in one of the specs to report them together")
            owner[model] = part.path
    merged = {}
    for f in fields(Store):
        values = [getattr(p, f.name) for p in parts]
        if isinstance(values[0], pd.DataFrame):
            frames = [v for v in values if not v.empty]
            merged[f.name] = pd.concat(frames, ignore_index=True) if frames else values[0]
        elif isinstance(values[0], dict):
            merged[f.name] = {k: v for d in values for k, v in d.items()}
        elif isinstance(values[0], list):
            merged[f.name] = [x for v in values for x in v]
        else:
            merged[f.name] = " + ".join(dict.fromkeys(str(v) for v in values))
    merged["spec"] = parts[0].spec
    return Store(**merged)
