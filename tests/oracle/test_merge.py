"""`clrp merge` and `clrp run --checkpoint/--store` end to end on a tiny checkpoint sweep:
the stores of the sweep's checkpoints, run apart, merge into the store of the whole
campaign (every per-case number by case id, and the aggregates); stores of other specs or
clrp versions are refused naming the files and the attribute; a merge killed midway leaves
its inputs untouched and no output."""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

import h5py
import numpy as np
import pytest

from campaign_fixtures import write_sweep_spec
from test_campaign import MPI_ENV, assert_same, mpirun, read_aggregates, read_store, recompute_aggregates
from tiny_models import make_llama


def clrp(clrp_bin, *args, env_extra=None, timeout=600):
    env = dict(os.environ, **MPI_ENV, **(env_extra or {}))
    return subprocess.run([str(clrp_bin), "--threads", "1", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, clrp_bin, tiny_model, failures):
    """The sweep run whole (2 ranks) and as one store per checkpoint (what a job array does)."""
    d = tmp_path_factory.mktemp("sweep")
    spec = write_sweep_spec(d / "spec.toml", {"step1": tiny_model, "step2": make_llama("llama_mha_tied")},
                            failures)
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    names = clrp(clrp_bin, "run", spec, "--list-checkpoints")
    assert names.returncode == 0 and names.stdout.split() == ["step1", "step2"], names.stdout + names.stderr
    parts = []
    for name in names.stdout.split():
        part = d / f"part-{name}.h5"
        r = clrp(clrp_bin, "run", spec, "--checkpoint", name, "--store", part)
        assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
        parts.append(part)
    return {"dir": d, "spec": spec, "whole": d / "store.h5", "parts": parts}


def test_merged_halves_equal_the_whole_campaign(sweep, clrp_bin):
    whole, parts = sweep["whole"], sweep["parts"]
    out = sweep["dir"] / "merged.h5"
    r = clrp(clrp_bin, "merge", out, *parts)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "merged 2 stores" in r.stdout, r.stdout
    # Each part alone holds one checkpoint's tables only.
    for part, name in zip(parts, ["step1", "step2"]):
        assert {t.split("/")[1] for t, _ in read_store(part)} == {name}
    assert_same(read_store(whole), read_store(out))
    a, b = read_aggregates(whole), read_aggregates(out)
    assert sorted(a) == sorted(b)
    for k in a:  # rows sit in another order: sums agree to rounding
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)
    again, stored = recompute_aggregates(out), read_aggregates(out, timings=True)
    assert any(k.endswith("/deletion") for k in again)  # the deletion test survives the merge
    for k, want in again.items():
        np.testing.assert_allclose(stored[k], want, rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)
    # Parts are unfinished on their own; the merge is finished, like the whole.
    insp = lambda p: __import__("json").loads(clrp(clrp_bin, "inspect", p, "--json").stdout)
    assert insp(parts[0])["unfinished_tables"] > 0
    assert insp(out)["unfinished_tables"] == 0 == insp(whole)["unfinished_tables"]
    with h5py.File(out) as f, h5py.File(whole) as g:
        assert f.attrs["spec_hash"] == g.attrs["spec_hash"] and f.attrs["spec"] == g.attrs["spec"]


def test_unknown_checkpoint_is_refused(sweep, clrp_bin):
    r = clrp(clrp_bin, "run", sweep["spec"], "--checkpoint", "step9", "--store", sweep["dir"] / "x.h5")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--checkpoint step9: no model of the spec has a checkpoint so named (step1, step2)" in r.stderr
    assert not (sweep["dir"] / "x.h5").exists()


def test_refuses_other_spec_and_other_version(sweep, clrp_bin, tiny_model, failures, tmp_path):
    part = sweep["parts"][0]
    other_spec = write_sweep_spec(tmp_path / "spec.toml", {"step1": tiny_model}, failures, limit=2,
                                  rules=("attnlrp",))
    other = tmp_path / "other.h5"
    assert clrp(clrp_bin, "run", other_spec, "--store", other).returncode == 0
    out = tmp_path / "out.h5"
    r = clrp(clrp_bin, "merge", out, part, other)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"cannot merge {part} and {other}: attribute spec_hash differs" in r.stderr, r.stderr
    assert "first difference at spec key" in r.stderr, r.stderr
    old = tmp_path / "old.h5"
    shutil.copy(sweep["parts"][1], old)
    with h5py.File(old, "r+") as f:
        f.attrs["clrp_version"] = np.bytes_("0.0.1")
    r = clrp(clrp_bin, "merge", out, part, old)
    assert r.returncode == 2 and f"cannot merge {part} and {old}: attribute clrp_version differs" in r.stderr, r.stderr
    r = clrp(clrp_bin, "merge", out, old)
    assert r.returncode == 2 and "the store was written by clrp 0.0.1" in r.stderr, r.stderr
    r = clrp(clrp_bin, "merge", out, part, tmp_path / "spec.toml")
    assert r.returncode == 2 and "spec.toml" in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob("out.h5.tmp-*"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_merge_leaves_inputs_and_no_output(sweep, clrp_bin, tmp_path, sig):
    parts = sweep["parts"]
    before = [sha256(p) for p in parts]
    out = tmp_path / "merged.h5"
    env = dict(os.environ, **MPI_ENV, CLRP_TEST_MERGE_DELAY_MS="5000")
    proc = subprocess.Popen([str(clrp_bin), "merge", str(out), *map(str, parts)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # "merge: table ..." once the first table is copied
    assert first.startswith("merge: table"), first + proc.stderr.read()
    assert list(tmp_path.glob("merged.h5.tmp-*")), "no temporary output while merging"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert [sha256(p) for p in parts] == before
    assert not out.exists()
    left = list(tmp_path.glob("merged.h5.tmp-*"))
    if sig == signal.SIGTERM:  # cleaned up, and "run again" like a stopped campaign
        assert proc.returncode == 75
        assert not left
    else:  # SIGKILL: the temporary file stays, named by host and pid
        assert [p.name for p in left] == [f"merged.h5.tmp-{socket.gethostname()}-{proc.pid}"]
    # A temporary file of this host whose process lives is never touched.
    alive = tmp_path / f"merged.h5.tmp-{socket.gethostname()}-{os.getpid()}"
    alive.write_bytes(b"a merge in progress")
    # A second merge then succeeds, and removes the killed merge's leftover, saying so.
    r = subprocess.run([str(clrp_bin), "merge", str(out), *map(str, parts)], env=dict(os.environ, **MPI_ENV),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert sorted(tmp_path.glob("merged.h5.tmp-*")) == [alive]
    assert all(f"removed {p}" in r.stdout for p in left), r.stdout
    assert_same(read_store(sweep["whole"]), read_store(out))
