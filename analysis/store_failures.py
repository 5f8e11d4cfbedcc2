"""Write the failures a campaign found as a failure file (docs/cases.md): each benchmark item
a model failed with a usable contrastive pair, as its case line with the pair added, ready for
`clrp explain --cases FILE --id ID` and `clrp graph --cases FILE --id ID`.

The items are read back from the benchmark files the campaign's spec names (stored in the
store), the pairs from the store's evaluation rows (docs/store.md, "Evaluations").

Examples:
  .venv/bin/python analysis/store_failures.py out/demo/store.h5 --out out/demo/failures.jsonl
  .venv/bin/python analysis/store_failures.py store.h5 --model qwen3 --checkpoint final --benchmark gsm8k --out f.jsonl
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clrp_report.load import read_store  # noqa: E402


def item_lines(path: str) -> dict[str, str]:
    """The case lines of a benchmark file, by case id."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    out[json.loads(line)["id"]] = line.rstrip("\n")
                except (json.JSONDecodeError, KeyError):
                    continue  # a bad line the campaign skipped (skip_bad_lines)
    return out


def failure_lines(store_path: str, model: str | None = None, checkpoint: str | None = None,
                  benchmark: str | None = None) -> list[str]:
    store = read_store(store_path)
    benchmarks = store.spec.get("benchmarks", [])
    if not benchmarks:
        raise SystemExit(f"{store_path}: the campaign ran no benchmarks (its failures came from failure files)")
    cases = {}
    for b in benchmarks:
        if not pathlib.Path(b["path"]).is_file():
            raise SystemExit(f"{store_path}: the spec's benchmark file {b['path']} is not there any more")
        cases.update(item_lines(b["path"]))
    ev = store.evaluations
    ev = ev[ev["with_pair"]]
    for column, value in (("model", model), ("checkpoint", checkpoint), ("benchmark", benchmark)):
        if value is not None:
            ev = ev[ev[column] == value]
    out = []
    for row in ev.sort_values(["model", "checkpoint", "benchmark", "item_index"]).itertuples():
        case = json.loads(cases[row.case_id])
        case["pair"] = row.detail["pair"]
        case.setdefault("meta", {})["campaign"] = {"model": row.model, "checkpoint": row.checkpoint}
        out.append(json.dumps(case, ensure_ascii=False, separators=(",", ":")))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="a campaign store (clrp run with [[benchmarks]])")
    p.add_argument("--out", required=True, help="the failure file to write (JSON Lines)")
    p.add_argument("--model", help="only this model's failures")
    p.add_argument("--checkpoint", help="only this checkpoint's failures")
    p.add_argument("--benchmark", help="only this benchmark's failures")
    a = p.parse_args()
    lines = failure_lines(a.store, a.model, a.checkpoint, a.benchmark)
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{len(lines)} failures with a pair: {out}")


if __name__ == "__main__":
    main()
