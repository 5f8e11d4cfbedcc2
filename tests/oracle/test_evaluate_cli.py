"""clrp evaluate end to end on SmolLM2-135M: failure files with pairs that the reader
accepts and `clrp explain --cases --id` explains (per-segment relevance), the pair rules
(letter, cloze, gold divergence), the counterfactual search finding a known decisive
token, imported pairs, and clear errors for bad input."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import torch

from conftest import REPO, build_dir

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import eval_reference  # noqa: E402


def run(*args, check=True, timeout=900):
    r = subprocess.run([str(build_dir() / "clrp"), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("cases")
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(out),
                    "--benchmarks", "arc_easy,gsm8k", "--limit", "12", "--shots", "arc_easy=0",
                    "--shots", "gsm8k=2"], check=True, capture_output=True, timeout=300)
    return out


def read(path) -> list[dict]:
    return eval_reference.read_jsonl(path)


@pytest.fixture(scope="module")
def evaluated(prepared, smollm2_gguf, tmp_path_factory):
    """Letter, cloze and generative cases evaluated once, with failures and records."""
    d = tmp_path_factory.mktemp("eval")
    mixed = d / "mixed.jsonl"
    lines = []
    for name in ("arc_easy.mc_letter", "arc_easy.mc_cloze", "gsm8k.generative"):
        lines += (prepared / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("evaluate", "--model", smollm2_gguf, "--cases", mixed, "--json", d / "summary.json",
            "--failures", d / "failures.jsonl", "--records", d / "records.jsonl", "--record-ids",
            "--max-new-tokens", "48", "--min-delta", "0")
    return {"dir": d, "cases": {c["id"]: c for c in read(mixed)}, "stdout": r.stdout, "stderr": r.stderr,
            "summary": json.loads((d / "summary.json").read_text()),
            "records": {x["id"]: x for x in read(d / "records.jsonl")},
            "failures": read(d / "failures.jsonl")}


def test_summary_counts_every_case(evaluated):
    s = evaluated["summary"]
    assert s["cases"] == 36 and s["cases"] == sum(g["cases"] for g in s["groups"].values())
    assert set(s["groups"]) == {"arc_easy/mc_letter", "arc_easy/mc_cloze", "gsm8k/generative"}
    for g in s["groups"].values():
        # every failure has a pair or a counted reason
        assert g["failures"] == g["pairs"] + sum(g["no_pair"].values()), g
        assert g["errors"] == 0
    assert "accuracy_per_char" in s["groups"]["arc_easy/mc_cloze"]
    assert s["failures"] == len(evaluated["failures"])
    assert "ETA" in evaluated["stderr"]
    assert "arc_easy/mc_letter" in evaluated["stdout"]


def test_failure_file_is_a_valid_case_file(evaluated, build_tool, tmp_path):
    path = evaluated["dir"] / "failures.jsonl"
    r = subprocess.run([str(build_tool("clrp_case_roundtrip")), str(path), str(tmp_path / "again.jsonl")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_pairs_follow_the_rules(evaluated, smollm2_gguf):
    records = evaluated["records"]
    methods = set()
    for f in evaluated["failures"]:
        rec = records[f["id"]]
        assert rec["correct"] is False
        if "pair" not in f:
            assert f["meta"]["eval"]["no_pair"], f["id"]
            continue
        p = f["pair"]
        methods.add(p["method"])
        assert p["model"] == str(smollm2_gguf)
        assert abs(p["delta"] - (p["wrong"]["logit"] - p["correct"]["logit"])) < 1e-6
        gold = f["gold"]
        if f["format"] == "mc_letter":
            assert p["method"] == "letter" and p["prefix"] == ""
            assert p["wrong"]["id"] == rec["letter_ids"][rec["predicted"]]
            assert p["correct"]["id"] == rec["letter_ids"][gold["index"]]
            assert abs(p["wrong"]["logit"] - rec["letter_logits"][rec["predicted"]]) < 1e-4
        elif f["format"] == "mc_cloze":
            assert p["method"] == "cloze"
            w = rec["continuations"][rec["predicted"]]["ids"]
            g = rec["continuations"][gold["index"]]["ids"]
            d = next(i for i, (a, b) in enumerate(zip(w, g)) if a != b)
            assert (p["wrong"]["id"], p["correct"]["id"]) == (w[d], g[d])
        else:
            assert p["method"] == "gold_divergence"
            i = f["meta"]["eval"]["pair_position"]
            assert rec["generated"][i] == p["wrong"]["id"] != p["correct"]["id"]
    assert {"letter", "cloze"} <= methods, methods


def test_pair_logits_match_transformers(evaluated, smollm2_gguf):
    """Δℓ of letter pairs recomputed independently on clrp's prompt ids."""
    model = eval_reference.load_gguf_model(smollm2_gguf)
    checked = 0
    for f in evaluated["failures"]:
        if f.get("pair", {}).get("method") != "letter":
            continue
        rec = evaluated["records"][f["id"]]
        logits = eval_reference.last_logits(model, rec["prompt_ids"])
        p = f["pair"]
        ref = float(logits[p["wrong"]["id"]] - logits[p["correct"]["id"]])
        assert abs(ref - p["delta"]) < 2e-3, (f["id"], ref, p["delta"])
        checked += 1
    assert checked > 0


def test_explain_a_failure_by_id(evaluated, smollm2_gguf, tmp_path):
    with_pairs = [f for f in evaluated["failures"] if "pair" in f]
    chosen = {}
    for f in with_pairs:
        chosen.setdefault(f["format"], f)
    assert "mc_letter" in chosen
    for fmt, f in chosen.items():
        out = tmp_path / f"{fmt}.json"
        html = tmp_path / f"{fmt}.html"
        run("explain", "--model", smollm2_gguf, "--cases", evaluated["dir"] / "failures.jsonl", "--id", f["id"],
            "--json", out, "--html", html, "--neurons", "0")
        j = json.loads(out.read_text())
        p = f["pair"]
        assert j["wrong"]["id"] == p["wrong"]["id"] and j["correct"]["id"] == p["correct"]["id"]
        assert abs(j["target"] - p["delta"]) < 1e-3, (fmt, j["target"], p["delta"])
        labels = [s["label"] for s in j["segments"]]
        assert labels[:len(f["segments"])] == [s["kind"] for s in f["segments"]]
        assert ("prefix" in labels) == (p["prefix"] != "")
        total = sum(j["token_relevance"])
        assert abs(sum(s["relevance"] for s in j["segments"]) - total) < 1e-6 * max(1, abs(total))
        assert sum(s["tokens"] for s in j["segments"]) == len(j["ids"])
        assert "Relevance per prompt segment" in html.read_text()


def test_explain_case_without_pair_is_an_error(evaluated, smollm2_gguf, tmp_path):
    no_pair = [f for f in evaluated["failures"] if "pair" not in f]
    path = evaluated["dir"] / "failures.jsonl"
    r = run("explain", "--model", smollm2_gguf, "--cases", path, "--id", "no/such/id", check=False)
    assert r.returncode == 2 and "no case with id 'no/such/id'" in r.stderr
    if no_pair:
        r = run("explain", "--model", smollm2_gguf, "--cases", path, "--id", no_pair[0]["id"], check=False)
        assert r.returncode == 2 and "has no contrastive pair" in r.stderr


# --- The counterfactual search on a constructed task --------------------------------------------------

PROMPT = "Question: Name a fruit that is yellow.\nAnswer:"
MAX_NEW = 12


def generative_case(answer: str, judge: str = "contains") -> dict:
    return {"id": "constructed/1", "benchmark": "constructed", "format": "generative",
            "segments": [{"kind": "question", "text": "Question: Name a fruit that is yellow.\n"},
                         {"kind": "answer_prefix", "text": "Answer:"}],
            "gold": {"answer": answer, "aliases": [], "judge": judge, "reference": " Banana.", "stop": [],
                     "max_new_tokens": MAX_NEW}, "evidence": [], "meta": {}}


def normalize(text: str) -> str:
    import re
    import string
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@pytest.fixture(scope="module")
def constructed(smollm2_gguf, tmp_path_factory):
    """The model's greedy answer (via clrp, an answer no output contains), and the transformers
    model to construct an answer only one alternative continuation produces."""
    d = tmp_path_factory.mktemp("cf")
    path = d / "probe.jsonl"
    path.write_text(json.dumps(generative_case("zzzqqq unreachable")) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--records", d / "r.jsonl", "--record-ids", "--no-pairs")
    rec = read(d / "r.jsonl")[0]
    model = eval_reference.load_gguf_model(smollm2_gguf)
    tok = __import__("transformers").AutoTokenizer.from_pretrained(str(smollm2_gguf.parent),
                                                                   gguf_file=smollm2_gguf.name)
    return {"dir": d, "record": rec, "model": model, "tok": tok}


def alternatives(model, ids: list[int], k: int, exclude: int) -> list[int]:
    logits = eval_reference.last_logits(model, ids)
    return [int(t) for t in torch.topk(logits, k + 1).indices if int(t) != exclude][:k]


def completion(model, tok, prompt_ids, gen, j, alt) -> str:
    rest = eval_reference.greedy(model, prompt_ids + gen[:j] + [alt], MAX_NEW - j - 1)["tokens"] if MAX_NEW - j - 1 > 0 else []
    return tok.decode(gen[:j] + [alt] + rest)


def test_counterfactual_finds_the_decisive_token(constructed, smollm2_gguf):
    rec, model, tok, d = constructed["record"], constructed["model"], constructed["tok"], constructed["dir"]
    prompt_ids, gen = rec["prompt_ids"], rec["generated"]
    k, j = 3, 2
    assert len(gen) > j
    # The decisive token: position j's best alternative; the answer is what its
    # continuation says from there, which no earlier try and not the model's own output contains.
    alt = alternatives(model, prompt_ids + gen[:j], k, gen[j])[0]
    target = completion(model, tok, prompt_ids, gen, j, alt)
    answer = tok.decode([alt] + eval_reference.greedy(model, prompt_ids + gen[:j] + [alt], 4)["tokens"])
    assert normalize(answer) and normalize(answer) in normalize(target)
    assert normalize(answer) not in normalize(tok.decode(gen))
    for i in range(j):
        for a in alternatives(model, prompt_ids + gen[:i], k, gen[i]):
            assert normalize(answer) not in normalize(completion(model, tok, prompt_ids, gen, i, a)), (i, a)
    path = d / "case.jsonl"
    path.write_text(json.dumps(generative_case(answer)) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--failures", d / "f.jsonl", "--pair-method",
        "counterfactual", "--cf-k", str(k), "--cf-positions", "6", "--min-delta", "0")
    f = read(d / "f.jsonl")
    assert len(f) == 1 and "pair" in f[0], f
    p = f[0]["pair"]
    assert p["method"] == "counterfactual"
    assert (p["wrong"]["id"], p["correct"]["id"]) == (gen[j], alt)
    assert p["prefix"] == tok.decode(gen[:j])
    assert f[0]["meta"]["eval"]["pair_position"] == j


def instructions_case(keyword: str) -> dict:
    case = generative_case("unused")
    case.update(id="constructed/ifeval", format="instructions",
                gold={"checker": "ifeval", "instructions": [{"id": "keywords:existence",
                                                              "kwargs": {"keywords": [keyword]}}],
                      "stop": [], "max_new_tokens": MAX_NEW})
    return case


def test_counterfactual_under_ifeval_checkers(constructed, smollm2_gguf):
    """An IFEval case (keywords:existence, judged by IFEval's checker) whose keyword only the
    continuation of position j's best alternative contains: the search stops exactly there."""
    rec, model, tok, d = constructed["record"], constructed["model"], constructed["tok"], constructed["dir"]
    prompt_ids, gen = rec["prompt_ids"], rec["generated"]
    k, j = 2, 3
    assert len(gen) > j
    alt = alternatives(model, prompt_ids + gen[:j], k, gen[j])[0]
    target = completion(model, tok, prompt_ids, gen, j, alt).lower()
    earlier = [tok.decode(gen).lower()] + [completion(model, tok, prompt_ids, gen, i, a).lower()
                                           for i in range(j) for a in alternatives(model, prompt_ids + gen[:i], k, gen[i])]
    words = [w for w in dict.fromkeys("".join(c if c.isalpha() else " " for c in target).split()) if len(w) >= 3]
    keyword = next((w for w in words if not any(w in text for text in earlier)), None)
    assert keyword, (target, earlier)
    path = d / "ifeval_case.jsonl"
    path.write_text(json.dumps(instructions_case(keyword)) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--failures", d / "ifeval_f.jsonl",
        "--cf-k", str(k), "--cf-positions", "6", "--min-delta", "0")
    f = read(d / "ifeval_f.jsonl")
    assert len(f) == 1 and "pair" in f[0], f
    p = f[0]["pair"]
    assert p["method"] == "counterfactual"
    assert (p["wrong"]["id"], p["correct"]["id"]) == (gen[j], alt)
    assert p["prefix"] == tok.decode(gen[:j])
    assert f[0]["meta"]["eval"]["instructions_strict"] == [False]
    assert f[0]["meta"]["eval"]["counterfactual_tried"] == j * k + 1


def test_counterfactual_budget_exhausted_is_counted(constructed, smollm2_gguf):
    d = constructed["dir"]
    path = d / "never.jsonl"
    path.write_text(json.dumps(generative_case("zzzqqq unreachable")) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--failures", d / "never_f.jsonl", "--json",
        d / "never.json", "--pair-method", "counterfactual", "--cf-k", "2", "--cf-positions", "2", "--cf-tokens", "4")
    s = json.loads((d / "never.json").read_text())
    assert s["groups"]["constructed/generative"]["no_pair"] == {"no_passing_alternative": 1}
    f = read(d / "never_f.jsonl")
    assert f[0]["meta"]["eval"]["no_pair"] == "no_passing_alternative" and "pair" not in f[0]
    assert f[0]["meta"]["eval"]["counterfactual_tried"] == 4


def test_imported_pair(constructed, smollm2_gguf):
    d, gen = constructed["dir"], constructed["record"]["generated"]
    path = d / "imp_case.jsonl"
    path.write_text(json.dumps(generative_case("zzzqqq unreachable")) + "\n")
    alt = alternatives(constructed["model"], constructed["record"]["prompt_ids"] + gen[:1], 1, gen[1])[0]
    imports = d / "imports.jsonl"
    imports.write_text(json.dumps({"id": "constructed/1", "position": 1, "token": alt}) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--failures", d / "imp.jsonl", "--import-pairs",
        imports, "--min-delta", "0")
    p = read(d / "imp.jsonl")[0]["pair"]
    assert p["method"] == "imported" and (p["wrong"]["id"], p["correct"]["id"]) == (gen[1], alt)
    # A position past the generation is refused, counted, and the failure still written.
    imports.write_text(json.dumps({"id": "constructed/1", "position": 999, "token": alt}) + "\n")
    run("evaluate", "--model", smollm2_gguf, "--cases", path, "--failures", d / "imp2.jsonl", "--import-pairs",
        imports, "--json", d / "imp2.json")
    f = read(d / "imp2.jsonl")[0]
    assert f["meta"]["eval"]["no_pair"] == "import_invalid" and "past the" in f["meta"]["eval"]["import_error"]
    bad = d / "bad_imports.jsonl"
    bad.write_text('{"id": "x", "position": 0, "token": 1}\n{"id": "y", "position": -1}\n')
    r = run("evaluate", "--model", smollm2_gguf, "--cases", path, "--import-pairs", bad, check=False)
    assert r.returncode == 2 and "bad_imports.jsonl" in r.stderr and "line 2" in r.stderr, r.stderr


# --- Bad input ------------------------------------------------------------------------------------------

def test_malformed_lines_name_file_and_line(prepared, smollm2_gguf, tmp_path):
    good = (prepared / "arc_easy.mc_letter.jsonl").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    no_answer = json.loads(good[1])
    del no_answer["gold"]
    bad.write_text("\n".join([good[0], "{not json", json.dumps(no_answer), good[2]]) + "\n", encoding="utf-8")
    r = run("evaluate", "--model", smollm2_gguf, "--cases", bad, check=False)
    assert r.returncode == 2 and "bad.jsonl" in r.stderr and "line 2" in r.stderr, r.stderr
    r = run("evaluate", "--model", smollm2_gguf, "--cases", bad, "--skip-bad-lines", "--json", tmp_path / "s.json")
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["cases"] == 2 and s["skipped_lines"] == 2
    assert "invalid_json 1" in s["read"] and "missing_field 1" in s["read"], s["read"]
    assert any("line 3" in m and "gold" in m for m in s["skipped_messages"]), s["skipped_messages"]


def test_empty_answer_is_refused(smollm2_gguf, tmp_path):
    case = generative_case("   ")
    path = tmp_path / "empty.jsonl"
    path.write_text(json.dumps(case) + "\n")
    r = run("evaluate", "--model", smollm2_gguf, "--cases", path, check=False)
    assert r.returncode == 2 and "line 1" in r.stderr and "gold.answer" in r.stderr, r.stderr
