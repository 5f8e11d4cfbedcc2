"""The report of a campaign store: python analysis/report.py STORE [STORE...] --out DIR.

Several stores (a study run as several campaigns, e.g. jobs/study_series.toml and
jobs/study_shipped.toml) give one report with all their models side by side.

Writes DIR/index.html with PNG figures (failure rates; segment relevance per
model and checkpoint; Δℓ of the same failures under two models; trajectories
over checkpoints; layer profiles; evidence hit rates per rule with bootstrap
intervals; the stored deletion test per rule against random deletions;
attribution graph summaries; validation against the planted truth; links
to per-case heatmaps and graphs when present) and, for every figure, the numbers behind it as
DIR/data/<figure>.csv (docs/report.md).
Prints the path of index.html.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from clrp_report import figures, findings, numbers, page, planted  # noqa: E402
from clrp_report.load import read_stores  # noqa: E402
from clrp_report.verify import verify_store  # noqa: E402


class DamagedStore(Exception):
    """The store disagrees with the checksums it was written with: nothing is drawn from it."""


class BadStores(Exception):
    """Stores that cannot be reported together (a model name in two of them)."""


def write_report(store_paths: str | list[str], out: pathlib.Path, heatmaps: pathlib.Path | None = None,
                 graphs: pathlib.Path | None = None) -> pathlib.Path:
    """The report of one store, or of several read as one (a study run as several campaigns)."""
    paths = [store_paths] if isinstance(store_paths, str) else list(store_paths)
    for store_path in paths:
        damage = verify_store(store_path)
        if damage:
            shown = "\n  ".join(damage[:12]) + (f"\n  … and {len(damage) - 12} more" if len(damage) > 12 else "")
            raise DamagedStore(f"{store_path}: the store is damaged: what it holds disagrees with the checksums "
                               f"recorded when it was written:\n  {shown}\n`clrp inspect {store_path}` says how "
                               "to recover (--resume rewrites /aggregate; --resume --redo-damaged redoes damaged "
                               "rows)")
    try:
        store = read_stores(paths)
    except ValueError as e:
        raise BadStores(str(e)) from None
    bases = [pathlib.Path(p) for p in paths]
    out.mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    tables = store.tables.drop(columns=["rules"])
    tables.to_csv(out / "data" / "tables.csv", index=False)
    data = {
        "failure_rates": numbers.failure_rates(store),
        "segments": numbers.segments(store),
        "delta_pairs": numbers.delta_pairs(store),
        "delta_trajectories": numbers.delta_trajectories(store),
        "layer_profiles": numbers.layer_profiles(store),
        "evidence": numbers.evidence(store),
        "deletion": numbers.deletion(store),
        "deletion_curve": numbers.deletion_curve(store),
        "deletion_tables": numbers.deletion_tables(store),
        "faithfulness": numbers.faithfulness(store),
        "faithfulness_curve": numbers.faithfulness_curve(store),
        "faithfulness_rule_differences": numbers.faithfulness_rule_differences(store),
        "outcomes": numbers.outcomes(store),
        "graphs": numbers.graphs(store),
        "graph_interventions": numbers.graph_interventions(store),
        "accuracy": numbers.accuracy(store),
        "no_pair_reasons": numbers.no_pair_reasons(store),
        "same_failures": numbers.same_failures(store),
    }
    truth, truth_missing = planted.case_truth(store.specs)
    data["planted"] = planted.validation(store, truth)
    data["planted_rule_disagreement"] = planted.rule_disagreement(store, truth)
    data["findings"] = findings.findings(store, data["planted"])
    for name, df in data.items():
        df.to_csv(out / "data" / f"{name}.csv", index=False)
    store.graphs.to_csv(out / "data" / "graph_cases.csv", index=False)  # per case, behind graphs.csv
    # per tested node, behind graph_interventions.csv
    store.graph_interventions.to_csv(out / "data" / "graph_intervention_nodes.csv", index=False)
    first_rule = store.tables["rules"].iloc[0][0] if len(store.tables) else ""  # the spec's first
    drawn = {
        "failure_rates": figures.failure_rates(data["failure_rates"], out / "failure_rates.png"),
        "segments": figures.segments(data["segments"], out / "segments.png"),
        "delta_scatter": figures.delta_scatter(data["delta_pairs"], out / "delta_scatter.png"),
        "trajectories": figures.trajectories(data["delta_trajectories"], data["segments"], out / "trajectories.png"),
        "layer_profiles": figures.layer_profiles(data["layer_profiles"], out / "layer_profiles.png"),
        "evidence": figures.evidence(data["evidence"], out / "evidence.png"),
        "deletion": figures.deletion(data["deletion_curve"], data["deletion"], out / "deletion.png"),
        "faithfulness": figures.faithfulness(data["faithfulness_curve"], data["faithfulness"],
                                             out / "faithfulness.png"),
        "outcomes": figures.outcomes(data["outcomes"], first_rule, out / "outcomes.png"),
        "graphs": figures.graphs(data["graphs"], out / "graphs.png"),
        "graph_interventions": figures.graph_interventions(store.graph_interventions, data["graph_interventions"],
                                                           out / "graph_interventions.png"),
        "accuracy": figures.accuracy(data["accuracy"], out / "accuracy.png"),
        "pair_yield": figures.pair_yield(data["accuracy"], data["no_pair_reasons"], out / "pair_yield.png"),
        "planted": figures.planted(data["planted"], out / "planted.png"),
    }
    for name, ok in drawn.items():  # a figure not drawn this time must not linger from an earlier report
        if not ok:
            (out / f"{name}.png").unlink(missing_ok=True)

    max_tokens = int(store.tables["deletion_max_tokens"].max()) if len(store.tables) else 0
    deletion_why = ("The campaign did not record the deletion test (deletion_max_tokens = 0). Turn it on with "
                    "[record] deletion_max_tokens = K in the spec (K: most tokens deleted per case and rule; "
                    "docs/store.md) and run it again." if max_tokens == 0 else
                    "No stored case with Δℓ > 0 to delete tokens from yet.")

    def fig(title, anchor, name, csv, caption, why):
        return page.section(title, anchor, caption, f"{name}.png" if drawn[name] else None,
                            f"data/{csv}.csv", why)

    # Heatmap and graph pages: the given folders, else each store's STORE.heatmaps / STORE.graphs.
    heat_dirs = [heatmaps] if heatmaps else [b.with_name(b.name + ".heatmaps") for b in bases]
    graph_dirs = [graphs] if graphs else [b.with_name(b.name + ".graphs") for b in bases]
    heat_files = sorted(f for d in heat_dirs if d.is_dir() for f in d.rglob("*.html"))
    graph_files = sorted(f for d in graph_dirs if d.is_dir() for f in [*d.rglob("*.html"), *d.rglob("*.json")])
    heatmaps = heat_dirs[0] if len(heat_dirs) == 1 else pathlib.Path(os.path.commonpath(heat_dirs))
    graphs = graph_dirs[0] if len(graph_dirs) == 1 else pathlib.Path(os.path.commonpath(graph_dirs))
    parts = [
        f"<h1>clrp report: campaign {html.escape(store.campaign)}</h1>",
        page.status_html(tables),
        page.findings_html(data["findings"]),
        f"<p class=note>{'Store' if len(bases) == 1 else 'Stores'} "
        f"{', '.join(f'<code>{html.escape(str(b.resolve()))}</code>' for b in bases)}; rules "
        f"{html.escape(', '.join(store.rules))}. "
        "Δℓ = logit(wrong) − logit(correct). Intervals: 95 % percentile bootstrap over cases "
        "(2000 resamples).</p>",
        "<h2>Tables</h2>", page.tables_html(tables),
        fig("Accuracy", "accuracy", "accuracy", "accuracy",
            "Share of the benchmark items each model and checkpoint answers right (items that could not "
            "be evaluated left out and counted in the CSV), with 95 % Wilson intervals; over checkpoints "
            "when a model has several.",
            "The campaign evaluated no benchmark items (add [[benchmarks]] to the spec; docs/campaigns.md)."),
        fig("Pair yield", "pair-yield", "pair_yield", "no_pair_reasons",
            "Failures with a usable contrastive pair (explained), and the others by why they have none "
            "(docs/cases.md). The reference study kept 13.5–35.6 % of its failures. Yields with 95 % "
            'Wilson intervals: <a href="data/accuracy.csv">data/accuracy.csv</a>; for fixed-set campaigns, '
            "every target's own verdict and Δℓ on the reference's failures: "
            '<a href="data/same_failures.csv">data/same_failures.csv</a>.',
            "No failures evaluated yet."),
        fig("Failure rates", "failure-rates", "failure_rates", "failure_rates",
            "Share of the stored contrastive pairs whose wrong token still out-scores the correct one under "
            "each model and checkpoint (Δℓ > 0). In explain-failures mode a model's own pairs are failures by "
            "construction; in fixed-set mode this compares models on the same pairs.",
            "No stored cases yet: every table is empty."),
        fig("Segment relevance per model and checkpoint", "segments", "segments", "segments",
            "Mean share of Δℓ carried by each prompt segment (segment relevance / |Δℓ|), first rule; "
            "every rule in the CSV.", "No stored cases yet."),
        fig("Δℓ of the same failures under two models", "delta-scatter", "delta_scatter", "delta_pairs",
            "Each point is one pair explained under both models (each at its last checkpoint); points above "
            "the dashed y = x line fail more strongly under the second model.",
            "Needs two models that explained the same cases (a fixed-set campaign)."),
        fig("Trajectories over checkpoints", "trajectories", "trajectories", "delta_trajectories",
            "Mean Δℓ per benchmark (95 % CI) and share of Δℓ per segment, checkpoint by checkpoint in the "
            "spec's order (segment numbers in data/segments.csv).",
            "Needs a model with two or more checkpoints holding cases."),
        fig("Layer profiles", "layers", "layer_profiles", "layer_profiles",
            "Relevance in the residual stream after each layer, summed over positions, mean over cases.",
            "The campaign did not record residual relevance (record.residual = false), or no cases yet."),
        fig("Evidence hit rates per rule", "evidence", "evidence", "evidence",
            "Share of cases with evidence spans whose k most relevant tokens (by |relevance|) include an "
            "evidence token (95 % CI), against the chance that k random tokens do. Below: evidence "
            "recovery (docs/faithfulness.md), the share of the evidence found among the top k and the top "
            "10 % of the removable tokens, against the share as many random tokens recover." + page.frame_html(
                data["evidence"], ["model", "checkpoint", "rule", "recovery_cases", "recovery_topk",
                                   "recovery_topk_chance", "recovery_top10", "recovery_top10_chance"]),
            "No stored case has evidence spans (benchmarks such as SciQ and needle tasks have them)."),
        fig("Deletion test per rule", "deletion", "deletion", "deletion_curve",
            "The campaign's deletion test (docs/store.md): for each case with Δℓ > 0, the tokens a rule ranks "
            "highest towards the wrong token are deleted one at a time until Δℓ ≤ 0 (at most "
            f"deletion_max_tokens = {max_tokens}); the baseline deletes in a random order (dashed). Share of "
            "cases flipped after k deletions with 95 % CI, pooled over benchmarks; the legend gives how many "
            "flipped within the cap and their mean tokens to flip. Flip rates within the cap and mean tokens "
            '(with CIs): <a href="data/deletion.csv">data/deletion.csv</a>; the store\'s own aggregate per table: '
            '<a href="data/deletion_tables.csv">data/deletion_tables.csv</a>.',
            deletion_why),
        page.section(
            "Faithfulness per rule", "faithfulness",
            "Does removing the tokens a rule ranks highest toward the wrong token undo the failure? "
            "(docs/faithfulness.md). For each case, tokens are removed most-relevant-first, "
            "least-relevant-first and in a random order, by deleting them and by zeroing their input "
            "embeddings (the AttnLRP authors' choice); the curves give the mean Δℓ after removal relative to "
            "the case's own Δℓ over the fraction removed (cases with Δℓ > 0, 95 % CI). The area between a "
            "rule's least- and most-relevant-first curves (of |Δℓ|) is its faithfulness: larger is better, "
            "0 is no better than its own reverse. Below: areas, the area against random, and the share of "
            "failures flipped within the single-token steps (the reference study's appendix masked 1.7 "
            "tokens on average with AttnLRP, 2.0 with CP-LRP, 3.7 with the gradient until the prediction "
            'flipped). Every number: <a href="data/faithfulness.csv">data/faithfulness.csv</a>; curves: '
            '<a href="data/faithfulness_curve.csv">data/faithfulness_curve.csv</a>; rule versus rule, '
            'paired per case: <a href="data/faithfulness_rule_differences.csv">'
            "data/faithfulness_rule_differences.csv</a>." + page.frame_html(data["faithfulness"], [
                "model", "checkpoint", "operator", "method", "cases", "area", "area_ci_low", "area_ci_high",
                "area_vs_random", "flip_cases", "flip_rate", "mean_tokens_to_flip"]),
            "faithfulness.png" if drawn["faithfulness"] else None, "data/faithfulness_curve.csv",
            "The campaign did not record faithfulness curves: add a [faithfulness] table to the spec "
            "(docs/faithfulness.md) and run it again." if not any("faithfulness" in sp for sp in store.specs) else
            "No stored case with Δℓ > 0 yet."),
        fig("Where input attribution explains a failure", "outcomes", "outcomes", "outcomes",
            "Every explained failure classified as the reference study's annotators did by hand "
            "(docs/faithfulness.md, \"Outcomes and patterns\"): input attribution is informative when "
            "removing the rule's top tokens undoes the failure where as many random ones do not, or when "
            "its top tokens hold the evidence; otherwise the case's attribution graph decides: graph "
            "informative when its intervention test passes (thresholds in [faithfulness]), neither when it "
            "fails, not tested when the case has no graph ([graphs] cases). Where evidence is known, the "
            "CSV counts the patterns: relevant tokens underweighted (URT) and irrelevant tokens "
            "overweighted (OIT). First rule drawn; every rule in the CSV.",
            "The campaign did not record faithfulness curves (add a [faithfulness] table), or no failure "
            "is stored yet."),
        fig("Attribution graphs in the store", "graphs", "graphs", "graphs",
            "Cases with a cross-layer attribution graph ([graphs] in the spec; docs/graphs.md): where Δℓ "
            "ends up in the pruned graph, mean over those cases: the first token, the other tokens, and what "
            "nodes keep for themselves (self bias). Nodes, edges and fan-in in the CSV; one row per case in "
            "data/graph_cases.csv.",
            "No attribution graphs in this store (add [graphs] cases = N to the spec)."),
        fig("Attribution graphs tested against the model", "graph-interventions", "graph_interventions",
            "graph_interventions",
            "Each tested graph's top nodes (docs/graphs.md, \"Interventions\": the kept embedding and layer-"
            "output states of largest relevance, away from the explained and the first position) zeroed one "
            "at a time in the model's own forward pass: the change of Δℓ measured against the change the "
            "graph predicts (minus the node's relevance). On the dashed line the graph's account is exact. "
            "The CSV gives per model and checkpoint the pooled and median per-graph correlation and the "
            "share of nodes with the predicted sign; per graph (with its kept share) in data/graph_cases.csv, "
            '<a href="data/graph_intervention_nodes.csv">per node</a>.',
            "No graph was tested against the model (add [graphs] cases = N to the spec; interventions = 16 "
            "is the default)."),
        fig("Validation against the planted truth", "planted", "planted", "planted",
            "On the planted-evidence tasks (docs/study.md) the failure mechanism is known by construction; "
            "each panel sets what clrp measured against what the construction guarantees, along the "
            "target's accuracy on the task (one line per model and rule through its checkpoints): "
            + "; ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in planted.EXPECTED.items())
            + ". planted_wrong counts the failures that gave the wrong answer the mechanism predicts (the "
            "decoy's value; the one-step answer). Rates are over the explained failures (Δℓ > 0) with "
            "95 % bootstrap intervals in the CSV; where the rules disagree on evidence, per pair of rules: "
            '<a href="data/planted_rule_disagreement.csv">data/planted_rule_disagreement.csv</a>.'
            + page.frame_html(data["planted"], [
                "model", "checkpoint", "benchmark", "rule", "items", "accuracy", "failures", "planted_wrong",
                "explained", "evidence_hit", "evidence_chance", "input_informative", "oit", "top1_flip"]),
            "No planted-evidence task in this campaign (analysis/prepare_cases.py --benchmarks "
            "planted_retrieval,...; docs/study.md)" + (
                f"; the case files {', '.join(truth_missing)} could not be read" if truth_missing else "") + "."),
        f'<section id="heatmaps"><h2>Per-case heatmaps</h2>{page.links_html(heat_files, out, "heatmaps", heatmaps)}'
        f'<h2>Attribution graphs</h2>{page.links_html(graph_files, out, "graphs", graphs)}</section>',
    ]
    (out / "index.html").write_text(page.page(f"clrp report: {store.campaign}", parts), encoding="utf-8")
    summary = {"campaign": store.campaign, "store": str(bases[0].resolve()),
               "stores": [str(b.resolve()) for b in bases], "finished": store.unfinished.empty,
               "cases": int(tables["committed"].sum()), "planned": int(tables["planned"].sum()),
               "figures": {k: v for k, v in drawn.items()}}
    (out / "data" / "summary.json").write_text(json.dumps(summary, indent=2))
    return out / "index.html"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store", nargs="+", help="the campaign's HDF5 store; several: one report of a study run "
                    "as several campaigns (their model names must differ)")
    ap.add_argument("--out", required=True, help="folder for index.html, figures and data/")
    ap.add_argument("--heatmaps", type=pathlib.Path, help="folder of per-case heatmap HTML files "
                    "(default: STORE.heatmaps)")
    ap.add_argument("--graphs", type=pathlib.Path, help="folder of attribution graph pages (clrp graph "
                    "--html) and JSON files (--json) (default: STORE.graphs)")
    a = ap.parse_args()
    try:
        print(write_report(a.store, pathlib.Path(a.out), a.heatmaps, a.graphs))
    except (DamagedStore, BadStores) as e:
        sys.exit(f"report: error: {e}")


if __name__ == "__main__":
    main()
