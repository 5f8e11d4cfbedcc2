"""The scripts in slurm/ on a real Slurm on localhost (slurmctld, munged and two slurmd,
i.e. two nodes on one host): a 2-rank campaign with sbatch, on one node and across both; a checkpoint sweep as a job array followed by
the dependent `clrp merge`, whose store equals the one-job store; a job preempted with
SIGTERM (delivered to the batch shell as --signal=B:TERM does) that requeues itself,
resumes and completes with every case exactly once."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import time

import numpy as np
import pytest

from campaign_fixtures import write_sweep_spec
from test_campaign import assert_same, read_aggregates, read_store
from tiny_models import make_llama

REPO = pathlib.Path(__file__).resolve().parents[2]
SLURM = REPO / "slurm"
DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


def job_env(slurm, clrp_bin, **extra):
    # One torch thread per rank everywhere: stores of 1- and 2-rank jobs then agree to
    # float rounding (other thread counts sum in another order).
    return dict(slurm, CLRP=str(clrp_bin), CLRP_SLURM_SCRIPTS=str(SLURM), CLRP_THREADS="1", **extra)


def sbatch(env, *args) -> str:
    r = subprocess.run(["sbatch", "--parsable", *map(str, args)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split(";")[0]


def jobs(env, jid: str) -> list[dict]:
    """Every record of a job (one per array task) as key=value fields."""
    r = subprocess.run(["scontrol", "show", "job", "-o", jid], env=env, capture_output=True, text=True)
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in r.stdout.splitlines() if line.strip()]


def wait(env, jid: str, timeout=600, on_pending=None, restarts=0) -> list[dict]:
    """Polls until every record of the job is in a final state, after at least `restarts`
    requeues (a requeueing job passes through states that look final for a moment)."""
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        recs = jobs(env, jid)
        states = [(j["JobState"], j.get("Restarts", "0")) for j in recs]
        if not seen or seen[-1] != states:
            seen.append(states)
        if recs and all(j["JobState"] in DONE and int(j.get("Restarts", "0")) >= restarts for j in recs):
            return recs
        for j in recs:
            if on_pending and j["JobState"] == "PENDING":
                on_pending(j)
        time.sleep(0.5)
    raise AssertionError(f"job {jid} not done in {timeout} s: states seen {seen}")


def releaser(env, jid: str):
    """A requeued job is eligible again only ~2 min later; release it sooner, but not before
    its previous run has been cleaned up on the node (released at once, the new launch
    was refused: "Killing non-startable batch job: Job credential revoked")."""
    since = {}

    def release(job):
        if job.get("Restarts", "0") == "0":
            return
        since.setdefault(job["Restarts"], time.time())
        if time.time() - since[job["Restarts"]] >= 8:
            subprocess.run(["scontrol", "update", f"JobId={jid}", "StartTime=now"], env=env)
    return release


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_model, failures):
    d = tmp_path_factory.mktemp("slurm")
    spec = write_sweep_spec(d / "spec.toml", {"step1": tiny_model, "step2": make_llama("llama_mha_tied")},
                            failures, store="one-job.h5", limit=6)
    return d, spec


@pytest.fixture(scope="module")
def one_job(slurm, clrp_bin, sweep):
    """The whole sweep as one 2-rank job (sbatch slurm/campaign.sbatch)."""
    d, spec = sweep
    env = job_env(slurm, clrp_bin)
    jid = sbatch(env, "-N", "1", "-n", "2", "-o", d / "one-job.out", SLURM / "campaign.sbatch", spec)
    [rec] = wait(env, jid)
    log = (d / "one-job.out").read_text()
    assert rec["JobState"] == "COMPLETED" and rec["ExitCode"] == "0:0", log
    return d / "one-job.h5", log


def test_two_rank_campaign_with_sbatch(one_job):
    store, log = one_job
    assert "2 ranks" in log and "complete" in log, log
    data = read_store(store)
    assert len(data) == 6 * 2  # 6 pairs under 2 checkpoints
    # Both ranks explained cases (so srun --mpi=pmix really started two MPI ranks).
    import h5py
    with h5py.File(store) as f:
        ranks = {int(r) for m in f["runs"].values() for c in m.values() for g in c.values()
                 for r in g["cases"]["rank"][:int(g.attrs["committed_rows"])]}
    assert ranks == {0, 1}, ranks


def test_campaign_across_two_nodes(slurm, clrp_bin, sweep, one_job, tmp_path):
    """-N 2: one rank per node, wired up by srun --mpi=pmix across the two slurmd."""
    _, spec = sweep
    env = job_env(slurm, clrp_bin)
    store, log = tmp_path / "two-nodes.h5", tmp_path / "job.out"
    jid = sbatch(env, "-N", "2", "--ntasks-per-node=1", "-o", log, SLURM / "campaign.sbatch", spec, "--store", store)
    [rec] = wait(env, jid)
    text = log.read_text()
    assert rec["JobState"] == "COMPLETED" and rec["NodeList"] == "n[1-2]", text
    assert "on 2 node(s), 2 ranks" in text and "complete" in text, text
    assert_same(read_store(one_job[0]), read_store(store))


def test_sweep_array_then_dependent_merge(slurm, clrp_bin, sweep, one_job):
    d, spec = sweep
    env = job_env(slurm, clrp_bin)
    out = d / "merged.h5"
    r = subprocess.run(["bash", str(SLURM / "submit_sweep.sh"), str(spec), str(d / "tasks"), str(out), "-n", "1",
                        "-o", str(d / "sweep-%x-%j.out")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    array, merge = r.stdout.split()
    # The merge waits on the array (afterok).
    assert jobs(env, merge)[0].get("Dependency", "").startswith(f"afterok:{array}")
    tasks = wait(env, array)
    assert len(tasks) == 2 and all(t["JobState"] == "COMPLETED" for t in tasks), tasks
    [m] = wait(env, merge)
    logs = "".join(p.read_text() for p in d.glob("sweep-*.out"))
    assert m["JobState"] == "COMPLETED", logs
    assert sorted(p.name for p in (d / "tasks").glob("*.h5")) == ["step1.h5", "step2.h5"]
    whole, _ = one_job
    assert_same(read_store(whole), read_store(out))
    a, b = read_aggregates(whole), read_aggregates(out)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


def test_preempted_job_requeues_and_resumes(slurm, clrp_bin, sweep, one_job, tmp_path):
    _, spec = sweep
    store = tmp_path / "preempted.h5"
    log = tmp_path / "job.out"
    # Slow cases (test hook) so that the signal lands mid-run.
    env = job_env(slurm, clrp_bin, CLRP_TEST_CASE_DELAY_MS="700")
    jid = sbatch(env, "-n", "2", "-o", log, SLURM / "campaign.sbatch", spec, "--store", store)
    logs = pathlib.Path(str(store) + ".logs")
    deadline = time.time() + 300
    while time.time() < deadline:
        if sum(p.read_text().count(" case ") for p in logs.glob("rank-*.log")) >= 3:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(log.read_text() if log.exists() else "job did not start")
    # What --signal=B:TERM@N does near the time limit: SIGTERM to the batch shell only.
    subprocess.run(["scancel", "--batch", "--signal=TERM", jid], env=env, check=True)

    [rec] = wait(env, jid, on_pending=releaser(env, jid), restarts=1)
    text = log.read_text()
    assert rec["JobState"] == "COMPLETED" and rec["Restarts"] == "1", text
    assert "SIGTERM: stopping" in text and "requeueing" in text and "(restart 1)" in text, text
    assert "stopped early: run again with --resume" in text, text
    m = re.search(r"\((\d+) committed before\)", text.split("(restart 1)")[1])
    assert m and int(m.group(1)) > 0, text  # the rerun continued, it did not start over
    assert_same(read_store(one_job[0]), read_store(store))  # read_store fails on a case stored twice


def test_time_limit_signal_requeues_and_resumes(slurm, clrp_bin, sweep, one_job, tmp_path):
    """The real thing: --time=3 with --signal=B:TERM@150, so Slurm itself signals the batch
    shell about 30 s in (its timer is coarse: up to a minute late). Only the first run is slow
    (a wrapper sets the test hook when SLURM_RESTART_COUNT is unset), so the rerun
    finishes well inside its own time limit."""
    _, spec = sweep
    wrapper = tmp_path / "clrp.sh"
    wrapper.write_text(f"""#!/usr/bin/env bash
[[ -z "${{SLURM_RESTART_COUNT:-}}" || "$SLURM_RESTART_COUNT" == 0 ]] && export CLRP_TEST_CASE_DELAY_MS=20000
exec {clrp_bin} "$@"
""")
    wrapper.chmod(0o755)
    store, log = tmp_path / "limited.h5", tmp_path / "job.out"
    env = job_env(slurm, wrapper)
    jid = sbatch(env, "-n", "2", "--time=3", "--signal=B:TERM@150", "-o", log, SLURM / "campaign.sbatch", spec,
                 "--store", store)

    [rec] = wait(env, jid, timeout=400, on_pending=releaser(env, jid), restarts=1)
    text = log.read_text()
    # A rerun may be signalled again (seen: right as it starts): it then requeues once more.
    assert rec["JobState"] == "COMPLETED" and int(rec["Restarts"]) >= 1, text
    assert "SIGTERM: stopping" in text and "requeueing" in text and "(restart 1)" in text, text
    assert "TIMEOUT" not in text and "DUE TO TIME LIMIT" not in text, text
    assert_same(read_store(one_job[0]), read_store(store))
