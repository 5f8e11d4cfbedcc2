"""Figures of the report, one function each: a DataFrame from numbers.py in,
a PNG out. Each returns False (and draws nothing) when its data is empty, so
that an empty benchmark or a one-model campaign shows a note, not an error."""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .planted import MEASURE  # noqa: E402

DPI = 110


def _target(df: pd.DataFrame) -> pd.Series:
    return df["model"] + "/" + df["checkpoint"]


def _save(fig, path: pathlib.Path) -> bool:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def failure_rates(df: pd.DataFrame, path: pathlib.Path) -> bool:
    d = df[df["cases"] > 0]
    if d.empty:
        return False
    labels = _target(d) + " · " + d["benchmark"]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(d) + 1.2))
    y = np.arange(len(d))
    ax.barh(y, d["rate"], color="#c0504d")
    ax.errorbar(d["rate"], y, xerr=[d["rate"] - d["ci_low"], d["ci_high"] - d["rate"]], fmt="none", ecolor="k",
                capsize=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of pairs with Δℓ > 0 (95 % bootstrap CI)")
    return _save(fig, path)


def segments(df: pd.DataFrame, path: pathlib.Path) -> bool:
    if df.empty:
        return False
    rule = df["rule"].iloc[0]
    d = df[df["rule"] == rule]
    table = d.assign(target=_target(d)).pivot_table(index="target", columns="segment", values="share", sort=False)
    table = table.loc[:, (table.abs() > 1e-12).any(axis=0)]
    if table.empty:
        return False
    fig, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 3, max(2.6, 0.45 * table.shape[0] + 1.5)))
    lim = max(1e-9, float(np.nanmax(np.abs(table.values))))
    im = ax.imshow(table.values, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), v in np.ndenumerate(table.values):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if abs(v) > 0.6 * lim else "black")  # readable on dark cells
    ax.set_title(f"mean share of Δℓ per segment ({rule})")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return _save(fig, path)


def delta_scatter(df: pd.DataFrame, path: pathlib.Path) -> bool:
    if df.empty:
        return False
    pairs = df[["model_a", "model_b"]].drop_duplicates().head(4)
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 4.2), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs.itertuples(index=False)):
        d = df[(df.model_a == a) & (df.model_b == b)]
        for bench, g in d.groupby("benchmark"):
            ax.scatter(g["delta_a"], g["delta_b"], s=14, label=bench, alpha=0.8)
        lo = float(min(d["delta_a"].min(), d["delta_b"].min()))
        hi = float(max(d["delta_a"].max(), d["delta_b"].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        ax.set_xlabel(f"Δℓ under {a} ({d['checkpoint_a'].iloc[0]})")
        ax.set_ylabel(f"Δℓ under {b} ({d['checkpoint_b'].iloc[0]})")
        ax.legend(fontsize=7)
    return _save(fig, path)


def trajectories(deltas: pd.DataFrame, segs: pd.DataFrame, path: pathlib.Path) -> bool:
    counts = deltas.groupby("model")["checkpoint"].nunique()
    models = list(counts[counts > 1].index)
    if not models:
        return False
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.6 * len(models)), squeeze=False)
    for row, m in zip(axes, models):
        d = deltas[deltas.model == m]
        for bench, g in d.groupby("benchmark", sort=False):
            row[0].errorbar(g["checkpoint"], g["delta_mean"],
                            yerr=[g["delta_mean"] - g["ci_low"], g["ci_high"] - g["delta_mean"]],
                            marker="o", capsize=3, label=bench)
        row[0].set_title(f"{m}: mean Δℓ over checkpoints (95 % CI)")
        row[0].legend(fontsize=7)
        s = segs[(segs.model == m) & (segs.rule == segs["rule"].iloc[0])]
        for seg, g in s.groupby("segment", sort=False):
            if (g["share"].abs() > 1e-12).any():
                row[1].plot(g["checkpoint"], g["share"], marker="o", label=seg)
        row[1].set_title(f"{m}: share of Δℓ per segment ({segs['rule'].iloc[0]})")
        row[1].legend(fontsize=7)
    return _save(fig, path)


def layer_profiles(df: pd.DataFrame, path: pathlib.Path) -> bool:
    if df.empty:
        return False
    rules = list(dict.fromkeys(df["rule"]))
    fig, axes = plt.subplots(1, len(rules), figsize=(5.5 * len(rules), 3.8), squeeze=False)
    for ax, rule in zip(axes[0], rules):
        d = df[df.rule == rule]
        for target, g in d.assign(target=_target(d)).groupby("target", sort=False):
            ax.plot(g["layer"], g["relevance"], marker=".", label=target)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("layer")
        ax.set_ylabel("relevance after the layer (Σ positions)")
        ax.set_title(rule)
        ax.legend(fontsize=7)
    return _save(fig, path)


def evidence(df: pd.DataFrame, path: pathlib.Path) -> bool:
    if df.empty:
        return False
    d = df.assign(label=_target(df) + " · " + df["rule"])
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(d) + 1.3))
    y = np.arange(len(d))
    ax.barh(y, d["hit_rate"], color="#4f81bd", label="top-k tokens")
    ax.errorbar(d["hit_rate"], y, xerr=[d["hit_rate"] - d["ci_low"], d["ci_high"] - d["hit_rate"]], fmt="none",
                ecolor="k", capsize=3)
    ax.scatter(d["random_rate"], y, color="#f79646", zorder=3, label="k random tokens")
    ax.set_yticks(y, d["label"])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("evidence hit rate (95 % bootstrap CI)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def deletion(curve: pd.DataFrame, summary: pd.DataFrame, path: pathlib.Path) -> bool:
    """Per model × checkpoint (first four): the share of cases flipped after deleting k tokens, one
    line per rule and the random order (dashed), with CI; the legend gives how many flipped within
    the cap and their mean tokens to flip."""
    if curve.empty or not (curve["cases"] > 0).any():
        return False
    curve = curve[curve["cases"] > 0]
    targets = list(dict.fromkeys(_target(curve)))[:4]
    methods = list(dict.fromkeys(curve["method"]))
    colors = dict(zip([m for m in methods if m != "random"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4.8 * len(targets), 4.0), squeeze=False, sharey=True)
    for ax, target in zip(axes[0], targets):
        d = curve[_target(curve) == target]
        s = summary[_target(summary) == target].set_index("method")
        for i, (meth, g) in enumerate(d.groupby("method", sort=False)):
            shift = (i - (len(methods) - 1) / 2) * 0.06  # keeps the CI bars apart
            row = s.loc[meth]
            label = (f"{meth}: {int(row['flipped'])}/{int(row['cases'])} flipped, mean {row['mean_tokens']:.1f} "
                     "tokens" if row["flipped"] else f"{meth}: none flipped")
            err = [g["flip_rate"] - g["ci_low"], g["ci_high"] - g["flip_rate"]]
            ax.errorbar(g["k"] + shift, g["flip_rate"], yerr=err, marker="o", ms=4, capsize=3, label=label,
                        color="#7f7f7f" if meth == "random" else colors[meth],
                        linestyle="--" if meth == "random" else "-")
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("tokens deleted (k)")
        ax.set_title(f"{target} ({int(d['cases'].iloc[0])} cases with Δℓ > 0)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel("share flipped (Δℓ ≤ 0) after k deletions\n(95 % bootstrap CI)")
    return _save(fig, path)


def faithfulness(curve: pd.DataFrame, summary: pd.DataFrame, path: pathlib.Path) -> bool:
    """Per removal operator (rows) and model × checkpoint (columns, first four): the mean curve
    Δℓ_k / Δℓ over the fraction of removable tokens removed, most-relevant-first (solid) and
    least-relevant-first (dotted) per rule, random (grey, dashed), with CI bands; the legend gives
    each rule's mean area between its two curves."""
    if curve.empty:
        return False
    targets = list(dict.fromkeys(_target(curve)))[:4]
    ops = list(dict.fromkeys(curve["operator"]))
    rules = list(dict.fromkeys(o.rsplit(" ", 1)[0] for o in curve["order"] if o != "random"))
    colors = dict(zip(rules, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, axes = plt.subplots(len(ops), len(targets), figsize=(4.8 * len(targets), 5.4 * len(ops)),
                             squeeze=False)
    for row, op in enumerate(ops):
        for col, target in enumerate(targets):
            ax = axes[row][col]
            d = curve[(_target(curve) == target) & (curve["operator"] == op)]
            s = summary[(_target(summary) == target) & (summary["operator"] == op)].set_index("method")
            for order, g in d.groupby("order", sort=False):
                rule, _, which = order.rpartition(" ")
                if order == "random":
                    color, style, label = "#7f7f7f", "--", "random"
                else:
                    color, style = colors[rule], "-" if which == "most" else ":"
                    label = f"{rule} {which}-relevant-first"
                    if which == "most" and rule in s.index:
                        a = s.loc[rule]
                        label += f" (area {a['area']:.2f} [{a['area_ci_low']:.2f}, {a['area_ci_high']:.2f}])"
                ax.plot(g["fraction"], g["y"], color=color, linestyle=style, marker="o", ms=3, label=label)
                ax.fill_between(g["fraction"], g["ci_low"], g["ci_high"], color=color, alpha=0.12)
            ax.axhline(0, color="black", lw=0.6)
            cases = int(d["cases"].max()) if len(d) else 0
            ax.set_title(f"{target}, {op} ({cases} cases with Δℓ > 0)", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: curves cross
            ax.set_xlabel("fraction of removable tokens removed")
        axes[row][0].set_ylabel("Δℓ after removal / Δℓ\n(mean, 95 % bootstrap CI)")
    return _save(fig, path)


def outcomes(df: pd.DataFrame, rule: str, path: pathlib.Path) -> bool:
    """The reference study's stacked bars, computed: per model × checkpoint × benchmark, the explained
    failures under `rule` by outcome as shares; the bar's label gives the count."""
    d = df[df["rule"] == rule]
    if d.empty:
        return False
    failures = d[["input_informative", "graph_informative", "neither", "graph_not_tested"]].sum(axis=1)
    d, failures = d[failures > 0], failures[failures > 0]
    if d.empty:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(d) + 2.2))
    y = np.arange(len(d))
    left = np.zeros(len(d))
    for name, color, label in (("input_informative", "#4f81bd", "input attribution informative"),
                               ("graph_informative", "#9bbb59", "graph informative"),
                               ("neither", "#c0504d", "neither"),
                               ("graph_not_tested", "#bfbfbf", "input attribution not informative (graph not tested)")):
        share = d[name].to_numpy(dtype=float) / failures.to_numpy(dtype=float)
        ax.barh(y, share, left=left, color=color, label=label)
        left += share
    ax.set_yticks(y, [f"{m}/{c}/{b} ({int(n)} failures)" for m, c, b, n in
                      zip(d["model"], d["checkpoint"], d["benchmark"], failures)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of explained failures ({rule})")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)  # below the axis label
    return _save(fig, path)


def graphs(df: pd.DataFrame, path: pathlib.Path) -> bool:
    shares = [c for c in ("first_token_share", "other_tokens_share", "self_bias_share") if c in df.columns]
    if df.empty or not shares:
        return False
    labels = _target(df)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(df) + 1.4))
    y = np.arange(len(df))
    left = np.zeros(len(df))
    for c, color in zip(shares, ("#4f81bd", "#9bbb59", "#bfbfbf")):
        ax.barh(y, df[c], left=left, color=color, label=c.replace("_share", "").replace("_", " "))
        left += df[c].to_numpy(dtype=float)
    ax.set_yticks(y, [f"{t} ({int(n)} graphs)" for t, n in zip(labels, df["cases"])])
    ax.invert_yaxis()
    ax.set_xlabel("mean share of Δℓ in the pruned graph")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def graph_interventions(nodes: pd.DataFrame, table: pd.DataFrame, path: pathlib.Path) -> bool:
    """Measured against predicted change of Δℓ for every node the intervention test zeroed, per
    model and checkpoint (pooled r in the legend), with the line of perfect agreement."""
    if nodes.empty:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for (m, c), d in nodes.groupby(["model", "checkpoint"], sort=False):
        row = table[(table["model"] == m) & (table["checkpoint"] == c)]
        r = float(row["pooled_correlation"].iloc[0]) if len(row) else np.nan
        ax.scatter(d["predicted"], d["measured"], s=10, alpha=0.6,
                   label=f"{m}/{c}: {len(d)} nodes, {d.groupby(['benchmark', 'case_id']).ngroups} graphs, r = {r:.2f}")
    lo = float(np.nanmin([nodes["predicted"].min(), nodes["measured"].min()]))
    hi = float(np.nanmax([nodes["predicted"].max(), nodes["measured"].max()]))
    ax.plot([lo, hi], [lo, hi], color="#7f7f7f", lw=1, ls="--", label="measured = predicted")
    ax.axhline(0, color="#bfbfbf", lw=0.5)
    ax.axvline(0, color="#bfbfbf", lw=0.5)
    ax.set_xlabel("change of Δℓ the graph predicts (−relevance of the node)")
    ax.set_ylabel("change of Δℓ measured (node's state zeroed)")
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def accuracy(df: pd.DataFrame, path: pathlib.Path) -> bool:
    """Accuracy with its Wilson interval: over checkpoints (one line per model and benchmark) when a
    model has several, else one bar per table."""
    d = df[df["scored"] > 0]
    if d.empty:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4) if d["checkpoint"].nunique() > 1 else (7, 0.35 * len(d) + 1.2))
    if d.groupby("model")["checkpoint"].nunique().max() > 1:
        for (m, b), g in d.groupby(["model", "benchmark"], sort=False):
            x = np.arange(len(g))
            ax.plot(x, g["accuracy"], marker="o", label=f"{m} · {b}")
            ax.fill_between(x, g["accuracy_low"], g["accuracy_high"], alpha=0.2)
            ax.set_xticks(x, g["checkpoint"], rotation=30, ha="right")
        ax.set_ylabel("accuracy (95 % Wilson interval)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    else:
        y = np.arange(len(d))
        ax.barh(y, d["accuracy"], color="#4f81bd")
        ax.errorbar(d["accuracy"], y, xerr=[d["accuracy"] - d["accuracy_low"], d["accuracy_high"] - d["accuracy"]],
                    fmt="none", ecolor="k", capsize=3)
        ax.set_yticks(y, _target(d) + " · " + d["benchmark"])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("accuracy (95 % Wilson interval)")
    return _save(fig, path)


def pair_yield(df: pd.DataFrame, reasons: pd.DataFrame, path: pathlib.Path) -> bool:
    """Per table: failures with a usable pair, and the others by why they have none (stacked)."""
    d = df[df["failures"] > 0]
    if d.empty:
        return False
    labels = list(_target(d) + " · " + d["benchmark"])
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(d) + 1.6))
    y = np.arange(len(d))
    ax.barh(y, d["with_pair"], color="#9bbb59", label="with a pair")
    left = d["with_pair"].to_numpy(dtype=float)
    key = reasons.assign(label=_target(reasons) + " · " + reasons["benchmark"]) if not reasons.empty else reasons
    for reason in (sorted(reasons["reason"].unique()) if not reasons.empty else []):
        n = np.array([key[(key["label"] == lab) & (key["reason"] == reason)]["failures"].sum() for lab in labels],
                     dtype=float)
        ax.barh(y, n, left=left, label=reason)
        left += n
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("failures")
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def planted(df: pd.DataFrame, path: pathlib.Path) -> bool:
    """One panel per planted mechanism: the number the construction speaks to (evidence hit rate;
    for the two-step task the share undone by one token; for distractors the OIT share) against the
    target's accuracy on the task, one line per model and rule through its checkpoints in order."""
    d = df.dropna(subset=["accuracy"])
    mechanisms = [m for m in MEASURE if m in set(d["mechanism"])]
    if not mechanisms:
        return False
    models = list(dict.fromkeys(d["model"]))
    rules = list(dict.fromkeys(d["rule"]))
    colors = dict(zip(models, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4))
    markers = dict(zip(rules, "os^Dv"))
    fig, axes = plt.subplots(1, len(mechanisms), figsize=(3.6 * len(mechanisms), 3.6), squeeze=False)
    for ax, mech in zip(axes[0], mechanisms):
        col, label = MEASURE[mech]
        part = d[d["mechanism"] == mech]
        for (model, rule), g in part.groupby(["model", "rule"], sort=False):
            g = g.sort_values("checkpoint_pos")
            ax.plot(g["accuracy"], g[col], marker=markers[rule], color=colors[model], ms=5, lw=1,
                    label=f"{model} · {rule}")
        ax.set_title(mech, fontsize=9)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("accuracy on the task", fontsize=8)
        ax.set_ylabel(label, fontsize=8)
    axes[0][0].legend(fontsize=6)
    return _save(fig, path)
