"""Failure files for campaign tests, made by hand from real prepared cases.

`clrp evaluate` (which runs models on cases and writes failure files) is built
elsewhere; until it lands, tests construct pairs themselves: for each prepared
case, `clrp explain` (no --wrong) contrasts the model's own top-1 token at the
end of the prompt (+ prefix) with the first token of the gold continuation.
Cases the model gets right (top-1 == gold token) are not failures and are
skipped, as are prompts longer than the model's context.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def prepare_cases(out: pathlib.Path, benchmarks: str, limit: int) -> list[pathlib.Path]:
    """Prepared 0-shot letter cases of `benchmarks` (comma list) into `out`."""
    shots = [a for b in benchmarks.split(",") for a in ("--shots", f"{b}=0")]
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(out),
                    "--benchmarks", benchmarks, "--formats", "mc_letter", "--limit", str(limit),
                    *shots], check=True, capture_output=True)
    return sorted(out.glob("*.jsonl"))


def _pair(clrp: pathlib.Path, model: pathlib.Path, prompt: str, correct: str, tmp: pathlib.Path):
    out = tmp / "explain.json"
    r = subprocess.run([str(clrp), "--threads", "1", "explain", "--model", str(model), "--prompt",
                        prompt, "--correct", correct, "--neurons", "0", "--json", str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(out.read_text())


def make_failure_file(clrp: pathlib.Path, model: pathlib.Path, model_name: str,
                      case_files: list[pathlib.Path], out: pathlib.Path, max_cases: int,
                      prefix_every: int = 3) -> int:
    """Writes up to `max_cases` failure lines to `out`; returns how many.

    Every `prefix_every`-th case gets a non-empty pair prefix (" I think"), so the
    prompt + prefix path is exercised.
    """
    n = 0
    lines = []
    quota = -(-max_cases // max(1, len(case_files)))  # an equal share per file
    for path in case_files:
        taken = 0
        for line in path.read_text().splitlines():
            if n >= max_cases or taken >= quota:
                break
            case = json.loads(line)
            prompt = "".join(s["text"] for s in case["segments"])
            gold = case["gold"]
            correct = gold["continuations"][gold["index"]]
            prefix = " I think" if prefix_every and len(lines) % prefix_every == 2 else ""
            ex = _pair(clrp, model, prompt + prefix, correct, out.parent)
            if ex is None:
                continue
            case["pair"] = {
                "prefix": prefix,
                "wrong": {k: ex["wrong"][k] for k in ("id", "token", "logit")},
                "correct": {k: ex["correct"][k] for k in ("id", "token", "logit")},
                "delta": ex["target"], "method": "imported", "model": model_name}
            lines.append(json.dumps(case, ensure_ascii=False, separators=(",", ":")))
            n += 1
            taken += 1
    out.write_text("".join(l + "\n" for l in lines))
    return n


def write_sweep_spec(path: pathlib.Path, checkpoints: dict[str, pathlib.Path], failures: pathlib.Path,
                     store: str = "store.h5", limit: int = 8, commit_seconds: float = 0.0,
                     rules: tuple[str, ...] = ("attnlrp", "grad-x-input"), name: str = "sweep",
                     graphs: int = 2) -> pathlib.Path:
    """A checkpoint-sweep campaign spec: model "sweep" with one step*/ folder per entry of
    `checkpoints` (name -> model directory, linked), explaining `limit` pairs of `failures`,
    with attribution graphs for the first `graphs` cases of each table."""
    ck = path.parent / "checkpoints"
    for step, model in checkpoints.items():
        (ck / step).mkdir(parents=True, exist_ok=True)
        for f in pathlib.Path(model).iterdir():
            if not (ck / step / f.name).exists():
                (ck / step / f.name).symlink_to(f)
    rules_s = ", ".join(f'"{r}"' for r in rules)
    path.write_text(f"""
name = "{name}"
store = "{store}"
rules = [{rules_s}]
[record]
residual = true
heads = true
neurons = 4
evidence_top_k = 5
deletion_max_tokens = 20
[graphs]
cases = {graphs}
[layout]
batch_cases = 2
commit_seconds = {commit_seconds}
[[models]]
name = "sweep"
checkpoints = "{ck}"
[[cases]]
path = "{failures}"
limit = {limit}
seed = 5
""")
    return path


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clrp", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-name", required=True)
    ap.add_argument("--benchmarks", default="arc_easy,sciq")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-cases", type=int, default=20)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = prepare_cases(out.parent / "cases", a.benchmarks, a.limit)
    print(make_failure_file(pathlib.Path(a.clrp), pathlib.Path(a.model), a.model_name, files, out,
                            a.max_cases), "pairs written to", out)
