"""The numbers behind each figure of the report, as DataFrames (written next
to the figures as CSV, so that tests and readers can check every plotted
value). Means are over cases; intervals are 95 % percentile bootstraps over
cases (stats.bootstrap_ci)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .load import OUTCOMES, Store, reference_failures
from .stats import bootstrap_ci, wilson_ci

TARGET = ["model", "checkpoint"]


def _ordered(store: Store, df: pd.DataFrame) -> pd.DataFrame:
    """Rows in spec order of (model, checkpoint); adds `checkpoint_pos`."""
    df = df.copy()
    df["checkpoint_pos"] = [store.checkpoint_order.get((m, c), 0) for m, c in zip(df["model"], df["checkpoint"])]
    return df.sort_values(["model", "checkpoint_pos"] + [c for c in ("benchmark", "rule", "segment", "layer")
                                                          if c in df.columns], kind="stable")


def _mean_ci(values) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(v)
    return (float(v.mean()) if v.size else float("nan")), lo, hi


def _same_pairs(store: Store) -> pd.DataFrame:
    """The cases that explain the same pairs under every target: in a fixed-set campaign the
    reference's (not the targets' own failures, own_failures), else every case."""
    return store.cases[store.cases["same_set"]]


def failure_rates(store: Store) -> pd.DataFrame:
    """Per table: share of stored pairs whose wrong token still out-scores the correct one (Δℓ > 0);
    fixed-set: of the reference's pairs."""
    cases = _same_pairs(store)
    out = []
    for t in store.tables.itertuples():
        d = cases[(cases.model == t.model) & (cases.checkpoint == t.checkpoint)
                  & (cases.benchmark == t.benchmark)]["delta"]
        rate, lo, hi = _mean_ci((d > 0).astype(float))
        out.append({"model": t.model, "checkpoint": t.checkpoint, "benchmark": t.benchmark, "cases": len(d),
                    "failures": int((d > 0).sum()), "rate": rate, "ci_low": lo, "ci_high": hi})
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "benchmark", "cases", "failures",
                                                      "rate", "ci_low", "ci_high"]))


def segments(store: Store) -> pd.DataFrame:
    """Mean share of Δℓ per prompt segment (segment relevance / |Δℓ|), per model, checkpoint and rule."""
    s = store.segments.dropna(subset=["share"])
    g = s.groupby(TARGET + ["rule", "segment"], sort=False)["share"].agg(["mean", "count"]).reset_index()
    return _ordered(store, g.rename(columns={"mean": "share", "count": "cases"}))


def delta_trajectories(store: Store) -> pd.DataFrame:
    """Mean Δℓ (with CI) per model, checkpoint and benchmark, in checkpoint order (fixed-set: over
    the reference's pairs)."""
    out = []
    for (m, c, b), d in _same_pairs(store).groupby(["model", "checkpoint", "benchmark"], sort=False):
        mean, lo, hi = _mean_ci(d["delta"])
        out.append({"model": m, "checkpoint": c, "benchmark": b, "cases": len(d), "delta_mean": mean,
                    "ci_low": lo, "ci_high": hi})
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "benchmark", "cases", "delta_mean",
                                                      "ci_low", "ci_high"]))


def delta_pairs(store: Store) -> pd.DataFrame:
    """Δℓ of the same case under two models (each at its last checkpoint), for every pair of models
    of one campaign (fixed-set: the reference's pairs)."""
    cases = _same_pairs(store)
    last = {}
    for (m, c) in cases[TARGET].drop_duplicates().itertuples(index=False):
        pos = store.checkpoint_order.get((m, c), 0)
        if m not in last or pos > last[m][1]:
            last[m] = (c, pos)
    # Within one campaign only: another campaign's cases with the same id may explain another pair.
    campaign_of = {m["name"]: i for i, spec in enumerate(store.specs) for m in spec.get("models", [])}
    frames = []
    for a, b in itertools.combinations(sorted(last), 2):
        if campaign_of.get(a) != campaign_of.get(b):
            continue
        da = cases[(cases.model == a) & (cases.checkpoint == last[a][0])]
        db = cases[(cases.model == b) & (cases.checkpoint == last[b][0])]
        j = da.merge(db, on=["benchmark", "case_id"], suffixes=("_a", "_b"))
        frames.append(pd.DataFrame({"model_a": a, "checkpoint_a": last[a][0], "model_b": b,
                                    "checkpoint_b": last[b][0], "benchmark": j["benchmark"],
                                    "case_id": j["case_id"], "delta_a": j["delta_a"], "delta_b": j["delta_b"]}))
    cols = ["model_a", "checkpoint_a", "model_b", "checkpoint_b", "benchmark", "case_id", "delta_a", "delta_b"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def layer_profiles(store: Store) -> pd.DataFrame:
    """Mean residual relevance after each layer (summed over positions), per model, checkpoint and rule."""
    g = store.layers.groupby(TARGET + ["rule", "layer"], sort=False)["relevance"].agg(["mean", "count"])
    return _ordered(store, g.reset_index().rename(columns={"mean": "relevance", "count": "cases"}))


EVIDENCE = ["model", "checkpoint", "rule", "cases", "hit_rate", "ci_low", "ci_high", "random_rate",
            "random_ci_low", "random_ci_high", "recovery_cases", "recovery_topk", "recovery_topk_ci_low",
            "recovery_topk_ci_high", "recovery_topk_chance", "recovery_top10", "recovery_top10_ci_low",
            "recovery_top10_ci_high", "recovery_top10_chance"]


def evidence(store: Store) -> pd.DataFrame:
    """Evidence hit rate of the top-k tokens per rule (with CI) against k random tokens, and evidence
    recovery (docs/faithfulness.md): the share of the evidence among the top k and the top 10 % of the
    removable tokens (with CI), against the share as many random tokens recover."""
    out = []
    for (m, c, r), d in store.evidence.groupby(TARGET + ["rule"], sort=False):
        rate, lo, hi = _mean_ci(d["hit"].astype(float))
        rnd, rlo, rhi = _mean_ci(d["random"])
        rec = d.dropna(subset=["recovery_topk"])
        k, klo, khi = _mean_ci(rec["recovery_topk"]) if len(rec) else (np.nan,) * 3
        t, tlo, thi = _mean_ci(rec["recovery_top10"]) if len(rec) else (np.nan,) * 3
        out.append({"model": m, "checkpoint": c, "rule": r, "cases": len(d), "hit_rate": rate, "ci_low": lo,
                    "ci_high": hi, "random_rate": rnd, "random_ci_low": rlo, "random_ci_high": rhi,
                    "recovery_cases": len(rec), "recovery_topk": k, "recovery_topk_ci_low": klo,
                    "recovery_topk_ci_high": khi, "recovery_topk_chance": rec["recovery_topk_chance"].mean(),
                    "recovery_top10": t, "recovery_top10_ci_low": tlo, "recovery_top10_ci_high": thi,
                    "recovery_top10_chance": rec["recovery_top10_chance"].mean()})
    return _ordered(store, pd.DataFrame(out, columns=EVIDENCE))


DELETION = ["model", "checkpoint", "method", "max_tokens", "cases", "flipped", "flip_rate", "ci_low", "ci_high",
            "mean_tokens", "mean_tokens_ci_low", "mean_tokens_ci_high", "delta_not_positive"]


def _deletion_groups(store: Store):
    """(model, checkpoint, method, cap, deletion_tokens of the cases with Δℓ > 0, count of the others)
    per model × checkpoint × method (each rule, then "random"), pooled over benchmarks."""
    for (m, c, meth), d in store.deletion.groupby(TARGET + ["method"], sort=False):
        tokens = d["tokens"].to_numpy(dtype=int)
        yield m, c, meth, int(d["max_tokens"].max()), tokens[tokens != 0], int((tokens == 0).sum())


def deletion(store: Store) -> pd.DataFrame:
    """The stored deletion test (docs/store.md) per model, checkpoint and method, over the cases with
    Δℓ > 0 (deletion_tokens ≠ 0): the share flipped (Δℓ <= 0) within the cap deletion_max_tokens
    (with CI), and the mean tokens deleted until the flip among the flipped (with CI)."""
    out = []
    for m, c, meth, cap, t, rest in _deletion_groups(store):
        flipped = t[t > 0]
        rate, lo, hi = _mean_ci((t > 0).astype(float))
        mean, mlo, mhi = _mean_ci(flipped)
        out.append({"model": m, "checkpoint": c, "method": meth, "max_tokens": cap, "cases": t.size,
                    "flipped": flipped.size, "flip_rate": rate, "ci_low": lo, "ci_high": hi, "mean_tokens": mean,
                    "mean_tokens_ci_low": mlo, "mean_tokens_ci_high": mhi, "delta_not_positive": rest})
    return _ordered(store, pd.DataFrame(out, columns=DELETION))


def deletion_curve(store: Store) -> pd.DataFrame:
    """Share of the cases with Δℓ > 0 flipped after deleting at most k tokens (1 <= deletion_tokens
    <= k), k = 1 .. deletion_max_tokens, per model, checkpoint and method (with CI)."""
    out = []
    for m, c, meth, cap, t, _ in _deletion_groups(store):
        for k in range(1, cap + 1):
            rate, lo, hi = _mean_ci(((t > 0) & (t <= k)).astype(float))
            out.append({"model": m, "checkpoint": c, "method": meth, "k": k, "cases": t.size, "flip_rate": rate,
                        "ci_low": lo, "ci_high": hi})
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "method", "k", "cases", "flip_rate",
                                                      "ci_low", "ci_high"]))


def deletion_tables(store: Store) -> pd.DataFrame:
    """The store's own deletion aggregate (computed in C++) per table and method, as stored."""
    return _ordered(store, store.deletion_tables)


FAITHFULNESS = ["model", "checkpoint", "operator", "method", "cases", "area", "area_ci_low", "area_ci_high",
                "area_vs_random", "area_vs_random_ci_low", "area_vs_random_ci_high", "flip_cases", "flip_rate",
                "flip_ci_low", "flip_ci_high", "mean_tokens_to_flip", "single_tokens"]


def faithfulness(store: Store) -> pd.DataFrame:
    """Faithfulness per model, checkpoint, removal operator and rule (then "random"), pooled over
    benchmarks (docs/faithfulness.md): over the failures (Δℓ > 0), the mean area between the least-
    and most-relevant-first curves and the mean area between random and most-relevant-first (both of
    |Δℓ|, with CI; NaN for "random"), and the share flipped within the single-token steps (with CI)
    and their mean tokens to flip."""
    out = []
    f = store.faithfulness
    for (m, c, op, meth), d in f.groupby(TARGET + ["operator", "method"], sort=False):
        failures = d[d["delta"] > 0]  # areas are over the failures
        a = failures["area_least_minus_most"].dropna()
        r = failures["area_random_minus_most"].dropna()
        area, alo, ahi = _mean_ci(a) if len(a) else (np.nan, np.nan, np.nan)
        vs, vlo, vhi = _mean_ci(r) if len(r) else (np.nan, np.nan, np.nan)
        t = d["tokens_to_flip"].to_numpy(dtype=int)
        t = t[t != 0]
        rate, flo, fhi = _mean_ci((t > 0).astype(float)) if t.size else (np.nan, np.nan, np.nan)
        out.append({"model": m, "checkpoint": c, "operator": op, "method": meth, "cases": len(a), "area": area,
                    "area_ci_low": alo, "area_ci_high": ahi, "area_vs_random": vs, "area_vs_random_ci_low": vlo,
                    "area_vs_random_ci_high": vhi, "flip_cases": int(t.size), "flip_rate": rate,
                    "flip_ci_low": flo, "flip_ci_high": fhi,
                    "mean_tokens_to_flip": float(t[t > 0].mean()) if (t > 0).any() else np.nan,
                    "single_tokens": int(d["single_tokens"].max())})
    return _ordered(store, pd.DataFrame(out, columns=FAITHFULNESS))


def faithfulness_curve(store: Store) -> pd.DataFrame:
    """The mean curve Δℓ_k / Δℓ (with CI) over the cases with Δℓ > 0, at step 0 and at each fraction
    of the removable tokens, per model, checkpoint, operator and order, pooled over benchmarks."""
    c = store.faithfulness_curves
    c = c[(c["delta_k"].notna()) & c["fraction"].notna()]
    c = c.merge(store.cases[["model", "checkpoint", "benchmark", "case_id", "delta"]],
                on=["model", "checkpoint", "benchmark", "case_id"])
    c = c[c["delta"] > 0]
    out = []
    for (m, ck, op, order, frac), d in c.groupby(TARGET + ["operator", "order", "fraction"], sort=False):
        mean, lo, hi = _mean_ci(d["y"])
        out.append({"model": m, "checkpoint": ck, "operator": op, "order": order, "fraction": frac,
                    "cases": len(d), "y": mean, "ci_low": lo, "ci_high": hi})
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "operator", "order", "fraction",
                                                      "cases", "y", "ci_low", "ci_high"]))


def faithfulness_rule_differences(store: Store) -> pd.DataFrame:
    """Rule versus rule, paired per failure: the mean difference of the area between the curves (rule a
    minus rule b, with CI), per model, checkpoint and operator, pooled over benchmarks."""
    f = store.faithfulness
    f = f[(f["method"] != "random") & (f["delta"] > 0)]
    out = []
    for (m, c, op), d in f.groupby(TARGET + ["operator"], sort=False):
        methods = list(dict.fromkeys(d["method"]))
        wide = d.pivot_table(index=["benchmark", "case_id"], columns="method", values="area_least_minus_most",
                             dropna=False).reindex(columns=methods)  # NaN areas (N = 0) keep their column
        for a, b in itertools.combinations(methods, 2):
            diff = (wide[a] - wide[b]).dropna()
            mean, lo, hi = _mean_ci(diff) if len(diff) else (np.nan, np.nan, np.nan)
            out.append({"model": m, "checkpoint": c, "operator": op, "rule_a": a, "rule_b": b, "cases": len(diff),
                        "difference": mean, "ci_low": lo, "ci_high": hi})
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "operator", "rule_a", "rule_b",
                                                      "cases", "difference", "ci_low", "ci_high"]))


def outcomes(store: Store) -> pd.DataFrame:
    """Per model, checkpoint, benchmark and rule: the explained cases by outcome (docs/faithfulness.md)
    and, over the failures with evidence, the URT / OIT patterns — the reference study's categories."""
    out = []
    for (m, c, b, r), d in store.outcomes.groupby(TARGET + ["benchmark", "rule"], sort=False):
        row = {"model": m, "checkpoint": c, "benchmark": b, "rule": r, "cases": len(d)}
        for name in OUTCOMES:
            row[name] = int((d["outcome"] == name).sum())
        e = d[(d["delta"] > 0) & d["evidence"]]
        row.update({"failures_with_evidence": len(e), "urt_only": int((e.urt & ~e.oit).sum()),
                    "oit_only": int((e.oit & ~e.urt).sum()), "urt_and_oit": int((e.urt & e.oit).sum()),
                    "no_pattern": int((~e.urt & ~e.oit).sum())})
        out.append(row)
    return _ordered(store, pd.DataFrame(out, columns=["model", "checkpoint", "benchmark", "rule", "cases",
                                                      *OUTCOMES, "failures_with_evidence", "urt_only",
                                                      "oit_only", "urt_and_oit", "no_pattern"]))


GRAPH_SHARES = ["first_token_share", "other_tokens_share", "self_bias_share"]


def graphs(store: Store) -> pd.DataFrame:
    """Per model and checkpoint, over the cases with an attribution graph: how many, mean nodes,
    edges and fan-in, where Δℓ ends up (mean shares: first token, other tokens, self bias), and the
    intervention test (docs/graphs.md): mean correlation of predicted and measured changes of Δℓ
    and mean kept share over the tested graphs."""
    cols = ["model", "checkpoint", "cases", "nodes", "edges", "mean_fan_in"] + GRAPH_SHARES + [
        "intervention_correlation", "kept_share"]
    g = store.graphs
    if g.empty:
        return pd.DataFrame(columns=cols)
    present = [c for c in cols[3:] if c in g.columns]
    agg = g.groupby(TARGET, sort=False)[present].mean()
    agg.insert(0, "cases", g.groupby(TARGET, sort=False).size())
    if "intervention_correlation" in g.columns:
        agg.insert(1, "tested", g.groupby(TARGET, sort=False)["intervention_correlation"].count())
    return _ordered(store, agg.reset_index())


def graph_interventions(store: Store) -> pd.DataFrame:
    """Per model and checkpoint, the intervention test pooled over its tested graphs (docs/graphs.md):
    graphs, nodes zeroed, Pearson's r of predicted and measured changes of Δℓ over all those nodes,
    the median of the per-graph r, and the share of nodes whose measured change has the predicted
    sign."""
    cols = ["model", "checkpoint", "graphs", "nodes", "pooled_correlation", "median_graph_correlation",
            "sign_agreement"]
    d = store.graph_interventions
    if d.empty:
        return pd.DataFrame(columns=cols)
    per_graph = store.graphs.dropna(subset=["intervention_correlation"]) if "intervention_correlation" in \
        store.graphs.columns else pd.DataFrame(columns=TARGET + ["intervention_correlation"])
    out = []
    for (m, c), x in d.groupby(TARGET, sort=False):
        r = per_graph[(per_graph["model"] == m) & (per_graph["checkpoint"] == c)]["intervention_correlation"]
        pooled = np.corrcoef(x["predicted"], x["measured"])[0, 1] if len(x) > 2 else np.nan
        out.append({"model": m, "checkpoint": c, "graphs": x.groupby(["benchmark", "case_id"]).ngroups,
                    "nodes": len(x),
                    "pooled_correlation": pooled, "median_graph_correlation": r.median() if len(r) else np.nan,
                    "sign_agreement": float((np.sign(x["predicted"]) == np.sign(x["measured"])).mean())})
    return _ordered(store, pd.DataFrame(out, columns=cols))


def accuracy(store: Store) -> pd.DataFrame:
    """Per table with evaluations: items, accuracy (errors left out) and pair yield (failures with a
    usable pair), each with its 95 % Wilson interval."""
    out = []
    for (m, c, b), d in store.evaluations.groupby(["model", "checkpoint", "benchmark"], sort=False):
        scored = d[d["outcome"] != "error"]
        correct, failures = int(scored["correct"].sum()), int((~scored["correct"]).sum())
        paired = int(scored["with_pair"].sum())
        acc_lo, acc_hi = wilson_ci(correct, len(scored))
        y_lo, y_hi = wilson_ci(paired, failures)
        out.append({"model": m, "checkpoint": c, "benchmark": b, "items": len(d), "scored": len(scored),
                    "errors": len(d) - len(scored), "correct": correct,
                    "accuracy": correct / len(scored) if len(scored) else np.nan, "accuracy_low": acc_lo,
                    "accuracy_high": acc_hi, "failures": failures, "with_pair": paired,
                    "pair_yield": paired / failures if failures else np.nan, "pair_yield_low": y_lo,
                    "pair_yield_high": y_hi})
    cols = ["model", "checkpoint", "benchmark", "items", "scored", "errors", "correct", "accuracy",
            "accuracy_low", "accuracy_high", "failures", "with_pair", "pair_yield", "pair_yield_low",
            "pair_yield_high"]
    return _ordered(store, pd.DataFrame(out, columns=cols))


def no_pair_reasons(store: Store) -> pd.DataFrame:
    """Per table: failures without a pair, by reason (docs/cases.md, "The contrastive pair")."""
    d = store.evaluations[store.evaluations["outcome"] == "failure_no_pair"]
    g = d.groupby(["model", "checkpoint", "benchmark", "no_pair"], sort=False).size()
    return _ordered(store, g.reset_index(name="failures").rename(columns={"no_pair": "reason"}))


def same_failures(store: Store) -> pd.DataFrame:
    """Fixed-set campaigns with benchmarks: for every failure of the reference (its last checkpoint)
    that has a pair, each target's own verdict on the item and its Δℓ on the reference's pair
    (carried by its text to a target with another tokenizer; `not_carried` says why a pair did
    not carry, and its Δℓ is then NaN). Each campaign of a study read as one on its own models."""
    cols = ["benchmark", "case_id", "reference_delta", "model", "checkpoint", "outcome", "delta",
            "not_carried"]
    frames = []
    for spec in store.specs:
        models = {m["name"] for m in spec.get("models", [])}
        ev = store.evaluations[store.evaluations["model"].isin(models)]
        failures = reference_failures(spec, ev, store.checkpoint_order)
        if failures.empty:
            continue
        own = ev[["model", "checkpoint", "benchmark", "case_id", "outcome"]]
        explained = store.cases[["model", "checkpoint", "benchmark", "case_id", "delta"]]
        j = failures[["benchmark", "case_id", "delta"]].rename(columns={"delta": "reference_delta"})
        key = ["model", "checkpoint", "benchmark", "case_id"]
        j = j.merge(own, on=["benchmark", "case_id"]).merge(explained, how="left", on=key)
        refused = store.not_carried.rename(columns={"reason": "not_carried"})
        j = j.merge(refused[key + ["not_carried"]] if len(refused) else
                    pd.DataFrame(columns=key + ["not_carried"]), how="left", on=key)
        frames.append(j[cols])
    if not frames:
        return pd.DataFrame(columns=cols)
    return _ordered(store, pd.concat(frames, ignore_index=True))
