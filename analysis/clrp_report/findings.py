"""The report's headline findings: sentences written from the numbers of the figures below them
(no sentence is fixed text), so that the first screen answers the study's question — where does
token-level contrastive attribution give an informative signal about a failure, and where not.

Each finding is one sentence with its numbers and the interval or count behind it; one whose data
is missing is left out (the page says what is missing below). `data/findings.csv` holds them with
the figure they come from.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .load import Store
from .planted import MEASURE
from .stats import bootstrap_ci

COLUMNS = ["finding", "text", "source"]


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def most_faithful(store: Store) -> str | None:
    """Which rule's ranking undoes failures best: mean area between its least- and most-relevant-first
    curves (docs/faithfulness.md) over every explained failure of every target, first operator."""
    f = store.faithfulness
    if f.empty:
        return None
    op = f["operator"].iloc[0]
    d = f[(f["operator"] == op) & (f["delta"] > 0) & (f["method"] != "random")].dropna(
        subset=["area_least_minus_most"])
    if d.empty:
        return None
    rows = []
    for rule, g in d.groupby("method", sort=False):
        a = g["area_least_minus_most"].to_numpy(float)
        lo, hi = bootstrap_ci(a)
        rows.append((float(a.mean()), rule, lo, hi, len(a)))
    rows.sort(reverse=True)
    best = rows[0]
    rest = "; ".join(f"{r} {m:.2f}" for m, r, *_ in rows[1:])
    return (f"The most faithful rule here is {best[1]}: removing its top tokens undoes failures most, with a "
            f"faithfulness area of {best[0]:.2f} [{best[2]:.2f}, {best[3]:.2f}] over {best[4]} failures "
            f"({op} operator)" + (f", against {rest}." if rest else "."))


def where_informative(store: Store, rule: str) -> str | None:
    """Per benchmark, the share of explained failures whose input attribution is informative under
    `rule` (the outcome categories): the best and worst explained, pooled over targets."""
    o = store.outcomes
    if o.empty:
        return None
    d = o[(o["rule"] == rule) & (o["outcome"] != "not_a_failure")]
    if d.empty:
        return None
    shares = d.groupby("benchmark")["outcome"].agg(lambda s: float((s == "input_informative").mean()))
    counts = d.groupby("benchmark").size()
    shares = shares[counts >= 3].sort_values(ascending=False)  # a share of one or two failures says little
    if shares.empty:
        return None

    def name(b: str) -> str:
        return f"{b} ({_pct(shares[b])} of {counts[b]})"

    top = [b for b in shares.index[:2] if shares[b] > 0]
    low = [b for b in shares.index[::-1][:2] if b not in top]
    text = f"Input attribution ({rule}) explains failures best on {' and '.join(map(name, top))}" if top else (
        f"Input attribution ({rule}) explains none of the failures on any benchmark")
    if low:
        text += f"; it explains least on {' and '.join(map(name, low))}"
    return text + " (share of the explained failures whose top tokens undo the failure or hold the evidence)."


def _informative(store: Store, rule: str, model: str, checkpoint: str) -> tuple[float, int]:
    o = store.outcomes
    d = o[(o["rule"] == rule) & (o["model"] == model) & (o["checkpoint"] == checkpoint)
          & (o["outcome"] != "not_a_failure")]
    return (float((d["outcome"] == "input_informative").mean()) if len(d) else np.nan), len(d)


def _accuracy(store: Store, model: str, checkpoint: str) -> float:
    e = store.evaluations
    e = e[(e["model"] == model) & (e["checkpoint"] == checkpoint) & (e["outcome"] != "error")]
    return float(e["correct"].mean()) if len(e) else np.nan


def with_training(store: Store, rule: str) -> list[str]:
    """For each model with several checkpoints: accuracy and the input-informative share at its first
    and last checkpoint."""
    out = []
    cks = store.tables[["model", "checkpoint"]].drop_duplicates()
    for model, g in cks.groupby("model", sort=False):
        order = sorted(g["checkpoint"], key=lambda c: store.checkpoint_order.get((model, c), 0))
        if len(order) < 2:
            continue
        first, last = order[0], order[-1]
        a0, a1 = _accuracy(store, model, first), _accuracy(store, model, last)
        i0, n0 = _informative(store, rule, model, first)
        i1, n1 = _informative(store, rule, model, last)
        if np.isnan(a0) and np.isnan(i0):
            continue
        text = f"With training ({model}, {first} → {last})"
        if not np.isnan(a0):
            text += f" accuracy goes from {_pct(a0)} to {_pct(a1)}"
        if n0 and n1:
            text += (f"{' and' if not np.isnan(a0) else ''} the share of failures input attribution explains "
                     f"from {_pct(i0)} (of {n0}) to {_pct(i1)} (of {n1})")
        out.append(text + ".")
    return out


def across_sizes(store: Store, rule: str) -> list[str]:
    """For each campaign with several models: accuracy and input-informative share per model at its
    last checkpoint, in the spec's order."""
    out = []
    for spec in store.specs:
        models = [m["name"] for m in spec.get("models", [])]
        if len(models) < 2:
            continue
        parts = []
        for model in models:
            cks = store.tables[store.tables["model"] == model]["checkpoint"].unique()
            if not len(cks):
                continue
            last = max(cks, key=lambda c: store.checkpoint_order.get((model, c), 0))
            acc = _accuracy(store, model, last)
            inf, n = _informative(store, rule, model, last)
            bits = ([f"accuracy {_pct(acc)}"] if not np.isnan(acc) else []) + (
                [f"{_pct(inf)} of {n} failures explained by input attribution"] if n else [])
            if bits:
                parts.append(f"{model}: {', '.join(bits)}")
        if len(parts) >= 2:
            out.append(f"Across the models of {spec.get('name', 'the campaign')} (last checkpoints): "
                       + "; ".join(parts) + ".")
    return out


def planted_truth(planted: pd.DataFrame, rule: str) -> list[str]:
    """On the planted tasks, what the construction guarantees against what clrp found, at the least
    and the most accurate target of each task that has explained failures (the rule given)."""
    words = {"evidence_hit": "share of the explained cases whose top k under {} holds the planted evidence",
             "top1_flip": "share of the failures undone by deleting {}'s single top token; two facts decide by "
                          "construction",
             "oit": "share of the failures where {} overweights irrelevant tokens (OIT)"}
    out = []
    d = planted[(planted["rule"] == rule)].dropna(subset=["accuracy"])
    for bench, g in d.groupby("benchmark", sort=True):
        col = MEASURE.get(g["mechanism"].iloc[0], (None,))[0]
        g = g.dropna(subset=[col]) if col else g.iloc[0:0]
        if g.empty:
            continue
        g = g.sort_values(["accuracy", "checkpoint_pos"])
        low, high = g.iloc[0], g.iloc[-1]

        def at(r) -> str:
            return f"{_pct(r[col])} at {r['model']}/{r['checkpoint']} (accuracy {_pct(r['accuracy'])})"

        text = f"{bench} ({words[col].format(rule)}): {at(low)}"
        if high["accuracy"] > low["accuracy"]:
            text += f"; {at(high)}"
        if col == "evidence_hit":
            text += f"; chance {_pct(low['evidence_chance'])}"
        if g["mechanism"].iloc[0] == "distractor":
            wrong, failures = int(g["planted_wrong"].sum()), int(g["failures"].sum())
            text += f"; {wrong} of {failures} failures answered the decoy's value"
        out.append(text + ".")
    return out


def findings(store: Store, planted: pd.DataFrame) -> pd.DataFrame:
    """Every finding the store's numbers support, in the order the page shows them."""
    if not store.rules:
        return pd.DataFrame(columns=COLUMNS)
    rule = store.rules[0]
    rows = []

    def add(name: str, text: str | None, source: str) -> None:
        if text:
            rows.append({"finding": name, "text": text, "source": source})

    add("most_faithful", most_faithful(store), "faithfulness")
    add("where_informative", where_informative(store, rule), "outcomes")
    for t in with_training(store, rule):
        add("with_training", t, "accuracy, outcomes")
    for t in across_sizes(store, rule):
        add("across_models", t, "accuracy, outcomes")
    for t in planted_truth(planted, rule):
        add("planted_truth", t, "planted")
    return pd.DataFrame(rows, columns=COLUMNS)
