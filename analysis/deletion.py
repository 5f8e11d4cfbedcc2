"""Deletion test of a campaign store's explanations (docs/report.md):

    python analysis/deletion.py STORE [--k 1,3,5] [--repeats 3] [--out STORE.deletion.csv]

For every committed case and rule: Δℓ after deleting the k most relevant tokens,
and after deleting k random tokens (the baseline), from clrp's own forward pass
(clrp_forward_logits in $CLRP_BUILD_DIR, default build/). Writes one row per
case × method × k × repeat; analysis/report.py picks STORE.deletion.csv up.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from clrp_report.deletion import run_deletion  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--k", default="1,3,5", help="numbers of tokens deleted (comma list)")
    ap.add_argument("--repeats", type=int, default=3, help="random deletions per case and k")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="CSV to write (default: STORE.deletion.csv)")
    a = ap.parse_args()
    tool = pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp_forward_logits"
    df = run_deletion(a.store, str(tool), tuple(int(k) for k in a.k.split(",")), a.repeats, a.seed, a.threads)
    out = a.out or a.store + ".deletion.csv"
    df.to_csv(out, index=False)
    print(out)


if __name__ == "__main__":
    main()
