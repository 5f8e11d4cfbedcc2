"""Deterministic choices: which items (under --limit) and which few-shot examples.

Every choice uses its own random.Random seeded with a string (Python hashes str seeds
with SHA-512, independent of PYTHONHASHSEED), so the same seed and inputs give the same
files on every machine, and adding a benchmark does not change the others.
"""
from __future__ import annotations

import random


def select_items(n: int, limit: int | None, seed: int, benchmark: str) -> list[int]:
    """All item indices, or a seeded random subset of `limit` of them in data order."""
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(random.Random(f"{seed}/{benchmark}/items").sample(range(n), limit))


def fewshot_indices(pool_size: int, k: int, seed: int, key: str, exclude: int | None = None) -> list[int]:
    """`k` distinct pool indices for the item named `key`, never `exclude` (the item itself
    when the pool is the item's own split)."""
    if k <= 0:
        return []
    available = pool_size - (1 if exclude is not None and 0 <= exclude < pool_size else 0)
    if available < k:
        raise ValueError(f"{key}: {k} few-shot examples asked, the pool holds {available}")
    picked = random.Random(f"{seed}/{key}/fewshot").sample(range(pool_size), min(pool_size, k + 1))
    return [i for i in picked if i != exclude][:k]


def shuffled(items: list, seed: int, key: str) -> list:
    out = list(items)
    random.Random(f"{seed}/{key}/shuffle").shuffle(out)
    return out
