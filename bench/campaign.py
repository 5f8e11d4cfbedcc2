"""Campaign throughput: `clrp run` on 1 and 2 (or more) ranks, same failure file and model.

    .venv/bin/python bench/campaign.py --failures out/demo/failures.jsonl [--ranks 1 2] [--model default]

Writes a spec per rank count into a temporary folder, runs `mpirun -n N clrp run`
(torch threads: cores / ranks, the runner's default), and prints a Markdown
table: cases, wall seconds, cases/s, and the store's write share (seconds inside
collective appends and commits over all ranks' wall time, as the run reports it).
The first run pays for the page cache of the model file; pass --warmup to run once before.

    .venv/bin/python bench/campaign.py --failures F --memory 8 [--ranks 2]

Memory per rank as the case count grows 10×: the failure file's cases repeated
(ids suffixed `#k`) to 8 and to 80 cases, one run each, and every rank's peak
resident memory (getrusage, from the `done:` line of its log) printed per run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def peak_rss_mib(log_dir: pathlib.Path) -> list[float]:
    """Every rank's peak RSS in MiB, in rank order (the runner logs it at the end)."""
    out = []
    for log in sorted(log_dir.glob("rank-*.log"), key=lambda p: int(p.stem.split("-")[1])):
        m = re.search(r"peak rss (\d+) KiB", log.read_text())
        out.append(int(m[1]) / 1024 if m else float("nan"))
    return out


def repeat_cases(src: pathlib.Path, n: int, dst: pathlib.Path) -> None:
    """`n` cases: the file's lines over and over, each copy with its own id."""
    lines = [l for l in src.read_text().splitlines() if l.strip()]
    out = []
    for i in range(n):
        case = json.loads(lines[i % len(lines)])
        case["id"] = f"{case['id']}#{i // len(lines)}"
        out.append(json.dumps(case))
    dst.write_text("\n".join(out) + "\n")


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
    ap.add_argument("--memory", type=int, default=0, metavar="N",
                    help="peak RSS per rank at N and 10N cases instead of throughput")
    ap.add_argument("--deletion", type=int, default=0, help="record.deletion_max_tokens")
    ap.add_argument("--clrp", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")
    a = ap.parse_args()
    rules = ", ".join(f'"{r}"' for r in a.rules.split(","))
    if a.memory:
        memory(a, rules)
        return
    print("| ranks | cases | failed | wall s | cases/s | store write share |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, n in enumerate(([a.ranks[0]] if a.warmup else []) + a.ranks):
            spec = pathlib.Path(tmp) / f"spec{i}.toml"
            write_spec(spec, f"store{i}.h5", rules, a.model, a.failures.resolve(), a.limit, a.deletion)
            r = run(a.clrp, n, spec)
            if a.warmup and i == 0:
                continue
            print(f"| {n} | {r['cases']} | {r['failed']} | {r['wall']:.1f} | {r['rate']:.3f} | {r['write']:.1f}% |")


def memory(a, rules: str) -> None:
    ranks = a.ranks[-1]
    print("| cases | ranks | wall s | cases/s | peak RSS per rank (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (a.memory, 10 * a.memory):
            cases = pathlib.Path(tmp) / f"cases{n}.jsonl"
            repeat_cases(a.failures, n, cases)
            spec = pathlib.Path(tmp) / f"spec{n}.toml"
            write_spec(spec, f"store{n}.h5", rules, a.model, cases, 0, a.deletion)
            r = run(a.clrp, ranks, spec)
            rss = peak_rss_mib(pathlib.Path(tmp) / f"store{n}.h5.logs")
            print(f"| {r['cases']} | {ranks} | {r['wall']:.1f} | {r['rate']:.3f} | "
                  f"{', '.join(f'{x:.0f}' for x in rss)} |")


def write_spec(spec: pathlib.Path, store: str, rules: str, model: str, failures: pathlib.Path, limit: int,
               deletion: int) -> None:
    spec.write_text(f"""name = "bench"
store = "{store}"
rules = [{rules}]
[record]
residual = true
heads = true
neurons = 8
deletion_max_tokens = {deletion}
[layout]
batch_cases = 1
commit_seconds = 30
[[models]]
name = "m"
path = "{model if model == 'default' else pathlib.Path(model).resolve()}"
[[cases]]
path = "{failures}"
limit = {limit}
""")


if __name__ == "__main__":
    main()
