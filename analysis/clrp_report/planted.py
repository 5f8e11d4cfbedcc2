"""Validation against the planted truth (docs/study.md): on cases whose failure mechanism is known
by construction (analysis/clrp_cases/planted.py writes `meta.mechanism`), does what clrp reports
match what was planted?

The truth is read from the campaign's own case files (the spec's benchmark and failure-file
paths): each case's mechanism, and the wrong answer the construction predicts for a model that
fails by that mechanism (`meta.distractor_answer`: the distractor's value; `meta.one_step_answer`:
the answer of a model that takes one step of two). Per model, checkpoint, task and rule, the
numbers set side by side what the construction guarantees and what clrp measured:

- accuracy, and how many failures gave the predicted wrong answer (`planted_wrong`);
- evidence hit rate of the rule's top-k tokens (and the chance rate), evidence recovery;
- the outcome categories (input attribution informative, graph, neither) and the patterns where
  evidence is known (URT, OIT) over the explained failures;
- `top1_flip`: the share of failures undone by deleting the rule's single most relevant token
  (the two-step task is built so that no single token decides).
"""
from __future__ import annotations

import json
import pathlib
import re

import numpy as np
import pandas as pd

from .load import Store
from .stats import bootstrap_ci, wilson_ci

# What each planted mechanism guarantees, in words (the report's table and docs/study.md).
EXPECTED = {
    "retrieval": "the key's line decides: its tokens should rank in the top k",
    "copy": "the person's sentence decides: its tokens should rank in the top k",
    "format": "the instruction decides the format: its tokens should rank in the top k",
    "two_step": "two facts decide together: no single token should undo the failure",
    "distractor": "a follower answers the decoy's value: relevance outside the evidence (OIT)",
}

# The number each mechanism is judged by (the figure's panels, the findings): its column of
# validation() and what it measures.
MEASURE = {"retrieval": ("evidence_hit", "evidence in the top k"),
           "copy": ("evidence_hit", "evidence in the top k"),
           "format": ("evidence_hit", "evidence in the top k"),
           "two_step": ("top1_flip", "failures undone by the top-1 token"),
           "distractor": ("oit", "failures with OIT")}

TRUTH_COLUMNS = ["benchmark", "case_id", "mechanism", "predicted_wrong"]
COLUMNS = ["model", "checkpoint", "benchmark", "mechanism", "rule", "items", "accuracy", "accuracy_low",
           "accuracy_high", "failures", "planted_wrong", "explained", "evidence_hit", "evidence_hit_low",
           "evidence_hit_high", "evidence_chance", "recovery_topk", "recovery_topk_chance",
           "input_informative", "graph_informative", "neither", "graph_not_tested", "urt", "oit",
           "top1_flip", "top1_flip_low", "top1_flip_high"]


def case_truth(specs: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The planted cases of the specs' case files: (benchmark, case id, mechanism, the wrong answer
    the mechanism predicts or ""), and the files that could not be read."""
    rows, missing = [], []
    paths = [b["path"] for spec in specs for b in spec.get("benchmarks", [])] + [
        c["path"] for spec in specs for c in spec.get("cases", [])]
    for path in dict.fromkeys(paths):
        try:
            lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
        except OSError:
            missing.append(path)
            continue
        for line in lines:
            if '"mechanism"' not in line:
                continue
            c = json.loads(line)
            meta = c.get("meta", {})
            if "mechanism" in meta:
                predicted = meta.get("distractor_answer") or meta.get("one_step_answer") or ""
                rows.append({"benchmark": c["benchmark"], "case_id": c["id"], "mechanism": meta["mechanism"],
                             "predicted_wrong": str(predicted)})
    truth = pd.DataFrame(rows, columns=TRUTH_COLUMNS).drop_duplicates(["benchmark", "case_id"])
    return truth, missing


def _first_number(text: str) -> str | None:
    m = re.search(r"-?\d+", text or "")
    return m.group(0) if m else None


def _rate(flags) -> tuple[float, float, float]:
    v = np.asarray(flags, dtype=float)
    if not v.size:
        return (np.nan,) * 3
    lo, hi = bootstrap_ci(v)
    return float(v.mean()), lo, hi


def validation(store: Store, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per model, checkpoint, planted benchmark and rule (columns: COLUMNS)."""
    if truth.empty:
        return pd.DataFrame(columns=COLUMNS)
    mech = truth.set_index(["benchmark", "case_id"])
    planted_benchmarks = set(truth["benchmark"])
    ev = store.evaluations[store.evaluations["benchmark"].isin(planted_benchmarks)]
    ev = ev.merge(truth, on=["benchmark", "case_id"])
    keys = ["model", "checkpoint", "benchmark"]
    targets = pd.concat([ev[keys], store.cases[store.cases["benchmark"].isin(planted_benchmarks)][keys]])
    out = []
    for (m, c, b) in targets.drop_duplicates().itertuples(index=False):
        mechanism = mech.loc[b, "mechanism"].iloc[0]
        e = ev[(ev.model == m) & (ev.checkpoint == c) & (ev.benchmark == b) & (ev.outcome != "error")]
        failed = e[~e["correct"]]
        wrong = [bool(p) and _first_number(d.get("text", "")) == p
                 for p, d in zip(failed["predicted_wrong"], failed["detail"])]
        acc_lo, acc_hi = wilson_ci(int(e["correct"].sum()), len(e))

        def of(df: pd.DataFrame) -> pd.DataFrame:
            return df[(df.model == m) & (df.checkpoint == c) & (df.benchmark == b)]

        cases, evidence, outcomes, faithfulness = (
            of(store.cases), of(store.evidence), of(store.outcomes), of(store.faithfulness))
        for rule in store.rules:
            evid = evidence[evidence.rule == rule]
            hit, hit_lo, hit_hi = _rate(evid["hit"])
            oc = outcomes[(outcomes.rule == rule) & (outcomes.delta > 0)]
            with_ev = oc[oc["evidence"]]
            fa = faithfulness[(faithfulness.method == rule) & (faithfulness.operator == "delete")
                              & (faithfulness.delta > 0)]
            flip, flip_lo, flip_hi = _rate(fa["tokens_to_flip"] == 1)
            n_oc = len(oc)
            out.append({
                "model": m, "checkpoint": c, "benchmark": b, "mechanism": mechanism, "rule": rule,
                "items": len(e), "accuracy": e["correct"].mean() if len(e) else np.nan,
                "accuracy_low": acc_lo, "accuracy_high": acc_hi, "failures": len(failed),
                "planted_wrong": int(sum(wrong)), "explained": int((cases["delta"] > 0).sum()),
                "evidence_hit": hit, "evidence_hit_low": hit_lo, "evidence_hit_high": hit_hi,
                "evidence_chance": evid["random"].mean() if len(evid) else np.nan,
                "recovery_topk": evid["recovery_topk"].mean() if len(evid) else np.nan,
                "recovery_topk_chance": evid["recovery_topk_chance"].mean() if len(evid) else np.nan,
                **{k: (oc["outcome"] == k).sum() / n_oc if n_oc else np.nan
                   for k in ("input_informative", "graph_informative", "neither", "graph_not_tested")},
                "urt": with_ev["urt"].mean() if len(with_ev) else np.nan,
                "oit": with_ev["oit"].mean() if len(with_ev) else np.nan,
                "top1_flip": flip, "top1_flip_low": flip_lo, "top1_flip_high": flip_hi})
    df = pd.DataFrame(out, columns=COLUMNS)
    df["checkpoint_pos"] = [store.checkpoint_order.get((m, c), 0) for m, c in zip(df["model"], df["checkpoint"])]
    return df.sort_values(["benchmark", "model", "checkpoint_pos", "rule"], kind="stable")


def rule_disagreement(store: Store, truth: pd.DataFrame) -> pd.DataFrame:
    """Where the rules disagree, per planted benchmark and pair of rules (pooled over models and
    checkpoints): of the cases both explained, the share where exactly one of them puts evidence in
    its top k, and which one does."""
    cols = ["benchmark", "rule_a", "rule_b", "cases", "disagree", "only_a", "only_b"]
    if truth.empty or store.evidence.empty:
        return pd.DataFrame(columns=cols)
    ev = store.evidence[store.evidence["benchmark"].isin(set(truth["benchmark"]))]
    wide = ev.pivot_table(index=["model", "checkpoint", "benchmark", "case_id"], columns="rule", values="hit",
                          aggfunc="first").reset_index()
    rules = [r for r in dict.fromkeys(ev["rule"])]
    out = []
    for b, d in wide.groupby("benchmark", sort=True):
        for i, a in enumerate(rules):
            for r in rules[i + 1:]:
                both = d.dropna(subset=[a, r])
                if both.empty:
                    continue
                x, y = both[a].astype(bool), both[r].astype(bool)
                out.append({"benchmark": b, "rule_a": a, "rule_b": r, "cases": len(both),
                            "disagree": float((x != y).mean()), "only_a": int((x & ~y).sum()),
                            "only_b": int((~x & y).sum())})
    return pd.DataFrame(out, columns=cols)
