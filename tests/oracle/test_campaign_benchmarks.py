"""`clrp run` from benchmarks: every item answered, judged and its pair searched inside the
campaign, then the failures explained, on a tiny model.

- the evaluation rows equal `clrp evaluate --records` on the same items (the same code
  path: verdicts, generated token ids and text, pairs and Δℓ, reasons without a pair);
- 1, 2 and 4 ranks, with 1 or 2 pipeline stages, give equal stores (evaluation rows,
  explanations, aggregates): with 2 stages the items are generated through the stages
  (dist/staged_decoder.hpp);
- killed with SIGKILL during the evaluation, then resumed: every item once, every failure
  explained once, numbers equal to the uninterrupted run;
- the aggregates (accuracy with Wilson intervals, pair yield, reasons) equal a
  recomputation from the rows;
- a bad line is refused naming file and line, or skipped and counted with skip_bad_lines;
  an item longer than the model's context is recorded as an error row, not fatal.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from test_campaign import (assert_same, committed_lines, mpirun, rank_pids, read_aggregates,
                           read_store)

REPO = pathlib.Path(__file__).resolve().parents[2]
MAX_NEW_TOKENS = 12


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Real prepared cases: ARC-Easy and SciQ as cloze (the tiny model's character-level
    tokenizer cannot tell " C" from " D" by their first token, so no letters; SciQ has
    evidence spans), 1-shot GSM8K generated and judged; plus one ARC item whose prompt is
    longer than the tiny model's context (512 tokens)."""
    d = tmp_path_factory.mktemp("bench")
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(d),
                    "--benchmarks", "arc_easy,sciq,gsm8k", "--formats", "mc_cloze",
                    "--limit", "10", "--shots", "arc_easy=0", "--shots", "sciq=0",
                    "--shots", "gsm8k=1"], check=True, capture_output=True)
    arc = d / "arc_easy.mc_cloze.jsonl"
    lines = arc.read_text().splitlines()
    long_case = json.loads(lines[0])
    long_case["id"] += "/too_long"
    long_case["segments"][0]["text"] = "Background: " + "the cat sat on the mat. " * 200 + "\n" + \
        long_case["segments"][0]["text"]
    arc.write_text("\n".join(lines + [json.dumps(long_case)]) + "\n")
    return {"arc": arc, "sciq": d / "sciq.mc_cloze.jsonl", "gsm8k": d / "gsm8k.generative.jsonl"}


def write_bench_spec(path: pathlib.Path, model: pathlib.Path, files: dict, store: str = "store.h5",
                     extra: str = "", batch: int = 2, batch_items: int = 16,
                     stages: int = 1) -> pathlib.Path:
    benchmarks = "".join(f"""
[[benchmarks]]
path = "{p}"
max_new_tokens = {MAX_NEW_TOKENS}
min_delta = 0.5
""" for p in files.values())
    path.write_text(f"""
name = "bench"
store = "{store}"
rules = ["attnlrp", "grad-x-input"]
[record]
neurons = 2
deletion_max_tokens = 3
[graphs]
cases = 1
[layout]
batch_cases = {batch}
batch_items = {batch_items}
commit_seconds = 0
stages = {stages}
[[models]]
name = "tiny"
path = "{model}"
{benchmarks}{extra}""")
    return path


def read_evaluations(path: pathlib.Path) -> dict:
    """Per (table, item id): the evaluation row's columns (timings and rank left out) and
    its detail, parsed."""
    out = {}
    with h5py.File(path, "r") as f:
        for model in f["runs"]:
            for ck in f["runs"][model]:
                for bench in f["runs"][model][ck]:
                    g = f["runs"][model][ck][bench]
                    n = int(g.attrs.get("committed_evaluations", 0))
                    if n == 0:
                        continue
                    rows = g["evaluations"][:n]
                    ids, detail = bytes(g["evaluation_id"][:]), bytes(g["evaluation_detail"][:])
                    for row in rows:
                        cid = ids[row["id_offset"]:row["id_offset"] + row["id_length"]].decode()
                        key = (f"{model}/{ck}/{bench}", cid)
                        assert key not in out, f"{key} evaluated twice"
                        rec = {k: row[k].item() for k in rows.dtype.names
                               if k not in ("seconds", "rank", "id_offset", "detail_offset", "detail_length")}
                        rec["detail"] = json.loads(
                            detail[row["detail_offset"]:row["detail_offset"] + row["detail_length"]])
                        out[key] = rec
    return out


def assert_close(a, b, where=""):
    """Equal structures; floats within 1e-5 relative (1e-6 absolute). Prompts that start from
    the cache of a shared prefix (eval::PrefixCache) get logits equal to reading them whole up to
    floating-point reassociation, and which prompt a rank has cached depends on how the items
    were spread, so logits and Δℓ of two runs agree to ~1e-7, not bit for bit."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            assert_close(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def reference(tmp_path_factory, clrp_bin, tiny_model, bench_files) -> pathlib.Path:
    d = tmp_path_factory.mktemp("bench_ref")
    spec = write_bench_spec(d / "spec.toml", tiny_model, bench_files)
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "evaluate: 31 items (0 committed before) of 3 benchmark files" in r.stdout, r.stdout
    return d / "store.h5"


def test_rows_equal_clrp_evaluate(tmp_path, clrp_bin, tiny_model, bench_files, reference):
    rows = read_evaluations(reference)
    outcomes = {0: 0, 1: 0, 2: 0, 3: 0}
    for key, rec in rows.items():
        outcomes[rec["outcome"]] += 1
    # Every kind of row occurs: right, failures with and without a pair, the too-long item.
    assert all(outcomes[k] > 0 for k in outcomes), outcomes
    for name, path in bench_files.items():
        out = tmp_path / f"{name}.records.jsonl"
        r = subprocess.run([str(clrp_bin), "--threads", "1", "evaluate", "--model", str(tiny_model),
                            "--cases", str(path), "--records", str(out), "--record-ids",
                            "--max-new-tokens", str(MAX_NEW_TOKENS), "--min-delta", "0.5"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        for line in out.read_text().splitlines():
            expected = json.loads(line)
            bench = path.name.split(".")[0]
            rec = rows[(f"tiny/final/{bench}", expected["id"])]
            if "error" in expected:
                assert rec["outcome"] == 3 and rec["detail"]["error"] == expected["error"]
                continue
            detail = rec["detail"]
            expected.pop("prompt_ids", None)
            pair = detail.pop("pair", None)
            assert_close(detail, expected, expected["id"])
            assert rec["outcome"] == (0 if expected["correct"] else 1 if pair else 2)
            assert rec["prompt_tokens"] == expected["prompt_tokens"]
            if pair:
                assert (rec["wrong_id"], rec["correct_id"]) == (pair["wrong"]["id"], pair["correct"]["id"])
                assert rec["delta"] == pytest.approx(expected["delta"], rel=1e-5, abs=1e-6)
                assert rec["pair_position"] == expected["pair_position"]


@pytest.mark.parametrize("ranks,stages", [(2, 1), (2, 2), (4, 2)])
def test_more_ranks_equal_one(tmp_path, clrp_bin, tiny_model, bench_files, reference, ranks,
                              stages):
    """2 ranks (1 worker), 2 ranks as one group of 2 pipeline stages, and 4 ranks as 2 groups
    of 2 stages give the store of 1 rank: evaluation rows, explanations, aggregates. With
    stages, every item's answer is generated through them (the counterfactual search's forks
    of the caches included)."""
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, bench_files, batch=3, batch_items=5,
                            stages=stages)
    r = mpirun(clrp_bin, ranks, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    if stages > 1:
        logs = "".join(p.read_text() for p in (tmp_path / "store.h5.logs").glob("rank-*.log"))
        assert "(stage 1 of 2;" in logs, logs
    store = tmp_path / "store.h5"
    assert_close(read_evaluations(store), read_evaluations(reference))
    assert_same(read_store(reference), read_store(store))
    a, b = read_aggregates(reference), read_aggregates(store)
    assert sorted(a) == sorted(b)
    for k in a:
        if k.endswith("/evaluation"):  # its last column sums the evaluation seconds
            a[k], b[k] = a[k][:-1], b[k][:-1]
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)


def test_counterfactual_search_through_stages(tmp_path, clrp_bin, tiny_model, bench_files):
    """The counterfactual search forks the caches (truncated to a step, alternatives continued
    as a batch): through 2 pipeline stages every row equals one rank's (the search's counts and
    reasons included; the logits of the forks are checked bit for bit in test_pipeline.py)."""
    extra = 'pairs = "counterfactual"\nsearch = { positions = 4, k = 2 }\n'
    stores = []
    for ranks, stages in ((1, 1), (2, 2)):
        d = tmp_path / f"s{stages}"
        d.mkdir()
        spec = write_bench_spec(d / "spec.toml", tiny_model, {"gsm8k": bench_files["gsm8k"]},
                                extra=extra, stages=stages)
        r = mpirun(clrp_bin, ranks, spec)
        assert r.returncode == 0, r.stdout + r.stderr
        stores.append(read_evaluations(d / "store.h5"))
    # The random tiny model passes no alternative, but every failure's search continued them.
    runs = [rec["detail"].get("counterfactual_run", 0) for rec in stores[0].values()]
    assert sum(r > 0 for r in runs) >= 5, runs
    assert_close(stores[1], stores[0])


def wilson(k: float, n: float) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_aggregates_recomputed(reference):
    rows = read_evaluations(reference)
    with h5py.File(reference, "r") as f:
        for bench in ("arc_easy", "sciq", "gsm8k"):
            mine = [r for (t, _), r in rows.items() if t == f"tiny/final/{bench}"]
            agg = f[f"aggregate/tiny/final/{bench}"]
            got = dict(zip(json.loads(agg.attrs["evaluation_columns"]), agg["evaluation"][()]))
            scored = [r for r in mine if r["outcome"] != 3]
            correct = sum(r["outcome"] == 0 for r in scored)
            failures = len(scored) - correct
            paired = sum(r["outcome"] == 1 for r in scored)
            assert got["items"] == len(mine) and got["scored"] == len(scored)
            assert got["correct"] == correct and got["failures"] == failures
            assert got["accuracy"] == pytest.approx(correct / len(scored))
            assert (got["accuracy_low"], got["accuracy_high"]) == pytest.approx(wilson(correct, len(scored)))
            assert got["with_pair"] == paired
            assert got["pair_yield"] == pytest.approx(paired / failures)
            assert (got["pair_yield_low"], got["pair_yield_high"]) == pytest.approx(wilson(paired, failures))
            reasons = {}
            for r in scored:
                if r["outcome"] == 2:
                    reasons[r["detail"]["no_pair"]] = reasons.get(r["detail"]["no_pair"], 0) + 1
            names = json.loads(agg.attrs["no_pair_reason_names"])
            assert dict(zip(names, agg["no_pair_reasons"][()])) == reasons
            # Each failure with a pair is explained in the table, and only those.
            g = f[f"runs/tiny/final/{bench}"]
            assert int(g.attrs["committed_rows"]) == paired == int(g.attrs["planned_rows"])


def test_kill9_during_evaluation_then_resume(tmp_path, clrp_bin, tiny_model, bench_files, reference):
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, bench_files, batch=1, batch_items=1)
    logs = tmp_path / "store.h5.logs"
    proc = mpirun(clrp_bin, 2, spec, env_extra={"CLRP_TEST_CASE_DELAY_MS": "150"}, wait=False)
    deadline = time.time() + 300
    while committed_lines(logs) < 6 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    for pid in rank_pids(logs):
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=60)
    with h5py.File(tmp_path / "store.h5", "r") as f:
        done = sum(int(g.attrs["committed_evaluations"]) for g in
                   (f[f"runs/tiny/final/{b}"] for b in ("arc_easy", "gsm8k", "sciq")))
    assert 0 < done < 31
    # The report of the killed store says first that it is unfinished, items included.
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, str(REPO / "analysis" / "report.py"), str(tmp_path / "store.h5"),
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    page = (out / "index.html").read_text()
    assert "UNFINISHED CAMPAIGN" in page and f"{done} of 31 benchmark items are answered" in page
    assert json.loads((out / "data" / "summary.json").read_text())["finished"] is False
    r = mpirun(clrp_bin, 2, spec, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"evaluate: 31 items ({done} committed before)" in r.stdout, r.stdout
    assert_close(read_evaluations(tmp_path / "store.h5"), read_evaluations(reference))
    assert_same(read_store(reference), read_store(tmp_path / "store.h5"))


def test_bad_lines_named_or_skipped(tmp_path, clrp_bin, tiny_model, bench_files):
    bad = tmp_path / "bad.jsonl"
    lines = bench_files["arc"].read_text().splitlines()[:3]
    bad.write_text("\n".join([lines[0], "{not json", lines[1], lines[2]]) + "\n")
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, {"arc": bad})
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode != 0
    assert f"{bad}: line 2: byte offset" in r.stderr and "invalid JSON" in r.stderr, r.stderr
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, {"arc": bad},
                            extra="skip_bad_lines = true\n")
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped 1 (invalid_json 1)" in r.stdout, r.stdout
    assert "evaluate: 3 items" in r.stdout


def test_judge_that_hangs_or_crashes(tmp_path, clrp_bin, tiny_model):
    """IFEval items whose checker hangs (stopped after `checker_timeout`) or crashes are error
    rows naming what happened; the run goes on and finishes."""
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(tmp_path),
                    "--benchmarks", "ifeval", "--limit", "2"], check=True, capture_output=True)
    files = {"ifeval": tmp_path / "ifeval.instructions.jsonl"}
    fakes = {"hang": ("#!/bin/sh\nexec sleep 600\n", "sent no greeting within 1 s"),
             "crash": ("#!/bin/sh\necho checker exploded >&2\nexit 3\n", "checker exploded")}
    for name, (script, message) in fakes.items():
        fake = tmp_path / f"{name}.sh"
        fake.write_text(script)
        fake.chmod(0o755)
        spec = write_bench_spec(tmp_path / f"{name}.toml", tiny_model, files, store=f"{name}.h5")
        spec.write_text(spec.read_text().replace("min_delta = 0.5", "min_delta = 0.5\nchecker_timeout = 1.0"))
        start = time.monotonic()
        r = mpirun(clrp_bin, 1, spec, env_extra={"CLRP_PYTHON": str(fake)})
        assert r.returncode == 0, r.stdout + r.stderr
        assert time.monotonic() - start < 120
        rows = read_evaluations(tmp_path / f"{name}.h5")
        assert len(rows) == 2, rows
        for row in rows.values():
            assert row["outcome"] == 3 and message in row["detail"]["error"], row["detail"]


def test_fixed_set_same_failures(tmp_path, clrp_bin, tiny_model, bench_files):
    """Fixed set with benchmarks: both models answer every item; the reference's failures
    with a pair are explained under both; the report's same-failure table holds, for each,
    the other model's own verdict and its Δℓ on the reference's pair."""
    from tiny_models import make_llama
    other = make_llama("llama_mha_tied")  # same tokenizer (same recipe), other weights
    files = {"sciq": bench_files["sciq"], "gsm8k": bench_files["gsm8k"]}
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, files,
                            extra=f'\n[[models]]\nname = "other"\npath = "{other}"\n')
    text = spec.read_text().replace('name = "bench"', 'name = "bench"\nmode = "fixed-set"\nreference = "tiny"')
    spec.write_text(text)
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    store = tmp_path / "store.h5"
    rows = read_evaluations(store)
    for bench in ("sciq", "gsm8k"):
        mine = {cid for (t, cid) in rows if t == f"tiny/final/{bench}"}
        theirs = {cid for (t, cid) in rows if t == f"other/final/{bench}"}
        assert mine == theirs and mine  # both models answered every item
    explained = read_store(store)
    ref_failures = {(t.split("/")[-1], cid) for (t, cid), r in rows.items()
                    if t.startswith("tiny/") and r["outcome"] == 1}
    for model in ("tiny", "other"):
        got = {(t.split("/")[-1], cid) for (t, cid) in explained if t.startswith(f"{model}/")}
        assert got == ref_failures, model
    sys.path.insert(0, str(REPO / "analysis"))
    from clrp_report.load import read_store as load_store
    from clrp_report.numbers import same_failures
    table = same_failures(load_store(str(store)))
    assert len(table) == 2 * len(ref_failures)
    for row in table.itertuples():
        own = rows[(f"{row.model}/final/{row.benchmark}", row.case_id)]
        assert row.outcome == ["correct", "failure_with_pair", "failure_no_pair", "error"][own["outcome"]]
        assert row.delta == pytest.approx(
            float(explained[(f"{row.model}/final/{row.benchmark}", row.case_id)]["delta"]), abs=1e-9)


def test_fixed_set_with_own_failures(tmp_path, clrp_bin, tiny_model, bench_files):
    """own_failures = true: the reference's failures are explained under both models, and each
    model also explains its own failures on the items the reference did not fail, with its own
    pair; the report tells them apart (cases.fixed_pair) and compares models on the fixed set only."""
    from tiny_models import make_llama
    other = make_llama("llama_mha_tied")
    files = {"sciq": bench_files["sciq"], "gsm8k": bench_files["gsm8k"]}
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, files,
                            extra=f'\n[[models]]\nname = "other"\npath = "{other}"\n')
    spec.write_text(spec.read_text().replace(
        'name = "bench"', 'name = "bench"\nmode = "fixed-set"\nreference = "other"\nown_failures = true'))
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    store = tmp_path / "store.h5"
    rows = read_evaluations(store)

    def failed(model):
        return {(t.split("/")[-1], cid): r for (t, cid), r in rows.items()
                if t.startswith(f"{model}/") and r["outcome"] == 1}

    ref = failed("other")
    own = {k: r for k, r in failed("tiny").items() if k not in ref}
    assert ref and own, "the test needs failures of both kinds"
    explained = read_store(store)
    got = {model: {(t.split("/")[-1], cid): row for (t, cid), row in explained.items() if t.startswith(f"{model}/")}
           for model in ("tiny", "other")}
    assert set(got["other"]) == set(ref)
    assert set(got["tiny"]) == set(ref) | set(own)
    for key, ev in own.items():  # tiny's own pair: the one its evaluation found
        assert (got["tiny"][key]["wrong_id"], got["tiny"][key]["correct_id"]) == (ev["wrong_id"], ev["correct_id"])
        assert float(got["tiny"][key]["delta"]) == pytest.approx(ev["delta"], rel=1e-5, abs=1e-5)
    sys.path.insert(0, str(REPO / "analysis"))
    from clrp_report.load import read_store as load_store
    from clrp_report.numbers import delta_pairs, failure_rates
    loaded = load_store(str(store))
    fixed = loaded.cases[loaded.cases["fixed_pair"]]
    assert set(zip(fixed.benchmark, fixed.case_id)) == set(ref)
    assert len(loaded.cases) - len(fixed) == len(own)
    assert set(zip(delta_pairs(loaded).benchmark, delta_pairs(loaded).case_id)) == set(ref)
    assert failure_rates(loaded)["cases"].sum() == 2 * len(ref)


OTHER_TOKENIZER_TEXT = (
    "Science: which gas do green plants take in from the air? carbon dioxide, not oxygen.\n"
    "How many legs does a spider have? Eight. 7 * 6 = 42 and 15 - 3 = 12 apples left.\n"
) * 20


def carried_by_hf(prompt: str, pair: dict, frm, to):
    """The pair under tokenizer `to` by its text, with Hugging Face `tokenizers` (an
    independent implementation of campaign/carry_pair.hpp): (tokens before the contrast,
    wrong id, correct id), or the kind of reason it does not carry."""
    ctx = prompt + pair["prefix"]
    w = pair["wrong"].get("continuation") or frm.decode([pair["wrong"]["id"]])
    c = pair["correct"].get("continuation") or frm.decode([pair["correct"]["id"]])
    if w == c:
        return "same_text"
    a, b = to.encode(ctx + w).ids, to.encode(ctx + c).ids
    d = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    if d is None:
        return "no_differing_token"
    shared = to.decode(a[:d]).encode()
    if not (ctx + w).encode().startswith(shared) or not (ctx + c).encode().startswith(shared):
        return "tokens_do_not_spell_text"
    if len(shared) < len(prompt.encode()):
        return "diverges_inside_prompt"
    if to.encode(prompt + shared[len(prompt.encode()):].decode()).ids != a[:d]:
        return "prefix_retokenizes"
    return a[:d], a[d], b[d]


def test_fixed_set_across_tokenizers(tmp_path, clrp_bin, tiny_model, bench_files):
    """Fixed set across tokenizers: the reference's pairs are carried to a model with another
    tokenizer by their text (prompt + prefix, each side's continuation re-tokenized, contrasted
    at the first differing token), equal to the same carry done with Hugging Face `tokenizers`;
    pairs that do not carry are listed with their reason, in the store, in `clrp inspect` and
    in the report's same-failure table."""
    import shutil

    import tokenizers
    from tiny_models import make_llama
    from tokenizers import decoders, models, pre_tokenizers, trainers
    other = tmp_path / "other"
    shutil.copytree(make_llama("llama_mha_tied"), other)
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([OTHER_TOKENIZER_TEXT], trainers.BpeTrainer(
        vocab_size=311, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"], show_progress=False))
    assert tok.get_vocab_size() == 311
    tok.save(str(other / "tokenizer.json"))
    frm = tokenizers.Tokenizer.from_file(str(pathlib.Path(tiny_model) / "tokenizer.json"))
    to = tokenizers.Tokenizer.from_file(str(other / "tokenizer.json"))
    assert frm.get_vocab() != to.get_vocab()

    files = {"sciq": bench_files["sciq"], "gsm8k": bench_files["gsm8k"]}
    # A ready-made pair whose text does not carry: its correct continuation extends the wrong
    # one, and the other tokenizer splits it so that the wrong side's tokens are a prefix.
    ready = json.loads(files["sciq"].read_text().splitlines()[0])
    ready["id"] += "/handmade"
    prompt = "".join(seg["text"] for seg in ready["segments"])
    for w, c in ((" ce", " cell"), (" 1", " 12"), (" mem", " membrane"), (" car", " carbon")):
        handmade = {"prefix": "", "wrong": {"id": frm.encode(w).ids[0], "token": w, "logit": 2.0,
                                            "continuation": w},
                    "correct": {"id": frm.encode(c).ids[-1], "token": c, "logit": 1.0, "continuation": c},
                    "delta": 1.0, "method": "cloze", "model": "handmade"}
        if (handmade["wrong"]["id"] != handmade["correct"]["id"]
                and carried_by_hf(prompt, handmade, frm, to) == "no_differing_token"):
            break
    else:
        pytest.fail("no hand-made pair that the other tokenizer refuses")
    ready["pair"] = handmade
    failure_file = tmp_path / "failures.jsonl"
    failure_file.write_text(json.dumps(ready) + "\n")
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, files,
                            extra=f'\n[[models]]\nname = "other"\npath = "{other}"\n'
                                  f'\n[[cases]]\npath = "{failure_file}"\n')
    spec.write_text(spec.read_text().replace(
        'name = "bench"', 'name = "bench"\nmode = "fixed-set"\nreference = "tiny"'))
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    store = tmp_path / "store.h5"
    rows, explained = read_evaluations(store), read_store(store)
    prompts = {}
    for path in files.values():
        for line in path.read_text().splitlines():
            case = json.loads(line)
            prompts[case["id"]] = "".join(s["text"] for s in case["segments"])
    refused = {}
    with h5py.File(store) as f:
        for bench in files:
            g = f[f"runs/other/final/{bench}"]
            for e in json.loads(bytes(g["pairs_not_carried"][:]).decode()) if "pairs_not_carried" in g else []:
                refused[(bench, e["case_id"])] = e["reason"]
    assert refused.pop(("sciq", ready["id"])).startswith("no_differing_token: ")
    assert ("tiny/final/sciq", ready["id"]) in explained  # the reference explains its own pair
    carried = moved = 0
    too_long = set()
    for (table, cid), row in rows.items():
        if not table.startswith("tiny/") or row["outcome"] != 1:
            continue
        bench = table.split("/")[-1]
        expected = carried_by_hf(prompts[cid], row["detail"]["pair"], frm, to)
        mine = explained[(table, cid)]
        got = explained.get((f"other/final/{bench}", cid))
        if isinstance(expected, str):
            assert got is None, cid
            assert refused[(bench, cid)].split(":")[0] == expected, refused[(bench, cid)]
            continue
        tokens, wrong, correct = expected
        assert (bench, cid) not in refused, cid
        if len(tokens) > 512:  # carried, but longer than the other model's context: a failed case
            assert got is None, cid
            too_long.add((bench, cid))
            continue
        assert got is not None, cid
        assert list(got["tokens"]) == tokens, cid
        assert (int(got["wrong_id"]), int(got["correct_id"])) == (wrong, correct), cid
        carried += 1
        moved += list(got["tokens"]) != list(mine["tokens"])
    assert carried >= 3 and moved >= 1, (carried, moved, refused)
    # The reasons reach clrp inspect and the report's same-failure table.
    sys.path.insert(0, str(REPO / "analysis"))
    from clrp_report.load import read_store as load_store
    from clrp_report.numbers import same_failures
    table = same_failures(load_store(str(store)))
    others = table[table["model"] == "other"]
    assert len(others) == len(table[table["model"] == "tiny"])  # every reference failure, once
    for row in others.itertuples():
        if (row.benchmark, row.case_id) in refused:
            assert row.not_carried == refused[(row.benchmark, row.case_id)] and math.isnan(row.delta)
        else:
            assert not isinstance(row.not_carried, str)
            assert math.isnan(row.delta) == ((row.benchmark, row.case_id) in too_long)
    out = subprocess.run([str(clrp_bin), "inspect", str(store)], capture_output=True, text=True)
    assert "reference pairs not carried to this tokenizer: no_differing_token 1" in out.stdout, out.stdout


def test_sweep_tasks_merge_into_the_whole(tmp_path, clrp_bin, tiny_model, bench_files, reference):
    """A checkpoint sweep of two checkpoints run as two --checkpoint tasks into their own stores
    and merged equals the whole sweep in one store: evaluation rows, explanations, aggregates."""
    from tiny_models import make_llama
    ck = tmp_path / "checkpoints"
    for step, model in {"step1": tiny_model, "step2": make_llama("llama_mha_tied")}.items():
        (ck / step).mkdir(parents=True)
        for f in pathlib.Path(model).iterdir():
            (ck / step / f.name).symlink_to(f)
    files = {"sciq": bench_files["sciq"], "gsm8k": bench_files["gsm8k"]}
    spec = write_bench_spec(tmp_path / "spec.toml", tiny_model, files)
    spec.write_text(spec.read_text().replace(f'path = "{tiny_model}"', f'checkpoints = "{ck}"'))
    whole = mpirun(clrp_bin, 2, spec, "--store", tmp_path / "whole.h5")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    for step in ("step1", "step2"):
        r = mpirun(clrp_bin, 1, spec, "--checkpoint", step, "--store", tmp_path / f"{step}.h5")
        assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(clrp_bin), "merge", str(tmp_path / "merged.h5"), str(tmp_path / "step1.h5"),
                        str(tmp_path / "step2.h5")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = tmp_path / "whole.h5", tmp_path / "merged.h5"
    assert_close(read_evaluations(a), read_evaluations(b))
    assert_same(read_store(a), read_store(b))
    ra, rb = read_aggregates(a), read_aggregates(b)
    assert sorted(ra) == sorted(rb)
    for k in ra:
        if k.endswith("/evaluation"):
            ra[k], rb[k] = ra[k][:-1], rb[k][:-1]
        np.testing.assert_allclose(ra[k], rb[k], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)
    with h5py.File(b) as f:
        for step in ("step1", "step2"):
            g = f[f"runs/tiny/{step}/sciq"]
            assert int(g.attrs["planned_rows"]) == int(g.attrs["committed_rows"])
    # The same item evaluated in two inputs is refused.
    r = subprocess.run([str(clrp_bin), "merge", str(tmp_path / "twice.h5"), str(tmp_path / "whole.h5"),
                        str(tmp_path / "step1.h5")], capture_output=True, text=True)
    assert r.returncode != 0 and "in both" in r.stderr, r.stderr
