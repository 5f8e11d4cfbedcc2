"""The case format (docs/cases.md) on the Python side: building, checking, writing.

The bytes written here must equal what clrp's CaseWriter writes for the same case
(tests/oracle/test_prepare_cases.py reads every file back through C++ and compares):
fixed key order, no spaces, UTF-8 unescaped, meta keys sorted. Offsets are code points
(Python str indices).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

FORMATS = ("mc_letter", "mc_cloze", "generative", "code", "instructions")
KINDS = ("instruction", "fewshot", "context", "needle", "question", "options", "code", "answer_prefix")
JUDGES = ("squad", "number", "math", "first_word", "contains")


class CaseFormatError(ValueError):
    """A case that clrp's reader would refuse."""


@dataclass
class Case:
    id: str
    benchmark: str
    format: str
    segments: list[tuple[str, str]]  # (kind, text)
    gold: dict
    evidence: list[tuple[int, int]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return "".join(text for _, text in self.segments)

    def segment_start(self, index: int) -> int:
        """Code-point offset of segment `index` in the prompt."""
        return sum(len(text) for _, text in self.segments[:index])

    def to_json(self) -> str:
        check(self)
        record = {
            "id": self.id,
            "benchmark": self.benchmark,
            "format": self.format,
            "segments": [{"kind": k, "text": t} for k, t in self.segments],
            "gold": self.gold,
            "evidence": [[a, b] for a, b in self.evidence],
            # sort_keys only for meta: the other levels have a fixed, documented order.
            "meta": json.loads(json.dumps(self.meta, sort_keys=True)),
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def choice_gold(index: int, options: list[str], continuations: list[str], letters: list[str] | None = None) -> dict:
    gold = {"index": index, "options": list(options)}
    if letters:
        gold["letters"] = list(letters)
    gold["continuations"] = list(continuations)
    return gold


def answer_gold(answer: str, aliases: list[str], judge: str, reference: str, stop: list[str],
                max_new_tokens: int) -> dict:
    return {"answer": answer, "aliases": list(aliases), "judge": judge, "reference": reference,
            "stop": list(stop), "max_new_tokens": max_new_tokens}


def code_gold(entry_point: str, program_prefix: str, tests: str, reference: str, stop: list[str],
              max_new_tokens: int, language: str = "python") -> dict:
    return {"language": language, "entry_point": entry_point, "program_prefix": program_prefix,
            "tests": tests, "reference": reference, "stop": list(stop), "max_new_tokens": max_new_tokens}


def instruction_gold(instructions: list[tuple[str, dict]], stop: list[str], max_new_tokens: int,
                     checker: str = "ifeval", evidence: list[list[tuple[int, int]]] | None = None) -> dict:
    """IFEval's instructions as (id, kwargs); kwargs keys sorted, as clrp writes them. `evidence`:
    per instruction, the prompt spans (code points) that state it, written where known."""
    out = []
    for n, (i, kw) in enumerate(instructions):
        item = {"id": i, "kwargs": json.loads(json.dumps(kw, sort_keys=True))}
        if evidence and evidence[n]:
            item["evidence"] = [[a, b] for a, b in evidence[n]]
        out.append(item)
    return {"checker": checker, "instructions": out, "stop": list(stop), "max_new_tokens": max_new_tokens}


def check(case: Case) -> None:
    """The checks of clrp's reader that a producer can get wrong."""
    def bad(what: str) -> None:
        raise CaseFormatError(f"{case.id}: {what}")

    if not case.id or not case.benchmark:
        bad("empty id or benchmark")
    if case.format not in FORMATS:
        bad(f"unknown format {case.format!r}")
    if not case.segments:
        bad("no segments")
    for kind, text in case.segments:
        if kind not in KINDS:
            bad(f"unknown segment kind {kind!r}")
        if not text:
            bad(f"empty {kind} segment")
    g = case.gold
    if case.format in ("mc_letter", "mc_cloze"):
        n = len(g["options"])
        if n < 2 or len(g["continuations"]) != n or not 0 <= g["index"] < n:
            bad("options, continuations and index disagree")
        if case.format == "mc_letter" and len(g.get("letters", [])) != n:
            bad("mc_letter needs one letter per option")
        if len(set(g["continuations"])) != n or not all(g["options"]) or not all(g["continuations"]):
            bad("empty or repeated options")
    elif case.format == "generative":
        if not g["answer"].strip() or not g["reference"] or g["judge"] not in JUDGES:
            bad("empty answer/reference or unknown judge")
        if not all(g["aliases"]) or not all(g["stop"]):
            bad("empty alias or stop sequence")
    elif case.format == "instructions":
        if g["checker"] != "ifeval" or not g["instructions"]:
            bad("unknown checker or no instructions")
        for i in g["instructions"]:
            for a, b in i.get("evidence", []):
                if not 0 <= a < b <= len(case.prompt):
                    bad(f"instruction {i['id']}: evidence span [{a}, {b}) outside the prompt")
        if not all(":" in i["id"] and isinstance(i["kwargs"], dict) for i in g["instructions"]):
            bad("an instruction id is not 'group:name' or its kwargs are not an object")
    else:
        if not g["entry_point"].isidentifier() or not g["tests"].strip() or not g["reference"]:
            bad("bad entry point, tests or reference")
    total = len(case.prompt)
    previous_end = 0
    for start, end in case.evidence:
        if not 0 <= start < end <= total or start < previous_end:
            bad(f"evidence span [{start}, {end}) outside the prompt or out of order")
        previous_end = end


def find_span(case: Case, segment_index: int, needle: str, casefold: bool = False) -> tuple[int, int] | None:
    """Span of the first occurrence of `needle` inside one segment, as prompt offsets."""
    text = case.segments[segment_index][1]
    at = (text.casefold().find(needle.casefold()) if casefold and len(text.casefold()) == len(text)
          else text.find(needle))
    if at < 0 or not needle:
        return None
    start = case.segment_start(segment_index) + at
    return (start, start + len(needle))
