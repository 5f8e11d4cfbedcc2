"""analysis/report.py on a real (tiny) fixed-set campaign over two models, one with two
checkpoints, plus a benchmark whose only case fails and a benchmark (PIQA) every model
answers, with the deletion test recorded: every
figure's numbers (data/*.csv) equal an independent recomputation — from the C++ aggregates
in the store where they exist, else with pandas/numpy from the per-case data; the bootstrap covers a known mean as often
as it should; an unfinished store says so first; the page loads in headless Chromium
without console errors (a screenshot is kept next to it)."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest

from test_campaign import MPI_ENV, mpirun
from tiny_models import make_llama

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "analysis"))
from clrp_report.stats import bootstrap_ci  # noqa: E402

DELETION_CAP = 5  # the spec's record.deletion_max_tokens, as in jobs/demo.toml
PLANTED = ["planted_retrieval", "planted_two_step", "planted_distractor"]
SEGMENTS = ["instruction", "fewshot", "context", "needle", "question", "options", "code", "answer_prefix", "template",
            "thinking", "prefix"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, clrp_bin, tiny_model, failures):
    d = tmp_path_factory.mktemp("report")
    ck = d / "ck"
    for step, model in (("step1", make_llama("llama_mha_tied")), ("step2", tiny_model)):
        (ck / step).mkdir(parents=True)
        for f in model.iterdir():
            (ck / step / f.name).symlink_to(f)
    # A benchmark whose only pair cannot be explained (longer than the context): an empty table.
    line = json.loads(failures.read_text().splitlines()[0])
    line.update(id="too-long", benchmark="empty_bench")
    line["pair"]["prefix"] = " fox" * 600
    (d / "empty.jsonl").write_text(json.dumps(line) + "\n")
    # A benchmark every model and checkpoint answers (accuracy, pair yield, the same-failure table).
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(d / "bench"),
                    "--benchmarks", "piqa", "--formats", "mc_cloze", "--limit", "8", "--shots", "piqa=0"],
                   check=True, capture_output=True)
    # Planted-evidence tasks (the validation against the planted truth).
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(d / "bench"),
                    "--benchmarks", ",".join(PLANTED), "--limit", "6"], check=True, capture_output=True)
    planted = "".join(f'[[benchmarks]]\npath = "{d / "bench" / f"{t}.generative.jsonl"}"\nmax_new_tokens = 6\n'
                      f"min_delta = 0.1\n" for t in PLANTED)
    spec = d / "spec.toml"
    spec.write_text(f"""
name = "report"
mode = "fixed-set"
reference = "ref"
store = "store.h5"
rules = ["attnlrp", "grad-x-input"]
[record]
residual = true
heads = false
evidence_top_k = 5
deletion_max_tokens = {DELETION_CAP}
[faithfulness]
operators = ["delete", "zero"]
single_tokens = 2
fractions = [0.5, 1.0]
[graphs]
cases = 3
[[models]]
name = "ref"
path = "{tiny_model}"
[[models]]
name = "sweep"
checkpoints = "{ck}"
[[cases]]
path = "{failures}"
limit = 10
seed = 2
[[cases]]
path = "{d / 'empty.jsonl'}"
[[benchmarks]]
path = "{d / 'bench' / 'piqa.mc_cloze.jsonl'}"
min_delta = 0.1
{planted}""")
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    return d


def report(store: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    r = subprocess.run([sys.executable, str(REPO / "analysis" / "report.py"), str(store), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == str(out / "index.html")
    return out


@pytest.fixture(scope="module")
def finished(campaign):
    heat = campaign / "store.h5.heatmaps"
    heat.mkdir()
    (heat / "case-1.html").write_text("<!DOCTYPE html><title>heatmap</title><p>x</p>")
    return report(campaign / "store.h5", campaign / "report")


# --- independent readings of the store ---------------------------------------------


def cases_frame(store: pathlib.Path) -> pd.DataFrame:
    out = []
    with h5py.File(store) as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for bench, g in cg.items():
                    n = int(g.attrs["committed_rows"])
                    rows = pd.DataFrame(g["cases"][:n])
                    raw = g["case_id"][:].tobytes()
                    rows["case_id"] = [raw[o:o + l].decode() for o, l in zip(rows["id_offset"], rows["id_length"])]
                    rows["model"], rows["checkpoint"], rows["benchmark"] = model, ck, bench
                    out.append(rows)
    return pd.concat(out, ignore_index=True)


def aggregate(store: pathlib.Path, name: str) -> dict:
    with h5py.File(store) as f:
        return {(m, c, b): (f["aggregate"][m][c][b][name][()], int(f["aggregate"][m][c][b].attrs["cases"]))
                for m in f["aggregate"] for c in f["aggregate"][m] for b in f["aggregate"][m][c]}


def csv(out: pathlib.Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "data" / f"{name}.csv")


# --- the figures' numbers ------------------------------------------------------------


def test_failure_rates_and_trajectories(campaign, finished):
    cases = cases_frame(campaign / "store.h5")
    rates = csv(finished, "failure_rates").set_index(["model", "checkpoint", "benchmark"])
    want = cases.assign(fail=cases["delta"] > 0).groupby(["model", "checkpoint", "benchmark"])["fail"]
    for key, g in want:
        assert rates.loc[key, "cases"] == len(g)
        assert rates.loc[key, "rate"] == pytest.approx(g.mean())
        assert rates.loc[key, "ci_low"] <= rates.loc[key, "rate"] <= rates.loc[key, "ci_high"]
    # The empty benchmark is a row with no cases, not an error.
    assert rates.loc[("ref", "final", "empty_bench"), "cases"] == 0
    traj = csv(finished, "delta_trajectories").set_index(["model", "checkpoint", "benchmark"])
    for key, (stats, n) in aggregate(campaign / "store.h5", "delta_stats").items():
        if n:  # C++ aggregate: count, mean, std, min, max
            assert traj.loc[key, "cases"] == n and traj.loc[key, "delta_mean"] == pytest.approx(stats[1])
    # In checkpoint order: step1 before step2 for the sweep.
    sweep = csv(finished, "delta_trajectories").query("model == 'sweep'")["checkpoint"].tolist()
    assert sweep.index("step1") < sweep.index("step2")


def test_segments_layers_evidence_equal_the_cpp_aggregates(campaign, finished):
    store = campaign / "store.h5"
    cases = cases_frame(store)
    rules = ["attnlrp", "grad-x-input"]
    seg = csv(finished, "segments").set_index(["model", "checkpoint", "rule", "segment"])
    lay = csv(finished, "layer_profiles").set_index(["model", "checkpoint", "rule", "layer"])
    ev = csv(finished, "evidence").set_index(["model", "checkpoint", "rule"])
    seg_agg, lay_agg = aggregate(store, "segment_relevance_normalized"), aggregate(store, "layer_relevance")
    ev_agg = aggregate(store, "evidence_hit_rate")
    for (m, c) in cases[["model", "checkpoint"]].drop_duplicates().itertuples(index=False):
        benches = [k for k in seg_agg if k[:2] == (m, c) and seg_agg[k][1] > 0]
        weights = np.array([seg_agg[k][1] for k in benches], dtype=float)  # |Δℓ| > 0 for all here
        for r, rule in enumerate(rules):
            for s, name in enumerate(SEGMENTS):
                want = np.average([seg_agg[k][0][r, s] for k in benches], weights=weights)
                assert seg.loc[(m, c, rule, name), "share"] == pytest.approx(want, rel=1e-6, abs=1e-9)
            layers = np.average([lay_agg[k][0][r] for k in benches], axis=0, weights=weights)
            for l, want in enumerate(layers):
                assert lay.loc[(m, c, rule, l), "relevance"] == pytest.approx(want, rel=1e-5, abs=1e-6)
            n_ev = np.array([ev_agg[k][0][r, 0] for k in benches])
            if n_ev.sum():
                hit = np.nansum([ev_agg[k][0][r, 1] * w for k, w in zip(benches, n_ev)]) / n_ev.sum()
                rnd = np.nansum([ev_agg[k][0][r, 2] * w for k, w in zip(benches, n_ev)]) / n_ev.sum()
                assert ev.loc[(m, c, rule), "cases"] == n_ev.sum()
                assert ev.loc[(m, c, rule), "hit_rate"] == pytest.approx(hit)
                assert ev.loc[(m, c, rule), "random_rate"] == pytest.approx(rnd)
    assert len(ev) > 0, "no evidence cases reached the report"


def test_delta_scatter_pairs_the_same_cases(campaign, finished):
    cases = cases_frame(campaign / "store.h5")
    pairs = csv(finished, "delta_pairs")
    ref = cases.query("model == 'ref'").set_index(["benchmark", "case_id"])["delta"]
    last = cases.query("model == 'sweep' and checkpoint == 'step2'").set_index(["benchmark", "case_id"])["delta"]
    assert set(pairs["checkpoint_b"]) == {"step2"} and len(pairs) == len(ref.index.intersection(last.index)) > 0
    for p in pairs.itertuples():
        assert p.delta_a == pytest.approx(ref[(p.benchmark, p.case_id)])
        assert p.delta_b == pytest.approx(last[(p.benchmark, p.case_id)])
    # step2 is the reference model itself: on y = x.
    np.testing.assert_allclose(pairs["delta_a"], pairs["delta_b"], rtol=1e-5)


def test_page_lists_every_figure_and_the_empty_benchmark(finished):
    page = (finished / "index.html").read_text()
    summary = json.loads((finished / "data" / "summary.json").read_text())
    assert summary["finished"] is True
    for name, drawn in summary["figures"].items():
        assert drawn, f"figure {name} not drawn"
        assert (finished / f"{name}.png").stat().st_size > 5000
        assert f'src="{name}.png"' in page
    assert "Finished campaign" in page and "3 could not be explained" in page  # the too-long pair under 3 targets
    assert "empty_bench" in page and '<tr class="empty">' in page
    assert 'href="../store.h5.heatmaps/case-1.html"' in page
    # Every local image and link resolves (file:// pages log no error for a missing image).
    import re
    for target in re.findall(r'(?:src|href)="([^"#:]+)"', page):
        assert (finished / target).exists(), target


def test_unfinished_store_says_so_first(campaign, clrp_bin, tmp_path):
    part = tmp_path / "part.h5"
    r = subprocess.run([str(clrp_bin), "--threads", "1", "run", str(campaign / "spec.toml"), "--checkpoint", "step1",
                        "--store", str(part)], capture_output=True, text=True, env=dict(os.environ, **MPI_ENV))
    assert r.returncode == 0, r.stdout + r.stderr
    out = report(part, tmp_path / "report")
    page = (out / "index.html").read_text()
    body = page[page.index("<body>"):]
    assert body.index("UNFINISHED CAMPAIGN") < body.index("<h2>")  # before any section
    assert 'src="deletion.png"' in page and "did not record the deletion test" not in page  # step1's cases
    assert json.loads((out / "data" / "summary.json").read_text())["finished"] is False


def test_several_stores_give_one_report(campaign, finished, clrp_bin, failures, tiny_model, tmp_path):
    """A study run as two campaigns (a fixed-set one and an explain-failures one with another model
    name) reads as one report: every table and case of both, each campaign's comparisons kept to its
    own models; the same model name in two stores is refused, naming both."""
    spec = tmp_path / "solo.toml"
    spec.write_text(f'name = "solo"\nstore = "solo.h5"\n[[models]]\nname = "solo"\npath = "{tiny_model}"\n'
                    f'[[cases]]\npath = "{failures}"\nlimit = 3\n')
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "both"
    r = subprocess.run([sys.executable, str(REPO / "analysis" / "report.py"), str(campaign / "store.h5"),
                        str(tmp_path / "solo.h5"), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    one = cases_frame(campaign / "store.h5")
    tables = csv(out, "tables")
    assert set(tables["model"]) == {"ref", "sweep", "solo"}
    assert tables["committed"].sum() == len(one) + 3
    summary = json.loads((out / "data" / "summary.json").read_text())
    assert summary["campaign"] == "report + solo" and len(summary["stores"]) == 2
    # The fixed-set campaign's comparisons stay its own: solo's own failures join no model pair.
    assert len(csv(out, "delta_pairs")) == len(csv(finished, "delta_pairs")) > 0
    assert len(csv(out, "same_failures")) == len(csv(finished, "same_failures")) > 0
    r = subprocess.run([sys.executable, str(REPO / "analysis" / "report.py"), str(campaign / "store.h5"),
                        str(campaign / "store.h5"), "--out", str(tmp_path / "twice")], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode != 0 and "model 'ref' is in two of the stores" in r.stderr, r.stderr


def test_store_without_committed_cases_gives_notes_not_errors(campaign, tmp_path):
    """A campaign killed before its first commit: every table empty; each section says why."""
    store = tmp_path / "nothing.h5"
    shutil.copy(campaign / "store.h5", store)
    planned = []
    with h5py.File(store, "r+") as f:
        def empty(name, obj):
            # As a store killed before its first commit: no rows, tokens, ... and no checksum block
            # committed (every committed_* count 0).
            for attr in [a for a in obj.attrs if a.startswith("committed_")]:
                obj.attrs[attr] = 0
            if "planned_rows" in obj.attrs:
                planned.append(int(obj.attrs["planned_rows"]))
        f["runs"].visititems(empty)
    out = report(store, tmp_path / "report")
    page = (out / "index.html").read_text()
    # 33 pairs of the failure files; 3 PIQA failures and 18 planted ones (all 6 items of each of 3
    # tasks) of the reference, each under 3 targets.
    assert sum(planned) == 96
    assert f"UNFINISHED CAMPAIGN: 0 of {sum(planned)} planned cases are stored" in page, page[:2000]
    assert "No stored cases yet" in page and not list(out.glob("*.png"))
    assert all(len(csv(out, n)) == 0 for n in ("segments", "layer_profiles", "evidence", "delta_pairs"))


def deletion_tokens(store: pathlib.Path) -> dict:
    """(model, checkpoint) -> [cases, R + 1] stored deletion_tokens of every committed case, tables
    pooled; also the rules (the last column is the random order)."""
    out, rules = {}, None
    with h5py.File(store) as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for g in cg.values():
                    n = int(g.attrs["committed_rows"])
                    rules = json.loads(g.attrs["rules"])
                    out.setdefault((model, ck), []).append(g["deletion_tokens"][:n].astype(int))
    return {k: np.concatenate(v) for k, v in out.items()}, rules


def test_deletion_numbers_equal_the_stored_test(campaign, finished):
    """deletion.csv and deletion_curve.csv recomputed from the per-case deletion_tokens with numpy
    (0: Δℓ <= 0, left out; −1: not flipped within the cap), and deletion_tables.csv equal to
    the store's /aggregate/.../deletion; the pooled flip rate equals the aggregates pooled."""
    store = campaign / "store.h5"
    tokens, rules = deletion_tokens(store)
    summary = csv(finished, "deletion").set_index(["model", "checkpoint", "method"])
    curve = csv(finished, "deletion_curve").set_index(["model", "checkpoint", "method", "k"])
    assert len(summary) == len(tokens) * 3 and len(curve) == len(tokens) * 3 * DELETION_CAP
    flips = 0
    for (m, c), t in tokens.items():
        for j, method in enumerate(rules + ["random"]):
            x = t[t[:, j] != 0, j]
            row = summary.loc[(m, c, method)]
            assert row["max_tokens"] == DELETION_CAP and row["cases"] == x.size
            assert row["delta_not_positive"] == (t[:, j] == 0).sum() and row["flipped"] == (x > 0).sum()
            assert row["flip_rate"] == pytest.approx((x > 0).mean())
            assert row["ci_low"] <= row["flip_rate"] <= row["ci_high"]
            if (x > 0).any():
                assert row["mean_tokens"] == pytest.approx(x[x > 0].mean())
                assert row["mean_tokens_ci_low"] <= row["mean_tokens"] <= row["mean_tokens_ci_high"]
            else:
                assert np.isnan(row["mean_tokens"])
            for k in range(1, DELETION_CAP + 1):
                point = curve.loc[(m, c, method, k)]
                assert point["cases"] == x.size
                assert point["flip_rate"] == pytest.approx(((x >= 1) & (x <= k)).mean())
                assert point["ci_low"] <= point["flip_rate"] <= point["ci_high"]
            assert curve.loc[(m, c, method, DELETION_CAP), "flip_rate"] == pytest.approx(row["flip_rate"])
            flips += int((x > 0).sum())
    assert flips > 0, "no case flipped within the cap: the curve is never exercised"
    # The store's own aggregate, per table, as stored; pooled over benchmarks it is the report's rate.
    stored = aggregate(store, "deletion")
    tables = csv(finished, "deletion_tables").set_index(["model", "checkpoint", "benchmark", "method"])
    assert len(tables) == len(stored) * 3
    for (m, c, b), (agg, _) in stored.items():
        for j, method in enumerate(rules + ["random"]):
            got = tables.loc[(m, c, b, method)]
            assert got["cases"] == agg[j, 0]
            np.testing.assert_allclose([got["flip_rate"], got["mean_tokens"]], agg[j, 1:], equal_nan=True)
    for (m, c, method), row in summary.iterrows():
        j = (rules + ["random"]).index(method)
        per_table = [agg for (am, ac, _), (agg, _) in stored.items() if (am, ac) == (m, c) and agg[j, 0] > 0]
        assert sum(a[j, 0] for a in per_table) == row["cases"]
        assert sum(a[j, 0] * a[j, 1] for a in per_table) == pytest.approx(row["flipped"])
    page = (finished / "index.html").read_text()
    assert "No deletion results" not in page and f"deletion_max_tokens = {DELETION_CAP}" in page


def faithfulness_frame(store: pathlib.Path) -> pd.DataFrame:
    """Per case × operator × method (each rule, then random): the stored areas, tokens to flip and Δℓ."""
    out = []
    with h5py.File(store) as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for bench, g in cg.items():
                    n = int(g.attrs["committed_rows"])
                    rules = json.loads(g.attrs["rules"])
                    ops = json.loads(g.attrs["layout"])["faithfulness"]["operators"]
                    delta = g["cases"][:n]["delta"]
                    area, flip = g["faithfulness_area"][:n], g["faithfulness_flip"][:n]
                    for i in range(n):
                        for o, op in enumerate(ops):
                            for j, meth in enumerate(rules + ["random"]):
                                a = area[i, o, j] if j < len(rules) else (np.nan, np.nan)
                                out.append({"model": model, "checkpoint": ck, "benchmark": bench, "case": i,
                                            "operator": op, "method": meth, "delta": float(delta[i]),
                                            "least": float(a[0]), "random": float(a[1]), "flip": int(flip[i, o, j])})
    return pd.DataFrame(out)


def test_faithfulness_numbers_equal_the_stored_curves(campaign, finished):
    """faithfulness.csv recomputed from the per-case faithfulness_area and faithfulness_flip (pooled over
    benchmarks; areas and flips over the failures, Δℓ > 0), its intervals bracket the
    means; faithfulness_curve.csv starts at 1 and its means equal Δℓ_k / Δℓ averaged by hand; the
    rule-versus-rule differences equal the paired means; the page shows the section with its figure."""
    f = faithfulness_frame(campaign / "store.h5")
    got = csv(finished, "faithfulness").set_index(["model", "checkpoint", "operator", "method"])
    assert len(got) == f.groupby(["model", "checkpoint", "operator", "method"]).ngroups > 0
    for (m, c, op, meth), d in f.groupby(["model", "checkpoint", "operator", "method"]):
        row = got.loc[(m, c, op, meth)]
        t = d["flip"].to_numpy()
        t = t[t != 0]
        assert row["flip_cases"] == t.size
        if t.size:
            np.testing.assert_allclose(row["flip_rate"], (t > 0).mean(), rtol=1e-12)
            assert row["flip_ci_low"] <= row["flip_rate"] <= row["flip_ci_high"]
        if meth == "random":
            assert row["cases"] == 0 and np.isnan(row["area"])
            continue
        failures = d[d["delta"] > 0]  # areas are over the failures
        a = failures["least"].dropna()
        assert row["cases"] == len(a)
        np.testing.assert_allclose([row["area"], row["area_vs_random"]],
                                   [a.mean(), failures["random"].dropna().mean()], rtol=1e-12)
        assert row["area_ci_low"] <= row["area"] <= row["area_ci_high"]
    diff = csv(finished, "faithfulness_rule_differences")
    for r in diff.itertuples():
        d = f[(f.model == r.model) & (f.checkpoint == r.checkpoint) & (f.operator == r.operator) & (f.delta > 0)]
        a = d[d.method == r.rule_a].set_index(["benchmark", "case"])["least"]
        b = d[d.method == r.rule_b].set_index(["benchmark", "case"])["least"]
        np.testing.assert_allclose(r.difference, (a - b).dropna().mean(), rtol=1e-12)
    curve = csv(finished, "faithfulness_curve")
    np.testing.assert_allclose(curve[curve["fraction"] == 0]["y"], 1.0, rtol=1e-6)
    with h5py.File(campaign / "store.h5") as h:
        g = h["runs"]["ref"]["final"]
        per_bench = [(g[b]["faithfulness_delta"][:int(g[b].attrs["committed_rows"])],
                      g[b]["cases"][:int(g[b].attrs["committed_rows"])]["delta"]) for b in g]
    ys = np.concatenate([dl[d > 0, 0, 0, -1] / d[d > 0] for dl, d in per_bench if len(d)])  # delete, rule 0 most
    row = curve[(curve.model == "ref") & (curve.checkpoint == "final") & (curve.operator == "delete")
                & (curve.order == "attnlrp most") & (curve.fraction == 1.0)]
    np.testing.assert_allclose(row["y"].iloc[0], ys.mean(), rtol=1e-5)
    page = (finished / "index.html").read_text()
    assert 'src="faithfulness.png"' in page and "did not record faithfulness curves" not in page


def test_outcome_counts_equal_the_cpp_aggregates(campaign, finished):
    """outcomes.csv: per table and rule, the cases by outcome and the failures with evidence by pattern,
    equal to the store's /aggregate/.../outcomes and patterns (docs/faithfulness.md)."""
    got = csv(finished, "outcomes").set_index(["model", "checkpoint", "benchmark", "rule"])
    names = ["not_a_failure", "input_informative", "graph_informative", "neither", "graph_not_tested"]
    patterns = ["failures_with_evidence", "urt_only", "oit_only", "urt_and_oit", "no_pattern"]
    seen = 0
    with h5py.File(campaign / "store.h5") as f:
        for (m, c, b), (counts, n) in aggregate(campaign / "store.h5", "outcomes").items():
            if n == 0:
                continue
            rules = json.loads(f["runs"][m][c][b].attrs["rules"])
            pats = f["aggregate"][m][c][b]["patterns"][()]
            for r, rule in enumerate(rules):
                row = got.loc[(m, c, b, rule)]
                assert [row[k] for k in names] == counts[r].tolist(), (m, c, b, rule)
                assert [row[k] for k in patterns] == pats[r].tolist(), (m, c, b, rule)
                seen += 1
    assert seen == len(got) > 0


def drop_checksum_column(g, name: str):
    """Takes a dataset out of a table's checksum record (docs/store.md, "Checksums"), as a store
    written without it would have it."""
    names = json.loads(g.attrs["checksum_columns"])
    counters = json.loads(g.attrs["checksum_counters"])
    j = names.index(name)
    record = np.delete(g["checksums"][()], j, axis=1)
    del g["checksums"]
    g.create_dataset("checksums", data=record, maxshape=(None, record.shape[1]), chunks=(64, record.shape[1]))
    del counters[j - (len(names) - len(counters))]
    del names[j]
    g.attrs["checksum_columns"] = np.bytes_(json.dumps(names))
    g.attrs["checksum_counters"] = np.bytes_(json.dumps(counters))


def test_store_without_the_deletion_test_says_how_to_record_it(campaign, tmp_path):
    """A campaign with deletion_max_tokens = 0 stores no deletion_tokens: the section says so and how
    to turn it on; its CSVs are empty."""
    store = tmp_path / "no_deletion.h5"
    shutil.copy(campaign / "store.h5", store)
    with h5py.File(store, "r+") as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for bench, g in cg.items():
                    del g["deletion_tokens"]
                    drop_checksum_column(g, "deletion_tokens")
                    layout = json.loads(g.attrs["layout"])
                    del layout["deletion_max_tokens"]
                    g.attrs["layout"] = np.bytes_(json.dumps(layout))
                    del f["aggregate"][model][ck][bench]["deletion"]
    out = report(store, tmp_path / "report")
    page = (out / "index.html").read_text()
    assert "did not record the deletion test (deletion_max_tokens = 0)" in page
    assert "[record] deletion_max_tokens = K" in page and not (out / "deletion.png").exists()
    assert all(len(csv(out, n)) == 0 for n in ("deletion", "deletion_curve", "deletion_tables"))


def test_graph_numbers(campaign, finished):
    """graphs.csv: per model and checkpoint, the mean of the graph_summary columns over the cases
    with a graph; the node and edge counts agree with the cases' own n_graph_nodes/n_graph_edges."""
    store = campaign / "store.h5"
    per_case = []
    with h5py.File(store) as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for bench, g in cg.items():
                    n = int(g.attrs["committed_rows"])
                    cols = json.loads(g.attrs["graph_summary_columns"])
                    df = pd.DataFrame(g["graph_summary"][:n], columns=cols)
                    rows = g["cases"][:n]
                    df["n_nodes"], df["n_edges"] = rows["n_graph_nodes"], rows["n_graph_edges"]
                    df["model"], df["checkpoint"] = model, ck
                    per_case.append(df[df["n_nodes"] > 0])
    per_case = pd.concat(per_case)
    assert (per_case["nodes"] == per_case["n_nodes"]).all() and (per_case["edges"] == per_case["n_edges"]).all()
    want = per_case.groupby(["model", "checkpoint"])
    fig = csv(finished, "graphs").set_index(["model", "checkpoint"])
    assert len(fig) == 3 and (fig["cases"] == 18).all()  # 3 graphs in each of 6 tables
    for key, g in want:
        for c in ("nodes", "edges", "mean_fan_in", "first_token_share", "other_tokens_share", "self_bias_share",
                  "intervention_correlation", "kept_share"):
            assert fig.loc[key, c] == pytest.approx(g[c].mean(), nan_ok=True), (key, c)
        assert fig.loc[key, "tested"] == g["intervention_correlation"].notna().sum() > 0
    assert len(csv(finished, "graph_cases")) == len(per_case)


def test_graph_intervention_numbers(campaign, finished):
    """graph_interventions.csv from the stored nodes: every tested node (graph_node_ablation not NaN)
    pooled per model and checkpoint — Pearson's r of −relevance and the measured change, the median
    per-graph r, the share of nodes with the predicted sign — and the per-node CSV behind it."""
    nodes = []
    with h5py.File(campaign / "store.h5") as f:
        for model, mg in f["runs"].items():
            for ck, cg in mg.items():
                for bench, g in cg.items():
                    n = int(g.attrs["committed_rows"])
                    abl, rel = g["graph_node_ablation"][()], g["graph_node_relevance"][()]
                    for row in g["cases"][:n]:
                        a, m = int(row["graph_node_offset"]), int(row["n_graph_nodes"])
                        for j in range(a, a + m):
                            if not np.isnan(abl[j]):
                                nodes.append((model, ck, bench, int(row["case_index"]), -float(rel[j]),
                                              float(abl[j])))
    d = pd.DataFrame(nodes, columns=["model", "checkpoint", "benchmark", "case", "predicted", "measured"])
    assert len(d) > 0
    per_node = csv(finished, "graph_intervention_nodes")
    assert len(per_node) == len(d)
    table = csv(finished, "graph_interventions").set_index(["model", "checkpoint"])
    per_graph = csv(finished, "graphs").set_index(["model", "checkpoint"])
    for key, x in d.groupby(["model", "checkpoint"]):
        row = table.loc[key]
        assert row["nodes"] == len(x) and row["graphs"] == x.groupby(["benchmark", "case"]).ngroups
        assert row["pooled_correlation"] == pytest.approx(np.corrcoef(x["predicted"], x["measured"])[0, 1])
        assert row["sign_agreement"] == pytest.approx((np.sign(x["predicted"]) == np.sign(x["measured"])).mean())
        assert row["graphs"] >= per_graph.loc[key, "tested"]  # r needs 3 nodes with some spread
    assert (finished / "graph_interventions.png").exists()


# --- the bootstrap on data with a known answer -------------------------------------


def test_bootstrap_interval_on_known_data():
    rng = np.random.default_rng(7)
    x = rng.normal(3.0, 2.0, size=400)
    lo, hi = bootstrap_ci(x, resamples=4000, seed=1)
    half = 1.96 * x.std() / np.sqrt(x.size)  # the normal-theory interval the bootstrap approximates
    assert lo == pytest.approx(x.mean() - half, abs=0.04) and hi == pytest.approx(x.mean() + half, abs=0.04)
    # Coverage: the 95 % interval holds the true mean in about 95 % of samples.
    covered = sum(lo <= 0.3 <= hi for lo, hi in
                  (bootstrap_ci(rng.binomial(1, 0.3, size=80), resamples=1000, seed=s) for s in range(300)))
    assert 0.90 <= covered / 300 <= 0.985, covered
    assert np.isnan(bootstrap_ci([])[0]) and bootstrap_ci([2.0]) == (2.0, 2.0)


# --- the page in a browser -------------------------------------------------------------


def test_page_opens_in_chromium_without_console_errors(finished):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium missing; run scripts/bootstrap.sh")
    shot = finished / "screenshot.png"
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={finished / '.chromium'}", "--enable-logging=stderr", "--v=0",
                        "--window-size=1200,1800", f"--screenshot={shot}", (finished / "index.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20000, r.stderr[-3000:]
    console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Failed to load resource" in l]
    assert not console, "\n".join(console)


def test_accuracy_and_same_failures(finished, campaign):
    """accuracy.csv equals the store's /aggregate/.../evaluation; the same-failure table has,
    for each failure of the reference with a pair, every target's own verdict and Δℓ."""
    acc = csv(finished, "accuracy").query("benchmark == 'piqa'")
    with h5py.File(campaign / "store.h5") as f:
        ev = {(m, c, "piqa"): f[f"aggregate/{m}/{c}/piqa/evaluation"][()]
              for m, c in (("ref", "final"), ("sweep", "step1"), ("sweep", "step2"))}
    assert len(acc) == 3  # ref/final, sweep/step1, sweep/step2 on piqa
    for row in acc.itertuples():
        stored = dict(zip(["items", "scored", "correct", "accuracy", "accuracy_low", "accuracy_high", "errors",
                           "failures", "with_pair", "pair_yield", "pair_yield_low", "pair_yield_high"],
                          ev[(row.model, row.checkpoint, row.benchmark)]))
        for k, v in stored.items():
            assert getattr(row, k) == pytest.approx(v, nan_ok=True), k
    same = csv(finished, "same_failures").query("benchmark == 'piqa'")
    cases = cases_frame(campaign / "store.h5")
    ref = cases[(cases.model == "ref") & (cases.benchmark == "piqa")]
    assert len(same) == 3 * len(ref) and len(ref) > 0
    for row in same.itertuples():
        c = cases[(cases.model == row.model) & (cases.checkpoint == row.checkpoint) & (cases.case_id == row.case_id)]
        assert row.delta == pytest.approx(float(c["delta"].iloc[0]))
    assert (finished / "accuracy.png").stat().st_size > 5000


def test_planted_validation_numbers(campaign, finished):
    """planted.csv (the validation against the planted truth): per target, planted task and rule, the
    items and accuracy equal the store's evaluation rows, the failures that gave the wrong answer the
    mechanism predicts equal a reading of the case files' meta and the generated text, and the
    explained failures, evidence hit rates and outcome shares equal the store's per-table aggregates."""
    import re
    got = csv(finished, "planted")
    assert set(got["benchmark"]) == set(PLANTED)
    assert set(got["mechanism"]) == {"retrieval", "two_step", "distractor"}
    truth = {}
    for t in PLANTED:
        for line in (campaign / "bench" / f"{t}.generative.jsonl").read_text().splitlines():
            c = json.loads(line)
            truth[c["id"]] = c["meta"].get("distractor_answer") or c["meta"].get("one_step_answer")
    store = campaign / "store.h5"
    cases = cases_frame(store)
    ev_agg, oc_agg = aggregate(store, "evidence_hit_rate"), aggregate(store, "outcomes")
    checked = 0
    with h5py.File(store) as f:
        for row in got.itertuples():
            g = f["runs"][row.model][row.checkpoint][row.benchmark]
            names = json.loads(g.attrs["outcome_names"])
            n = int(g.attrs["committed_evaluations"])
            ids, detail = bytes(g["evaluation_id"][:]), bytes(g["evaluation_detail"][:])
            scored = correct = predicted = 0
            for e in g["evaluations"][:n]:
                outcome = names[int(e["outcome"])]
                if outcome == "error":
                    continue
                scored += 1
                correct += outcome == "correct"
                cid = ids[e["id_offset"]:e["id_offset"] + e["id_length"]].decode()
                text = json.loads(detail[e["detail_offset"]:e["detail_offset"] + e["detail_length"]])["text"]
                number = re.search(r"-?\d+", text)
                predicted += outcome != "correct" and truth[cid] is not None and number is not None and \
                    number.group(0) == truth[cid]
            assert (row.items, row.failures, row.planted_wrong) == (scored, scored - correct, predicted)
            assert row.accuracy == pytest.approx(correct / scored)
            mine = cases[(cases.model == row.model) & (cases.checkpoint == row.checkpoint)
                         & (cases.benchmark == row.benchmark)]
            assert row.explained == int((mine["delta"] > 0).sum())
            r = json.loads(g.attrs["rules"]).index(row.rule)
            hits, n_cases = ev_agg[(row.model, row.checkpoint, row.benchmark)]
            if hits[r, 0] > 0:
                assert row.evidence_hit == pytest.approx(hits[r, 1])
            counts, _ = oc_agg[(row.model, row.checkpoint, row.benchmark)]
            failures = counts[r, 1:].sum()  # every outcome but not_a_failure
            if failures:
                assert row.input_informative == pytest.approx(counts[r, 1] / failures)
                checked += 1
    assert checked > 0, "no planted failure was explained"
    assert (finished / "planted.png").stat().st_size > 5000


def test_findings_are_written_from_the_numbers(campaign, finished):
    """The first screen's findings: each sentence comes from the numbers (findings.csv names its
    source); the most faithful rule is the one with the largest mean area over the failures, with that
    area in the sentence; the per-benchmark shares of failures input attribution explains are those of
    the outcome counts; the section comes right after the status line, before any figure."""
    import re
    got = csv(finished, "findings")
    assert {"most_faithful", "where_informative", "with_training", "across_models",
            "planted_truth"} <= set(got["finding"])
    f = pd.read_csv(finished / "data" / "faithfulness.csv")
    with h5py.File(campaign / "store.h5") as h:
        areas = {}
        for m in h["runs"]:
            for c in h["runs"][m]:
                for b in h["runs"][m][c]:
                    g = h["runs"][m][c][b]
                    n = int(g.attrs["committed_rows"])
                    if n == 0:
                        continue
                    rules = json.loads(g.attrs["rules"])
                    delta = g["cases"][:n]["delta"]
                    a = g["faithfulness_area"][:n][:, 0, :, 0]  # the first operator, least minus most
                    for r, rule in enumerate(rules):
                        areas.setdefault(rule, []).extend(a[delta > 0, r][~np.isnan(a[delta > 0, r])])
    best = max(areas, key=lambda r: np.mean(areas[r]))
    text = got.query("finding == 'most_faithful'")["text"].iloc[0]
    assert f"most faithful rule here is {best}" in text and f"{np.mean(areas[best]):.2f}" in text
    assert set(f["method"]) >= set(areas)
    share = got.query("finding == 'where_informative'")["text"].iloc[0]
    oc = csv(finished, "outcomes").query("rule == 'attnlrp'").groupby("benchmark")[
        ["input_informative", "graph_informative", "neither", "graph_not_tested"]].sum()
    for bench, pct, n in re.findall(r"(\w+) \((\d+) % of (\d+)\)", share):
        assert int(n) == oc.loc[bench].sum() and int(pct) == round(100 * oc.loc[bench, "input_informative"] / int(n))
    page = (finished / "index.html").read_text()
    assert page.index('id="status"') < page.index('id="findings"') < page.index("<h2>Tables</h2>")
