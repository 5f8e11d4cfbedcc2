"""Planted-evidence tasks (analysis/clrp_cases/planted.py; docs/cases.md, "Planted-evidence tasks").

What the construction promises, checked on every generated item: the evidence is the planted
fact and holds the answer, the answer has no other support in the prompt, distractors lie
outside the evidence and lead to another answer, the two-step task needs both facts, format
instructions are judged by clrp's IFEval judge as planted (a following response passes, the
plain answer fails), and the items depend on the seed alone (a prefix is stable). clrp's reader
accepting the files byte for byte is test_prepare_cases.py's round trip.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "analysis"))
from clrp_cases import planted  # noqa: E402

COUNT = 40


@pytest.fixture(scope="module")
def tasks() -> dict[str, list]:
    return {t: planted.build(t, COUNT, 7) for t in planted.TASKS}


def span_text(case, span) -> str:
    return case.prompt[span[0]:span[1]]


def test_items_depend_on_the_seed_alone(tasks):
    for t in planted.TASKS:
        again = [c.to_json() for c in planted.build(t, COUNT, 7)]
        assert again == [c.to_json() for c in tasks[t]], t
        assert [c.to_json() for c in planted.build(t, 5, 7)] == again[:5], f"{t}: a prefix changed"
        other = [c.to_json() for c in planted.build(t, 5, 8)]
        assert other != again[:5], f"{t}: the seed changes nothing"
        assert len({c.id for c in tasks[t]}) == COUNT


def test_retrieval_evidence_is_the_key_line_and_the_only_support(tasks):
    for t in ("planted_retrieval", "planted_distractor"):
        for c in tasks[t]:
            key = re.search(r"What number goes with (\w+)\?", c.prompt).group(1)
            assert [span_text(c, s) for s in c.evidence] == [f"{key}: {c.gold['answer']}"], c.id
            assert len(re.findall(rf"\b{c.gold['answer']}\b", c.prompt)) == 1, c.id
            assert c.meta["mechanism"] == ("distractor" if t == "planted_distractor" else "retrieval")


def test_distractors_lie_outside_the_evidence_and_lead_elsewhere(tasks):
    for c in tasks["planted_distractor"]:
        key = re.search(r"What number goes with (\w+)\?", c.prompt).group(1)
        [span] = c.meta["distractor_spans"]
        decoy, value = span_text(c, span).split(": ")
        assert value == c.meta["distractor_answer"] != c.gold["answer"], c.id
        # A near-duplicate key (its plural) that no line of the list carries.
        assert decoy == key + "s"
        assert f"- {decoy}: " not in c.prompt.split("\nReminder")[0]
        (a, b), = c.evidence
        assert b <= span[0] or span[1] <= a, c.id
        assert span[0] > b, f"{c.id}: the distractor must come after the evidence, just before the question"


def test_copy_evidence_is_the_persons_sentence_and_holds_the_answer(tasks):
    asked = set()
    for c in tasks["planted_copy"]:
        [text] = [span_text(c, s) for s in c.evidence]
        assert re.fullmatch(r"\w+ \w+ found \d+ \w+ near the [\w ]+\.", text), text
        assert c.gold["answer"] in text, c.id
        assert len(re.findall(rf"\b{re.escape(c.gold['answer'])}\b", c.prompt)) == 1, c.id
        asked.add(c.meta["asks"])
    assert asked == {"name", "number"}


def test_two_step_needs_both_facts(tasks):
    for c in tasks["planted_two_step"]:
        asker = re.search(r"does (\w+)'s partner live", c.prompt).group(1)
        first, second = (span_text(c, s) for s in c.evidence)
        partner = re.fullmatch(rf"{asker}'s partner is (\w+)\.", first).group(1)
        assert second == f"{partner} lives in room {c.gold['answer']}.", c.id
        # One step alone gives another room: the asker's own.
        own = re.search(rf"\b{asker} lives in room (\d+)\.", c.prompt).group(1)
        assert own == c.meta["one_step_answer"] != c.gold["answer"], c.id
        assert c.prompt.count(f"room {c.gold['answer']}.") == 1


def test_format_instructions_are_judged_as_planted(tasks, build_tool):
    requests, expect = [], []
    for c in tasks["planted_format"]:
        [instruction] = c.gold["instructions"]
        [span] = instruction["evidence"]
        assert [list(s) for s in c.evidence] == [span]
        assert span_text(c, span) == c.segments[1][1].rstrip("\n"), c.id
        for response, ok in ((c.meta["reference_response"], True), (" " + c.meta["answer"], False)):
            requests.append({"prompt": c.prompt, "response": response,
                             "instructions": [{"id": instruction["id"], "kwargs": instruction["kwargs"]}]})
            expect.append(ok)
    tool = build_tool("clrp_judge_instructions")
    r = subprocess.run([str(tool)], input="".join(json.dumps(q) + "\n" for q in requests),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert [v["strict"] == [True] for v in verdicts] == expect
    assert {c.meta["instruction"] for c in tasks["planted_format"]} == {
        "change_case:english_capital", "startend:quotation", "startend:end_checker"}
