"""Runs C++ unit tests (clrp_unit_tests) that need models an oracle test builds: the paths go to them
as a colon-separated list in an environment variable, which the C++ side reads
(tests/unit/paths_from_env.hpp); without it those tests skip themselves, so here none may skip."""
from __future__ import annotations

import os
import subprocess

from conftest import build_dir


def run_unit_tests(gtest_filter: str, variable: str, paths: list, expected: int) -> None:
    """Runs clrp_unit_tests --gtest_filter=`gtest_filter` with `variable` naming `paths`; asserts that
    all `expected` tests ran and passed."""
    env = dict(os.environ, **{variable: ":".join(str(p) for p in paths)})
    r = subprocess.run([str(build_dir() / "tests" / "clrp_unit_tests"), f"--gtest_filter={gtest_filter}"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"[  PASSED  ] {expected} tests" in r.stdout, r.stdout[-2000:]
    assert "SKIPPED" not in r.stdout
