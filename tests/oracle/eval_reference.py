"""An independent evaluation with transformers, for comparison with `clrp evaluate`.

The model is the same GGUF file, loaded by transformers (gguf_file=...). The
tokens are clrp's: transformers' GGUF tokenizer for SmolLM2 drops the digit
split clrp (and llama.cpp) apply, so the prompts and continuations are fed as
the token ids clrp recorded (`clrp evaluate --records R --record-ids`). What is
compared is everything after tokenisation: the forward pass, the scoring of
each formulation, the decision, and greedy decoding with transformers' own KV
cache.

    mc_letter   argmax of the last position's logits over the option letters' tokens
    mc_cloze    Σ log p(continuation tokens | context), each option run as its own
                full sequence context + continuation; also Σ / characters (per-char)
    generative  greedy decoding, n tokens, transformers' DynamicCache

Usable as a module (the oracle tests) and as a script (bench/evaluate.py).
"""
from __future__ import annotations

import json
import pathlib
import time

import torch
import transformers


def load_gguf_model(path: pathlib.Path) -> transformers.PreTrainedModel:
    """The GGUF model dequantised by transformers, float32, eager attention off the table:
    sdpa is transformers' default and what clrp's forward follows."""
    path = pathlib.Path(path)
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()


def read_jsonl(path: pathlib.Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@torch.inference_mode()
def last_logits(model, ids: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([ids])).logits[0, -1].float()


@torch.inference_mode()
def letter_prediction(model, prompt_ids: list[int], letter_ids: list[int]) -> tuple[int, list[float]]:
    logits = last_logits(model, prompt_ids)
    scores = [float(logits[i]) for i in letter_ids]
    return max(range(len(scores)), key=lambda i: scores[i]), scores


@torch.inference_mode()
def continuation_logprob(model, context_ids: list[int], cont_ids: list[int]) -> float:
    whole = torch.tensor([context_ids + cont_ids])
    logits = model(input_ids=whole).logits[0].float()
    logp = torch.log_softmax(logits[len(context_ids) - 1:-1], dim=-1)
    return float(logp[torch.arange(len(cont_ids)), torch.tensor(cont_ids)].double().sum())


def cloze_prediction(model, prompt_ids: list[int], continuations: list[dict],
                     texts: list[str]) -> dict:
    """continuations: [{"context": n, "ids": [...]}] as clrp split them; texts: the continuation strings."""
    sums = [continuation_logprob(model, prompt_ids[:c["context"]], c["ids"]) for c in continuations]
    per_char = [s / max(1, len(t)) for s, t in zip(sums, texts)]
    return {"sum": sums, "per_char": per_char,
            "predicted_sum": max(range(len(sums)), key=lambda i: sums[i]),
            "predicted_per_char": max(range(len(per_char)), key=lambda i: per_char[i])}


@torch.inference_mode()
def greedy(model, prompt_ids: list[int], n: int, eos: int | None = None) -> dict:
    """n greedy tokens (fewer if eos comes), with transformers' own KV cache; also the margin
    between the top two logits at each step (near-ties explain rare differences)."""
    cache = transformers.DynamicCache()
    out = model(input_ids=torch.tensor([prompt_ids]), past_key_values=cache, use_cache=True)
    tokens, margins = [], []
    for _ in range(n):
        logits = out.logits[0, -1].float()
        top2 = torch.topk(logits, 2)
        token = int(top2.indices[0])
        tokens.append(token)
        margins.append(float(top2.values[0] - top2.values[1]))
        if eos is not None and token == eos:
            break
        out = model(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
    return {"tokens": tokens, "margins": margins}


def compare(model, records: list[dict], cases: dict[str, dict], generate_tokens: int = 24) -> dict:
    """Runs the reference on every record and lists where it disagrees with clrp."""
    result = {"mc_letter": [0, []], "mc_cloze": [0, []], "mc_cloze_per_char": [0, []],
              "generative": [0, []], "seconds": {}}
    for r in records:
        fmt = r.get("format")
        case = cases[r["id"]]
        t0 = time.perf_counter()
        if fmt == "mc_letter":
            pred, scores = letter_prediction(model, r["prompt_ids"], r["letter_ids"])
            result["mc_letter"][0] += 1
            if pred != r["predicted"]:
                result["mc_letter"][1].append({"id": r["id"], "clrp": r["predicted"], "reference": pred,
                                               "clrp_logits": r["letter_logits"], "reference_logits": scores})
        elif fmt == "mc_cloze":
            ref = cloze_prediction(model, r["prompt_ids"], r["continuations"], case["gold"]["continuations"])
            result["mc_cloze"][0] += 1
            result["mc_cloze_per_char"][0] += 1
            if ref["predicted_sum"] != r["predicted_sum"]:
                result["mc_cloze"][1].append({"id": r["id"], "clrp": r["logprobs"], "reference": ref["sum"]})
            if ref["predicted_per_char"] != r["predicted_per_char"]:
                result["mc_cloze_per_char"][1].append(
                    {"id": r["id"], "clrp": r["logprobs_per_char"], "reference": ref["per_char"]})
        elif fmt in ("generative", "code"):
            got = r["generated"]
            ref = greedy(model, r["prompt_ids"], len(got))
            result["generative"][0] += 1
            if ref["tokens"] != got:
                i = next(i for i, (a, b) in enumerate(zip(got, ref["tokens"])) if a != b)
                result["generative"][1].append({"id": r["id"], "position": i, "clrp": got, "reference": ref["tokens"],
                                                "margin": ref["margins"][i]})
        result["seconds"][fmt] = result["seconds"].get(fmt, 0.0) + time.perf_counter() - t0
    return result
