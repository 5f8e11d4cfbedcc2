"""Faithfulness curves benchmark (issue 22): what docs/faithfulness.md's removal curves cost beside
the explanation they test, on the real 50-300-token benchmark pairs of bench/lrp_pairs.py (0-shot
ARC-Easy and SciQ lettered multiple choice, the model's letter against the gold one), SmolLM2-135M
from the shipped GGUF in fp32, one rule (AttnLRP), the default grid (both operators, 5 single
tokens, fractions 0.1 .. 1.0): about 3 × 15 × 2 removal inputs per case.

    .venv/bin/python bench/faithfulness.py [--pairs 12] [--threads 2] [--repeats 3]

clrp: `clrp bench faithfulness` — the explanations, then every case's curves with its removal
inputs packed into forward-only micro-batches of up to 4,096 tokens (as campaigns and `clrp explain
--faithfulness` run them), then with one forward per input; medians of --repeats, one process.
Reference: tests/oracle/faithfulness_reference.py, docs/faithfulness.md written independently in
Python, every removed input through transformers 4.57.6 (eager attention, inputs of equal length
batched up to 32), on the same cases with clrp's relevance deciding the orders. Prints one Markdown
row for docs/performance.md, with the largest curve difference between the two.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
sys.path.insert(0, str(REPO / "bench"))

from lrp_pairs import GGUF, clrp_bin, make_pairs  # noqa: E402


def reference_seconds(dump: list[dict], threads: int, repeats: int) -> tuple[float, float]:
    """Median seconds of the reference over every dumped case, and the largest |curve difference|."""
    import numpy as np
    import torch

    import faithfulness_reference as ref
    import lrp_reference
    torch.set_num_threads(threads)
    model = lrp_reference.load_model(str(GGUF.parent), gguf_file=GGUF.name)
    special = frozenset(range(17))  # SmolLM2's control tokens (tokenizer.ggml.token_type)
    times, worst = [], 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = [ref.faithfulness(model, c["ids"], [c["relevance"]], c["wrong"], c["correct"], c["delta"],
                                    special_ids=special, case_id=c["case_id"]) for c in dump]
        times.append(time.perf_counter() - t0)
    for c, r in zip(dump, results):
        clrp = np.asarray(c["curves"], dtype=float).reshape(r.curves.shape)
        worst = max(worst, float(np.abs(clrp - r.curves).max()))
    return statistics.median(times), worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        pairs = make_pairs(work, args.pairs, args.threads)
        lengths = [len(p["ids"]) for p in pairs]
        print(f"{len(pairs)} pairs, {sum(lengths)} tokens ({min(lengths)}-{max(lengths)} per pair)", flush=True)
        pairs_file, dump_file = work / "pairs.json", work / "dump.json"
        pairs_file.write_text(json.dumps(pairs))
        out = subprocess.run([clrp_bin(), "--threads", str(args.threads), "bench", "faithfulness", "--model",
                              str(GGUF), "--pairs", str(pairs_file), "--repeat", str(args.repeats), "--dump",
                              str(dump_file)], check=True, capture_output=True, text=True).stdout
        c = json.loads(out)
        ref_s, worst = reference_seconds(json.loads(dump_file.read_text()), args.threads, args.repeats)
        n = c["cases"]
        print("| cases | removal inputs | explanation | curves, packed | curves / explanation | curves, one "
              "forward each | packing gain | reference (transformers) | reference / clrp packed "
              "| max curve difference |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(f"| {n} | {c['forwards']} | {c['explain_seconds']:.1f} s | {c['faithfulness_packed_seconds']:.1f} s "
              f"| {c['packed_over_explain']:.1f}× | {c['faithfulness_one_at_a_time_seconds']:.1f} s "
              f"| {c['packing_speedup']:.2f}× | {ref_s:.1f} s | {ref_s / c['faithfulness_packed_seconds']:.2f}× "
              f"| {worst:.1e} |", flush=True)


if __name__ == "__main__":
    main()
