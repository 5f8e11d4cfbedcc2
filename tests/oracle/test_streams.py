"""Hostile and careless inputs through the real CLI (issue 24).

Streams: case files and token inputs read from a pipe (/dev/stdin, <(...)) give
what the same file gives; /dev/zero and an endless line end at the line cap with
a message naming the file and the cap, in seconds and bounded memory.
Empty runs: a campaign over a failure file or benchmark without an item is
refused naming the file, unless its table says allow_empty = true.
Messages: a quoted input is a bounded, escaped excerpt (a 10 MB case line, a
1 MB merge or special token, a NUL); a store path that is a directory, a
config.json that is a FIFO and a tiny --max-memory are called what they are.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import signal
import sys
import time

import pytest

from conftest import REPO
from tiny_models import make_llama

VALID = REPO / "tests" / "data" / "cases" / "valid.jsonl"
MAX_MESSAGE = 2000  # bytes of stderr a bad input may cost


MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def mpirun(clrp_bin, *args):
    env = dict(os.environ, **MPI_ENV)
    return subprocess.run(["mpirun", "-n", "1", str(clrp_bin), "--threads", "1", "run", *map(str, args)],
                          env=env, capture_output=True, timeout=300)


def run(clrp_bin, *args, stdin=None, timeout=120):
    return subprocess.run([str(clrp_bin), "--threads", "1", *map(str, args)], input=stdin,
                          capture_output=True, timeout=timeout)


# Runs a command and prints its peak RSS (KiB). Linux carries a process's peak RSS across exec, so
# clrp forked straight from this pytest process (gigabytes after the model tests) would report
# pytest's peak as its own; forked from this small interpreter, it reports its own.
_MEASURE = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.exit(r.returncode if r.returncode >= 0 else 128 - r.returncode)\n")


def run_measured(clrp_bin, *args, timeout=120):
    """(exit status, stderr, seconds, peak RSS in MiB) of one clrp run."""
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", _MEASURE, str(clrp_bin), "--threads", "1", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"clrp {' '.join(map(str, args))} still running after {timeout} s")
    return p.returncode, err.decode(errors="replace"), time.monotonic() - t0, int(out or b"0") / 1024


@pytest.fixture(scope="module")
def tiny():
    return make_llama("llama_gqa_untied")


@pytest.fixture(scope="module")
def mc_cases(tmp_path_factory) -> pathlib.Path:
    """The multiple-choice cases of the fixture, each with a pair (a failure file)."""
    out = tmp_path_factory.mktemp("streams") / "mc.jsonl"
    lines = []
    for line in VALID.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if not case["format"].startswith("mc_"):
            continue
        case["pair"] = {"prefix": "", "wrong": {"id": 5, "token": "x", "logit": 2.0},
                        "correct": {"id": 6, "token": "y", "logit": 1.0}, "delta": 1.0,
                        "method": "imported", "model": "tiny"}
        lines.append(json.dumps(case, ensure_ascii=False))
    assert len(lines) >= 2
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


# --- streams -----------------------------------------------------------------------------


def test_evaluate_reads_cases_from_a_pipe_as_from_the_file(clrp_bin, tiny, mc_cases, tmp_path):
    from_file = run(clrp_bin, "evaluate", "--model", tiny, "--cases", mc_cases, "--json", tmp_path / "f.json")
    assert from_file.returncode == 0, from_file.stderr
    n = len(mc_cases.read_text().splitlines())
    assert f"read {n} cases".encode() in from_file.stdout, from_file.stdout
    piped = run(clrp_bin, "evaluate", "--model", tiny, "--cases", "/dev/stdin", "--json", tmp_path / "p.json",
                stdin=mc_cases.read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert f"read {n} cases".encode() in piped.stdout, piped.stdout
    # <(...): a pipe under /dev/fd.
    sub = subprocess.run(["bash", "-c", f'"$0" --threads 1 evaluate --model "$1" --cases <(cat "$2") '
                                        f'--json "$3"', clrp_bin, tiny, mc_cases, tmp_path / "s.json"],
                         capture_output=True, timeout=120)
    assert sub.returncode == 0, sub.stderr
    summaries = [json.loads((tmp_path / f"{k}.json").read_text()) for k in "fps"]
    assert [without_times(s, s["cases_file"]) for s in summaries[1:]] == \
        [without_times(summaries[0], str(mc_cases))] * 2


def test_explain_reads_a_case_from_a_pipe_as_from_the_file(clrp_bin, tiny, mc_cases, tmp_path):
    cid = json.loads(mc_cases.read_text().splitlines()[1])["id"]
    outs = []
    for name, cases, stdin in (("f", mc_cases, None), ("p", "/dev/stdin", mc_cases.read_bytes())):
        r = run(clrp_bin, "explain", "--model", tiny, "--cases", cases, "--id", cid, "--json",
                tmp_path / f"{name}.json", stdin=stdin)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads((tmp_path / f"{name}.json").read_text()))
    assert without_times(outs[0], str(mc_cases)) == without_times(outs[1], "/dev/stdin")


def without_times(j, cases_path):
    """`j` without timings and without the case file's path (which differs)."""
    if isinstance(j, dict):
        return {k: without_times(v, cases_path) for k, v in j.items()
                if "second" not in k and "time" not in k and v != cases_path}
    if isinstance(j, list):
        return [without_times(v, cases_path) for v in j]
    return j


@pytest.mark.parametrize("command", ["evaluate", "explain", "tokenize"])
def test_dev_zero_ends_at_the_line_cap_quickly(clrp_bin, tiny, command):
    args = {"evaluate": ["evaluate", "--model", tiny, "--cases", "/dev/zero"],
            "explain": ["explain", "--model", tiny, "--cases", "/dev/zero", "--id", "x"],
            "tokenize": ["tokenize", "--model", tiny, "--input", "/dev/zero"]}[command]
    code, err, seconds, peak_mib = run_measured(clrp_bin, *args)
    assert code == 2, err
    assert "/dev/zero: line 1" in err and "line longer than the cap of 64.0 MiB" in err, err
    assert len(err) < MAX_MESSAGE
    assert seconds < 60 and peak_mib < 1024, (seconds, peak_mib)


def test_evaluate_skipping_bad_lines_still_ends_an_endless_line(clrp_bin, tiny):
    code, err, seconds, peak_mib = run_measured(clrp_bin, "evaluate", "--model", tiny, "--cases", "/dev/zero",
                                                "--skip-bad-lines")
    assert code == 2 and "no end of line within 1.00 GiB" in err, err
    assert seconds < 60 and peak_mib < 1024, (seconds, peak_mib)


def test_a_long_line_from_a_pipe_hits_the_same_cap_as_from_a_file(clrp_bin, tiny, tmp_path):
    big = b'{"text": "' + b"a" * (65 << 20) + b'"}\n'
    path = tmp_path / "big.jsonl"
    path.write_bytes(big)
    from_file = run(clrp_bin, "tokenize", "--model", tiny, "--input", path)
    piped = run(clrp_bin, "tokenize", "--model", tiny, "--input", "-", stdin=big)
    for r, name in ((from_file, str(path)), (piped, "-")):
        assert r.returncode == 2, r.stderr
        assert f"{name}: line 1: byte offset 0: line longer than the cap of 64.0 MiB".encode() in r.stderr, r.stderr


def test_tokenize_input_from_a_pipe(clrp_bin, tiny, tmp_path):
    lines = b'{"text": "hello world"}\n\n{"text": "caf\xc3\xa9"}\n'
    path = tmp_path / "t.jsonl"
    path.write_bytes(lines)
    from_file = run(clrp_bin, "tokenize", "--model", tiny, "--input", path)
    piped = run(clrp_bin, "tokenize", "--model", tiny, "--input", "/dev/stdin", stdin=lines)
    assert from_file.returncode == piped.returncode == 0, piped.stderr
    assert from_file.stdout == piped.stdout and from_file.stdout.count(b"\n") == 2


# --- messages ------------------------------------------------------------------------------


def test_a_10_mb_bad_case_line_gives_a_short_message(clrp_bin, tiny, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "' + b"a" * 10_000_000 + b'\x01"}\n')
    r = run(clrp_bin, "evaluate", "--model", tiny, "--cases", path)
    assert r.returncode == 2 and b"line 1" in r.stderr, r.stderr[:500]
    assert len(r.stderr) < MAX_MESSAGE and b"bytes)" in r.stderr, r.stderr[:MAX_MESSAGE]


def test_a_nul_in_a_quoted_value_does_not_cut_the_message(clrp_bin, tiny, tmp_path):
    case = json.loads(VALID.read_text(encoding="utf-8").splitlines()[0])
    case["format"] = "mc\u0000letter"
    path = tmp_path / "nul.jsonl"
    path.write_text(json.dumps(case) + "\n")
    r = run(clrp_bin, "evaluate", "--model", tiny, "--cases", path)
    assert r.returncode == 2
    assert b"unknown format 'mc\\x00letter'" in r.stderr, r.stderr


@pytest.fixture()
def model_copy(tiny, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny, dst)
    return dst


def test_a_1_mb_merge_token_is_quoted_as_an_excerpt(clrp_bin, model_copy):
    tj = json.loads((model_copy / "tokenizer.json").read_text())
    tj["model"]["merges"].insert(0, "Q" * 1_000_000 + " R")
    (model_copy / "tokenizer.json").write_text(json.dumps(tj))
    r = run(clrp_bin, "tokenize", "--model", model_copy, "--text", "hi")
    assert r.returncode == 2 and b"model.merges[0]" in r.stderr, r.stderr[:500]
    assert len(r.stderr) < MAX_MESSAGE and b"(1000000 bytes)" in r.stderr, r.stderr[:MAX_MESSAGE]


def test_a_1_mb_special_token_is_quoted_as_an_excerpt(clrp_bin, model_copy):
    tj = json.loads((model_copy / "tokenizer.json").read_text())
    name = "S" * 1_000_000
    tj["post_processor"] = {"type": "TemplateProcessing",
                            "single": [{"SpecialToken": {"id": name, "type_id": 0}},
                                       {"Sequence": {"id": "A", "type_id": 0}}],
                            "pair": [{"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}}
    (model_copy / "tokenizer.json").write_text(json.dumps(tj))
    r = run(clrp_bin, "tokenize", "--model", model_copy, "--text", "hi")
    assert r.returncode == 2 and b"special token" in r.stderr, r.stderr[:500]
    assert len(r.stderr) < MAX_MESSAGE and b"(1000000 bytes)" in r.stderr, r.stderr[:MAX_MESSAGE]


def test_config_json_that_is_a_fifo_is_called_a_fifo(clrp_bin, model_copy):
    (model_copy / "config.json").unlink()
    os.mkfifo(model_copy / "config.json")
    r = run(clrp_bin, "model-info", "--model", model_copy, timeout=30)
    assert r.returncode == 2
    assert b"config.json is a FIFO, not a regular file" in r.stderr and b"missing" not in r.stderr, r.stderr


def test_a_tiny_memory_budget_is_printed_in_a_unit_that_shows_it(clrp_bin, tiny):
    r = run(clrp_bin, "graph", "--model", tiny, "--prompt", "The sky is", "--correct", " blue",
            "--wrong", " red", "--max-memory", "1")
    assert r.returncode == 2, r.stderr
    assert b"--max-memory is 1 B" in r.stderr and b" 0 MiB" not in r.stderr, r.stderr


# --- campaigns: empty runs and store paths -------------------------------------------------


def spec_text(tiny, store, cases="", benchmarks=""):
    return f"""
name = "streams"
store = "{store}"
rules = ["attnlrp"]
[[models]]
name = "tiny"
path = "{tiny}"
{cases}{benchmarks}"""


def test_an_empty_failure_file_is_refused_unless_allowed(clrp_bin, tiny, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(tiny, tmp_path / "store.h5", cases=f'[[cases]]\npath = "{empty}"\n'))
    r = mpirun(clrp_bin, spec)
    assert r.returncode == 2, r.stderr
    assert f"cases[0].path: {empty} holds no failure".encode() in r.stderr and b"allow_empty" in r.stderr, r.stderr
    assert not (tmp_path / "store.h5").exists()
    spec.write_text(spec_text(tiny, tmp_path / "store.h5",
                              cases=f'[[cases]]\npath = "{empty}"\nallow_empty = true\n'))
    r = mpirun(clrp_bin, spec)
    assert r.returncode == 0, r.stderr


def test_a_benchmark_without_items_is_refused(clrp_bin, tiny, tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text("\n   \n{}\n")  # blank lines and one bad line, skipped
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(tiny, tmp_path / "store.h5",
                              benchmarks=f'[[benchmarks]]\npath = "{bench}"\nskip_bad_lines = true\n'))
    r = mpirun(clrp_bin, spec)
    assert r.returncode == 2, r.stderr
    assert f"benchmarks[0].path: {bench} yields no item".encode() in r.stderr, r.stderr


def test_a_store_path_that_is_a_directory_is_called_one(clrp_bin, tiny, mc_cases, tmp_path):
    store = tmp_path / "store.h5"
    store.mkdir()
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(tiny, store, cases=f'[[cases]]\npath = "{mc_cases}"\n'))
    for extra in ([], ["--resume"]):
        r = mpirun(clrp_bin, spec, *extra)
        assert r.returncode == 2, r.stderr
        assert b"is a directory" in r.stderr and b"MPI_ERR" not in r.stderr, r.stderr
        assert b"already exists" not in r.stderr, r.stderr
