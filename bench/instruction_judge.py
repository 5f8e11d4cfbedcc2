"""IFEval judging cost: clrp's long-lived checker process against the reference evaluation in
Python and against one fresh checker process per verdict, on the same requests, one run.

    .venv/bin/python bench/instruction_judge.py [--prompts 541] [--fresh 20]

Requests: every IFEval prompt (or the first --prompts) with four responses (three from the
pool of tests/oracle/test_ifeval.py, and the prompt repeated), each judged strict and loose.
  clrp       build/clrp_judge_instructions: the InstructionJudge that clrp evaluate uses
             (C++ → one checker process, JSON lines); start-up included;
  reference  the package's evaluation.py called in this process (imports excluded): the floor;
  fresh      a new checker process per verdict (--fresh of them; what judging each
             counterfactual continuation in its own interpreter would cost).
Prints verdicts per second and the ratios; all three must agree verdict for verdict.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
sys.path.insert(0, str(REPO / "analysis"))

import ifeval_reference  # noqa: E402
from clrp_cases import ifeval  # noqa: E402
from ifeval_reference import POOL, reference_verdict  # noqa: E402


def requests(prompts: int) -> list[dict]:
    items = ifeval.read_items(ifeval.data_file())[:prompts]
    rng = random.Random(1234)
    out = []
    for item in items:
        instructions = [{"id": i, "kwargs": k} for i, k in zip(item["instruction_id_list"], item["kwargs"])]
        for response in rng.sample(POOL, 3) + [item["prompt"] + "\n" + POOL[0]]:
            out.append({"prompt": item["prompt"], "response": response, "instructions": instructions})
    return out


def clrp(tool: pathlib.Path, reqs: list[dict]) -> tuple[list[dict], float]:
    data = "".join(json.dumps(q) + "\n" for q in reqs)
    t0 = time.perf_counter()
    r = subprocess.run([str(tool)], input=data, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in r.stdout.splitlines()], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=541)
    ap.add_argument("--fresh", type=int, default=20, help="verdicts judged with a fresh process each")
    args = ap.parse_args()
    tool = pathlib.Path(os.environ.get("CLRP_BUILD_DIR", REPO / "build")) / "clrp_judge_instructions"
    reqs = requests(args.prompts)

    got, t_clrp = clrp(tool, reqs)

    reference, _ = ifeval_reference.load()
    t0 = time.perf_counter()
    want = [reference_verdict(reference, q["prompt"], q["response"], q["instructions"]) for q in reqs]
    t_ref = time.perf_counter() - t0

    fresh = []
    t0 = time.perf_counter()
    for q in reqs[: args.fresh]:
        fresh += clrp(tool, [q])[0]
    t_fresh = time.perf_counter() - t0

    assert got == want, "clrp and the reference disagree"
    assert fresh == got[: args.fresh], "a fresh process disagrees"
    n, f = len(reqs), min(args.fresh, len(reqs))
    print(f"{n} verdicts (strict and loose), {args.prompts} prompts")
    print("| judge | verdicts/s | ms per verdict | vs clrp |\n|---|---|---|---|")
    for name, count, seconds in (("clrp (one checker process)", n, t_clrp), ("reference (in-process)", n, t_ref),
                                 ("fresh process per verdict", f, t_fresh)):
        print(f"| {name} | {count / seconds:.0f} | {1000 * seconds / count:.2f} | "
              f"{(count / seconds) / (n / t_clrp):.3g}× |")


if __name__ == "__main__":
    main()
