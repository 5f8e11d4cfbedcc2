"""Fixtures of the Slurm tests: a single-node Slurm on localhost
(scripts/slurm_cluster.sh), and the campaign fixtures of tests/oracle (the clrp
build, the tiny model, the hand-made failure file)."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
_spec = importlib.util.spec_from_file_location("oracle_conftest", REPO / "tests" / "oracle" / "conftest.py")
_oracle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_oracle)
clrp_bin, tiny_model, failures = _oracle.clrp_bin, _oracle.tiny_model, _oracle.failures

CLUSTER = REPO / "scripts" / "slurm_cluster.sh"


@pytest.fixture(scope="session")
def slurm():
    """Brings up a two-node cluster on this host (two slurmd, own ports and folder, so a
    cluster the user runs is left alone) and returns the environment for sbatch/scontrol;
    stops it afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the Slurm tests start slurmctld, slurmd and munged: they need root")
    env = dict(os.environ, CLRP_SLURM_DIR="/tmp/clrp-slurm-tests", CLRP_SLURM_NODES="2", CLRP_SLURM_CPUS="2",
               CLRP_SLURM_PORT="16817")
    r = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    env["SLURM_CONF"] = subprocess.run(["bash", str(CLUSTER), "conf"], env=env, capture_output=True,
                                       text=True).stdout.strip()
    yield env
    subprocess.run(["bash", str(CLUSTER), "stop"], env=env, timeout=120)
