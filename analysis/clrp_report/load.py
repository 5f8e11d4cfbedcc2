"""A campaign store as pandas tables, one row per committed case (and per rule,
segment or layer where the data has those axes). Only the first
`committed_rows` rows of each table are read: rows past them belong to a run
that has not committed them (docs/store.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np
import pandas as pd


@dataclass
class Store:
    path: str
    campaign: str
    spec: dict
    tables: pd.DataFrame  # one row per table: model, checkpoint, benchmark, committed, planned, failed
    cases: pd.DataFrame  # one row per case
    segments: pd.DataFrame  # case × rule × segment
    layers: pd.DataFrame  # case × rule × layer (when residual relevance was recorded)
    evidence: pd.DataFrame  # case × rule, cases with evidence tokens only
    graphs: pd.DataFrame  # one row per case with an attribution graph: its graph_summary columns
    checkpoint_order: dict = field(default_factory=dict)  # (model, checkpoint) -> position

    @property
    def unfinished(self) -> pd.DataFrame:
        t = self.tables
        return t[t["committed"] + t["failed"] < t["planned"]]


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


def _random_hit(T: int, E: int, k: int) -> float:
    """P(at least one of k random distinct tokens of T is among the E evidence tokens)."""
    k = min(k, T)
    miss = 1.0
    for j in range(k):
        if T - E <= j:
            return 1.0
        miss *= (T - E - j) / (T - j)
    return 1.0 - miss


def read_store(path: str) -> Store:
    case_rows, seg_rows, layer_rows, ev_rows, table_rows, graph_rows = [], [], [], [], [], []
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
                    table_rows.append({
                        "model": model, "checkpoint": ck, "benchmark": bench, "committed": n,
                        "planned": int(g.attrs.get("planned_rows", n)),
                        "failed": int(g.attrs.get("failed_rows", 0)), "layers": int(g.attrs["layers"]),
                        "rules": rules})
                    if n == 0:
                        continue
                    rows = g["cases"][:n]
                    ids = g["case_id"][:]
                    k = int(g.attrs["evidence_top_k"])
                    seg = g["segment_relevance"][:n]  # [n, R, 9]
                    tok_end = int((rows["token_offset"] + rows["n_tokens"]).max())
                    rel = g["token_relevance"][:tok_end]
                    evid = g["token_evidence"][:tok_end] != 0
                    lay = g["layer_relevance"][:tok_end] if "layer_relevance" in g else None
                    # Attribution graphs (schema clrp-store/2, [graphs] in the spec): the
                    # per-case summary; NaN rows are cases without a graph.
                    gcols = json.loads(g.attrs["graph_summary_columns"]) if "graph_summary" in g else []
                    gsum = g["graph_summary"][:n] if gcols else None
                    for i, row in enumerate(rows):
                        cid = bytes(ids[row["id_offset"]:row["id_offset"] + row["id_length"]]).decode()
                        if gsum is not None and not np.isnan(gsum[i, 0]):
                            graph_rows.append({"model": model, "checkpoint": ck, "benchmark": bench, "case_id": cid,
                                               **{c: float(v) for c, v in zip(gcols, gsum[i])}})
                        o, T = int(row["token_offset"]), int(row["n_tokens"])
                        delta = float(row["delta"])
                        key = {"model": model, "checkpoint": ck, "benchmark": bench, "case_id": cid}
                        case_rows.append({**key, "delta": delta, "pair_delta": float(row["pair_delta"]),
                                          "n_tokens": T, "case_index": int(row["case_index"])})
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
                                                "random": _random_hit(T, int(ev.sum()), k), "k": k})
    cols = ["model", "checkpoint", "benchmark", "case_id"]
    return Store(
        path=str(path), campaign=campaign, spec=spec,
        tables=pd.DataFrame(table_rows, columns=["model", "checkpoint", "benchmark", "committed", "planned",
                                                 "failed", "layers", "rules"]),
        cases=pd.DataFrame(case_rows, columns=cols + ["delta", "pair_delta", "n_tokens", "case_index"]),
        segments=pd.DataFrame(seg_rows, columns=cols + ["rule", "segment", "relevance", "share"]),
        layers=pd.DataFrame(layer_rows, columns=cols + ["rule", "layer", "relevance"]),
        evidence=pd.DataFrame(ev_rows, columns=cols + ["rule", "hit", "random", "k"]),
        graphs=pd.DataFrame(graph_rows, columns=cols + list(dict.fromkeys(
            k for r in graph_rows for k in r if k not in cols))),
        checkpoint_order=checkpoint_order(spec))
