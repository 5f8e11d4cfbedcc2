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

    .venv/bin/python bench/campaign.py --failures F --checksums 80 [--ranks 1]

What the store's checksums cost (docs/store.md, "Checksums"): one run over N cases (repeated as
above); the seconds every rank spent hashing what it appended (its `done:` line) against its store
writes and the run's wall time; then, on the finished store, the median of 5 `clrp inspect`
verifications (C++) and of 5 numpy verifications (analysis/clrp_report/verify.py), with the
store's size and the verifications' throughput.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

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
    ap.add_argument("--checksums", type=int, default=0, metavar="N",
                    help="what the store's checksums cost, on a run of N cases")
    ap.add_argument("--clrp", type=pathlib.Path,
                    default=pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")
    a = ap.parse_args()
    rules = ", ".join(f'"{r}"' for r in a.rules.split(","))
    if a.memory:
        memory(a, rules)
        return
    if a.checksums:
        checksums(a, rules)
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


def checksums(a, rules: str) -> None:
    sys.path.insert(0, str(REPO / "analysis"))
    from clrp_report.verify import verify_store
    ranks = a.ranks[-1]
    with tempfile.TemporaryDirectory() as tmp:
        cases = pathlib.Path(tmp) / "cases.jsonl"
        repeat_cases(a.failures, a.checksums, cases)
        spec = pathlib.Path(tmp) / "spec.toml"
        write_spec(spec, "store.h5", rules, a.model, cases, 0, a.deletion)
        r = run(a.clrp, ranks, spec)
        store = pathlib.Path(tmp) / "store.h5"
        hashing = writes = 0.0
        for log in (pathlib.Path(tmp) / "store.h5.logs").glob("rank-*.log"):
            m = re.search(r"store writes ([\d.e+-]+) s \(checksums ([\d.e+-]+) s\)", log.read_text())
            writes, hashing = writes + float(m[1]), hashing + float(m[2])
        cpp, py = [], []
        for _ in range(5):
            out = subprocess.run([str(a.clrp), "inspect", "--json", str(store)], capture_output=True, text=True,
                                 check=True).stdout
            cpp.append(json.loads(out)["verify_seconds"])
            t0 = time.perf_counter()
            assert verify_store(str(store)) == []
            py.append(time.perf_counter() - t0)
        mib = store.stat().st_blocks * 512 / 2**20  # allocated bytes (the file is sparse)
        c, p = statistics.median(cpp), statistics.median(py)
        print("| cases | ranks | wall s | store writes s (all ranks) | hashing s (all ranks) | hashing / wall "
              "| store MiB | inspect verify s (MiB/s) | numpy verify s (MiB/s) |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| {r['cases']} | {ranks} | {r['wall']:.1f} | {writes:.3f} | {hashing:.4f} | "
              f"{100 * hashing / (ranks * r['wall']):.5f}% | {mib:.1f} | {c:.3f} ({mib / c:.0f}) | "
              f"{p:.3f} ({mib / p:.0f}) |")


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
