"""Campaign throughput: `clrp run` on 1 and 2 (or more) ranks, same failure file and model.

    .venv/bin/python bench/campaign.py --failures out/demo/failures.jsonl [--ranks 1 2] [--model default]

Writes a spec per rank count into a temporary folder, runs `mpirun -n N clrp run`
(torch threads: cores / ranks, the runner's default), and prints a Markdown
table: cases, wall seconds, cases/s, and the store's write share (seconds inside
collective appends and commits over all ranks' wall time, as the run reports it).
The first run pays for the page cache of the model file; pass --warmup to run once before.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def run(clrp: pathlib.Path, ranks: int, spec: pathlib.Path) -> dict:
    cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", str(clrp), "run", str(spec)]
    r = subprocess.run(cmd, env=dict(os.environ, **MPI_ENV), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stdout + r.stderr)
    m = re.search(r"(\d+) explained, (\d+) failed in ([\d.]+) s \(([\d.]+) cases/s\), store writes ([\d.]+)%",
                  r.stdout)
    if not m:
        raise SystemExit("unexpected output:\n" + r.stdout)
    return dict(cases=int(m[1]), failed=int(m[2]), wall=float(m[3]), rate=float(m[4]), write=float(m[5]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--failures", required=True, type=pathlib.Path)
    ap.add_argument("--model", default="default")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rules", default="attnlrp")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--warmup", action="store_true")
    ap.add_argument("--clrp", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")
    a = ap.parse_args()
    rules = ", ".join(f'"{r}"' for r in a.rules.split(","))
    print("| ranks | cases | failed | wall s | cases/s | store write share |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(([a.ranks[0]] if a.warmup else []) + a.ranks):
            spec = pathlib.Path(tmp) / f"spec{i}.toml"
            spec.write_text(f"""name = "bench"
store = "store{i}.h5"
rules = [{rules}]
[record]
residual = true
heads = true
neurons = 8
[layout]
batch_cases = 1
commit_seconds = 30
[[models]]
name = "m"
path = "{a.model if a.model == 'default' else pathlib.Path(a.model).resolve()}"
[[cases]]
path = "{a.failures.resolve()}"
limit = {a.limit}
""")
            r = run(a.clrp, n, spec)
            if a.warmup and i == 0:
                continue
            print(f"| {n} | {r['cases']} | {r['failed']} | {r['wall']:.1f} | {r['rate']:.3f} | {r['write']:.1f}% |")


if __name__ == "__main__":
    main()
