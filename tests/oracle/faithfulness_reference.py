"""An independent implementation of docs/faithfulness.md, for comparison with `clrp explain --faithfulness`
(and the campaign's `[faithfulness]` table).

Written from the document alone, not from src/lrp/faithfulness.cpp: the removable tokens, the three orders
(most-, least-relevant-first, random from SplitMix64 over FNV-1a), the step grid, the two removal operators,
the curves of Δℓ = logit(wrong) − logit(correct) at the last position, the areas, the tokens to flip, and
the per-table aggregates with their percentile bootstrap. Every removed input goes through a transformers
forward pass (fp32 model, float64 arithmetic on its fp32 logits):

    delete  the removed tokens leave the sequence (input_ids without them; later positions close up)
    zero    input_ids kept; the rows of model.get_input_embeddings()(ids) of the removed tokens become zeros
            and the model runs on inputs_embeds. For Gemma-3 that module already applies the embedding scale
            (0 · scale = 0); GPT-2 adds its learned position embedding afterwards, so the position stays.

Usage: faithfulness(model, ids, [relevance], wrong, correct, delta0, special_ids=...) -> Faithfulness.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import torch

MASK = (1 << 64) - 1
PHI = 0x9E3779B97F4A7C15
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3

OPERATORS = ("delete", "zero")
SINGLE_TOKENS = 5
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RESAMPLES = 1000


# --- Hashes -----------------------------------------------------------------------------------------

def splitmix64(x: int) -> int:
    """SplitMix64's finaliser applied to x + φ (mod 2^64): splitmix64(0) is SplitMix64's first output
    for seed 0, 0xe220a8397b1dcdaf."""
    z = (x + PHI) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def splitmix64_np(x: np.ndarray) -> np.ndarray:
    """splitmix64 over a uint64 array (numpy's uint64 arithmetic wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(PHI)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fnv1a64(data: str | bytes) -> int:
    """64-bit FNV-1a over the UTF-8 bytes of data."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK
    return h


# --- Orders and steps ----------------------------------------------------------------------------------

def removable(ids: Sequence[int], special_ids=()) -> list[int]:
    """The candidates: every position but the last whose token is not a special token."""
    special = set(int(s) for s in special_ids)
    return [p for p in range(len(ids) - 1) if int(ids[p]) not in special]


def most_relevant_first(relevance: Sequence[float], candidates: Sequence[int]) -> list[int]:
    """Candidates by relevance descending, ties to the earlier token."""
    return sorted(candidates, key=lambda p: (-float(relevance[p]), p))


def least_relevant_first(relevance: Sequence[float], candidates: Sequence[int]) -> list[int]:
    """Candidates by relevance ascending, ties to the earlier token."""
    return sorted(candidates, key=lambda p: (float(relevance[p]), p))


def random_order(case_id: str, candidates: Sequence[int], seed: int) -> list[int]:
    """Candidates by splitmix64(fnv1a64(case_id) ^ p ^ seed·φ) ascending, ties to the earlier token
    (p: the token's position in the sequence)."""
    base = fnv1a64(case_id) ^ ((int(seed) * PHI) & MASK)
    return sorted(candidates, key=lambda p: (splitmix64(base ^ int(p)), p))


def removal_steps(single_tokens: int, fractions: Sequence[float], n: int) -> list[int]:
    """k per step: 0; min(j, N) for j = 1..K; ⌈f·N − 1e-9⌉ clipped to [0, N] per fraction."""
    steps = [0] + [min(j, n) for j in range(1, single_tokens + 1)]
    for f in fractions:
        steps.append(min(max(math.ceil(f * n - 1e-9), 0), n))
    return steps


def curve_names(rules: Sequence[str]) -> list[str]:
    """The C = 2R + 1 curves in order, with the names `clrp explain --json` gives them."""
    names = []
    for r in rules:
        names += [f"{r} most-relevant-first", f"{r} least-relevant-first"]
    return names + ["random"]


# --- Forward passes ----------------------------------------------------------------------------------

def removed_input(ids: Sequence[int], removed: Sequence[int], operator: str) -> tuple:
    """A hashable description of the input after removing the positions `removed`:
    ("delete", kept ids) or ("zero", ids, sorted zeroed positions)."""
    gone = set(removed)
    if operator == "delete":
        return ("delete", tuple(int(t) for p, t in enumerate(ids) if p not in gone))
    if operator == "zero":
        return ("zero", tuple(int(t) for t in ids), tuple(sorted(gone)))
    raise ValueError(f"unknown removal operator {operator!r}")


@torch.inference_mode()
def delta_of(model, inputs: Sequence[tuple], wrong: int, correct: int, batch: int = 32) -> dict[tuple, float]:
    """Δℓ = logits[-1, wrong] − logits[-1, correct] (float64 of the fp32 logits) of each removed input,
    batched by length (no padding)."""
    out: dict[tuple, float] = {}
    groups: dict[tuple, list[tuple]] = {}
    for key in dict.fromkeys(inputs):
        groups.setdefault((key[0], len(key[1])), []).append(key)
    emb = model.get_input_embeddings()
    for (operator, _), keys in groups.items():
        for start in range(0, len(keys), batch):
            chunk = keys[start:start + batch]
            ids = torch.tensor([list(k[1]) for k in chunk], dtype=torch.long)
            if operator == "delete":
                logits = model(input_ids=ids).logits
            else:
                embeds = emb(ids).clone()
                for b, k in enumerate(chunk):
                    if k[2]:
                        embeds[b, list(k[2])] = 0
                logits = model(inputs_embeds=embeds).logits
            last = logits[:, -1].to(torch.float32).double()
            for b, k in enumerate(chunk):
                out[k] = float(last[b, wrong] - last[b, correct])
    return out


# --- Areas and flips ---------------------------------------------------------------------------------

def area_between(upper: Sequence[float], lower: Sequence[float], steps: Sequence[int], n: int,
                 delta0: float) -> float:
    """∫ (upper − lower) dx / |Δℓ| over x = k / N, trapezoids between consecutive distinct k (sorted);
    NaN when N = 0 or Δℓ = 0."""
    if n == 0 or delta0 == 0:
        return math.nan
    points: dict[int, float] = {}
    for k, a, b in zip(steps, upper, lower):
        points.setdefault(int(k), float(a) - float(b))
    ks = sorted(points)
    total = 0.0
    for k0, k1 in zip(ks, ks[1:]):
        total += (k1 - k0) / n * (points[k0] + points[k1]) / 2
    return total / abs(delta0)


def tokens_to_flip(curve: Sequence[float], single_tokens: int) -> int:
    """0 when Δℓ ≤ 0 at step 0; else the first single-token step j ≤ K with Δℓ ≤ 0; −1 when none."""
    if curve[0] <= 0:
        return 0
    for j in range(1, single_tokens + 1):
        if curve[j] <= 0:
            return j
    return -1


def areas_and_flips(curves: np.ndarray, steps: Sequence[int], n: int, delta0: float, single_tokens: int):
    """From curves [O, C, S]: areas [O, R, 2] (least_minus_most, random_minus_most) and flips [O, R + 1]
    (each rule's most-relevant-first order, then random)."""
    n_ops, n_curves, _ = curves.shape
    n_rules = (n_curves - 1) // 2
    area = np.full((n_ops, n_rules, 2), np.nan)
    flip = np.zeros((n_ops, n_rules + 1), dtype=np.int64)
    for o in range(n_ops):
        rnd = curves[o, -1]
        for r in range(n_rules):
            most, least = curves[o, 2 * r], curves[o, 2 * r + 1]
            area[o, r, 0] = area_between(least, most, steps, n, delta0)
            area[o, r, 1] = area_between(rnd, most, steps, n, delta0)
            flip[o, r] = tokens_to_flip(most, single_tokens)
        flip[o, n_rules] = tokens_to_flip(rnd, single_tokens)
    return area, flip


# --- One case ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class Faithfulness:
    candidates: int
    steps: list[int]
    curves: np.ndarray          # [O, C, S] float64
    area: np.ndarray            # [O, R, 2]
    flip: np.ndarray            # [O, R + 1]
    orders: list[list[int]]     # the C orders (positions), most/least per rule, then random
    forwards: int               # distinct removed inputs evaluated (k > 0)


def faithfulness(model, ids: Sequence[int], relevances: Sequence[Sequence[float]], wrong: int, correct: int,
                 delta0: float, *, special_ids=(), operators: Sequence[str] = OPERATORS,
                 single_tokens: int = SINGLE_TOKENS, fractions: Sequence[float] = FRACTIONS, seed: int = 0,
                 case_id: str = "") -> Faithfulness:
    """The curves, areas and flips of one case. relevances: R token-relevance vectors (one per rule) over
    the T positions of ids; delta0: the explanation's Δℓ (step 0 and every k = 0 step)."""
    cands = removable(ids, special_ids)
    n = len(cands)
    steps = removal_steps(single_tokens, fractions, n)
    orders = []
    for rel in relevances:
        orders += [most_relevant_first(rel, cands), least_relevant_first(rel, cands)]
    orders.append(random_order(case_id, cands, seed))

    keys = [[[removed_input(ids, order[:k], op) if k > 0 else None for k in steps] for order in orders]
            for op in operators]
    wanted = [key for per_op in keys for per_order in per_op for key in per_order if key is not None]
    deltas = delta_of(model, wanted, wrong, correct)
    curves = np.array([[[delta0 if key is None else deltas[key] for key in per_order] for per_order in per_op]
                       for per_op in keys], dtype=np.float64).reshape(len(operators), len(orders), len(steps))
    area, flip = areas_and_flips(curves, steps, n, delta0, single_tokens)
    return Faithfulness(n, steps, curves, area, flip, orders, len(deltas))


# --- Aggregates --------------------------------------------------------------------------------------

def bootstrap_interval(values: Sequence[float], seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap of the mean: resample b takes, for i = 0..n−1, the value at
    splitmix64(seed·φ + b·n + i) mod n; the 26th and 975th (of 1,000) sorted resample means.
    (NaN, NaN) for no values."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return math.nan, math.nan
    base = (int(seed) * PHI) & MASK
    b = np.arange(RESAMPLES, dtype=np.uint64)[:, None]
    i = np.arange(n, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        x = np.uint64(base) + b * np.uint64(n) + i
    index = (splitmix64_np(x) % np.uint64(n)).astype(np.int64)
    means = np.sort(v[index].mean(axis=1))
    return float(means[25]), float(means[974])


def _summary(values: np.ndarray, seed: int) -> list[float]:
    if len(values) == 0:
        return [0.0, math.nan, math.nan, math.nan]
    lo, hi = bootstrap_interval(values, seed)
    return [float(len(values)), float(np.mean(values)), lo, hi]


def faithfulness_aggregates(delta: np.ndarray, area: np.ndarray, flip: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The table's aggregates from its cases' arrays: delta [cases, O, C, S], area [cases, O, R, 2],
    flip [cases, O, R + 1]. Returns
        faithfulness_area [O, R, 2, 4]: failures (Δℓ > 0) with a finite area, mean, bootstrap interval (lo, hi);
        faithfulness_rule_difference [O, R, R, 4]: least_minus_most of rule a − rule b, paired over the
            failures where both are finite;
        faithfulness_flip [O, R + 1, 3]: cases with Δℓ > 0, share of them flipped (tokens to flip > 0),
            mean tokens to flip among the flipped;
        faithfulness_curve [O, C, S]: mean over cases with Δℓ > 0 of Δℓ_k / Δℓ.
    No case: count 0 and NaN."""
    delta, area, flip = (np.asarray(a) for a in (delta, area, flip))
    n_ops, n_rules = area.shape[1], area.shape[2]
    out_area = np.zeros((n_ops, n_rules, 2, 4))
    out_diff = np.zeros((n_ops, n_rules, n_rules, 4))
    out_flip = np.zeros((n_ops, n_rules + 1, 3))
    out_curve = np.full(delta.shape[1:], np.nan)
    for o in range(n_ops):
        d0 = delta[:, o, 0, 0].astype(np.float64)
        positive = d0 > 0  # areas are over the failures
        for r in range(n_rules):
            for a in range(2):
                v = area[positive, o, r, a].astype(np.float64)
                out_area[o, r, a] = _summary(v[np.isfinite(v)], seed)
        for ra in range(n_rules):
            for rb in range(n_rules):
                x, y = area[positive, o, ra, 0].astype(np.float64), area[positive, o, rb, 0].astype(np.float64)
                both = np.isfinite(x) & np.isfinite(y)
                out_diff[o, ra, rb] = _summary(x[both] - y[both], seed)
        npos = int(positive.sum())
        for c in range(n_rules + 1):
            f = flip[positive, o, c]
            flipped = f[f > 0]
            out_flip[o, c] = [npos, len(flipped) / npos if npos else math.nan,
                              float(np.mean(flipped)) if len(flipped) else math.nan]
        if npos:
            out_curve[o] = (delta[positive, o].astype(np.float64) / d0[positive, None, None]).mean(axis=0)
    return {"faithfulness_area": out_area, "faithfulness_rule_difference": out_diff,
            "faithfulness_flip": out_flip, "faithfulness_curve": out_curve}
