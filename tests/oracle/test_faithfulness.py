"""`clrp explain --faithfulness` against an independent implementation of docs/faithfulness.md
(faithfulness_reference.py) whose every removed input goes through a transformers forward pass (fp32,
eager attention): tiny Llama (rotary, GQA), Gemma-3 (embedding scale), GPT-2 (learned positions), Qwen3,
GPT-NeoX and Mistral (sliding window 16, prompts of 39 tokens) models and SmolLM2-135M (the shipped GGUF,
dequantised by transformers, 21 tokens).

clrp's JSON decides only the orders (its token relevance; the relevance itself is other modules' tests)
and step 0 (its Δℓ). Compared: the removable tokens and the step grid exactly; every curve value within
1e-4 (absolute; tiny models measure ≤ 2e-6, SmolLM2 ≤ 3e-5 — clrp reads the Q4_1 weights as transformers
dequantises them, the rest is fp32 summation order); areas within 2·1e-4 / |Δℓ| (what the curves'
tolerance allows) and, recomputed from clrp's own curves, within 1e-5; tokens to flip equal (unless a
curve value lies within the tolerance of 0).
"""
from __future__ import annotations

import functools
import json
import pathlib
import subprocess

import numpy as np
import pytest
import transformers

import faithfulness_reference as ref
from tiny_models import load_reference, make_family

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAMILIES = ["llama_gqa_untied", "gemma3", "gpt2", "qwen3", "gpt_neox_parallel", "mistral"]
# From the tiny tokenizer's training text (tiny_models.TOKENIZER_TEXT): 39 tokens.
PROMPT = "Which of these is a mammal? A. shark B. whale C. trout D. eel. Answer:"
CORRECT = " B"  # the wrong answer is each model's own greedy token: Δℓ > 0
SMOL_PROMPT = "Which planet is known as the Red Planet? A. Venus B. Mars C. Jupiter\nAnswer:"  # 20 tokens
SMOL_CORRECT = " C"
TOL = 1e-4


# --- Running clrp and the reference ---------------------------------------------------------------

def start_clrp(clrp_bin, model, out, *options, prompt=PROMPT, correct=CORRECT):
    """`clrp explain --faithfulness` in the background (one thread: the reference runs beside it, and CI
    has two cores)."""
    cmd = [str(clrp_bin), "--threads", "1", "explain", "--model", str(model), "--prompt", prompt,
           "--correct", correct, "--faithfulness", "--json", str(out), *options]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def finish_clrp(started) -> dict:
    proc, out = started
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stdout + stderr
    return json.loads(out.read_text())


def run_clrp(clrp_bin, model, out, *options, prompt=PROMPT, correct=CORRECT) -> dict:
    return finish_clrp(start_clrp(clrp_bin, model, out, *options, prompt=prompt, correct=correct))


@functools.lru_cache(maxsize=None)
def reference_model(path: str):
    if path.endswith(".gguf"):
        p = pathlib.Path(path)
        return transformers.AutoModelForCausalLM.from_pretrained(
            str(p.parent), gguf_file=p.name, dtype="float32", attn_implementation="eager").eval()
    return load_reference(path)


@functools.lru_cache(maxsize=None)
def special_ids(path: str) -> frozenset[int]:
    """The vocabulary's special tokens. Tiny models: transformers' all_special_ids and the added tokens
    it marks special. GGUF: the control tokens of tokenizer.ggml.token_type."""
    p = pathlib.Path(path)
    if path.endswith(".gguf"):  # the GGUF's control tokens: what transformers marks special (SmolLM2: 0..16),
        import gguf             # read in 2 s rather than its 7 s tokenizer conversion
        field = gguf.GGUFReader(path).fields["tokenizer.ggml.token_type"]
        types = [int(field.parts[i][0]) for i in field.data]
        return frozenset(i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL)
    # The tiny models ship tokenizer.json only.
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(p / "tokenizer.json"))
    return frozenset(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}


def recompute(model_path, j: dict, operators=ref.OPERATORS) -> ref.Faithfulness:
    f = j["faithfulness"]
    return ref.faithfulness(reference_model(str(model_path)), j["ids"], [j["token_relevance"]], j["wrong"]["id"],
                            j["correct"]["id"], j["target"], special_ids=special_ids(str(model_path)),
                            operators=operators, single_tokens=f["single_tokens"], fractions=f["fractions"],
                            seed=f["seed"], case_id="")


def clrp_arrays(j: dict, operators) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """clrp's JSON as the doc's arrays: curves [O, C, S], areas [O, 1, 2], flips [O, 2]."""
    f = j["faithfulness"]
    names = ref.curve_names([j["rule"]])
    assert sorted(f["curves"]) == sorted(operators) and all(sorted(f["curves"][o]) == sorted(names)
                                                           for o in operators), f["curves"].keys()
    curves = np.array([[f["curves"][o][n] for n in names] for o in operators], dtype=np.float64)
    area = np.array([[[f["area"][o]["least_minus_most"], f["area"][o]["random_minus_most"]]] for o in operators],
                    dtype=np.float64)
    flip = np.array([[f["tokens_to_flip"][o][j["rule"]], f["tokens_to_flip"][o]["random"]] for o in operators])
    return curves, area, flip


def compare(j: dict, want: ref.Faithfulness, operators, curves_of: list[int], tol: float = TOL) -> float:
    """Asserts clrp's curves `curves_of` (indices into the C curves: 0, 1 the rule's most- and
    least-relevant-first, 2 random) and the areas and flips that derive only from them equal the doc's:
    first computed from clrp's own curves (its arithmetic), then against the reference (its orders and
    forwards). Returns the largest curve difference."""
    f = j["faithfulness"]
    got_curves, got_area, got_flip = clrp_arrays(j, operators)
    assert got_curves.shape == (len(operators), len(want.orders), len(want.steps))
    delta0 = j["target"]
    assert np.all(got_curves[:, :, 0] == np.float32(delta0)), "step 0 is not the explanation's Δℓ"
    columns = [0] if 2 not in curves_of else [0, 1]  # least_minus_most needs curves 0, 1; random_minus_most 2
    flips = [0] if 2 not in curves_of else [0, 1]    # the rule's flip needs curve 0; the random one curve 2

    self_area, self_flip = ref.areas_and_flips(got_curves, f["steps"], f["candidates"], delta0, f["single_tokens"])
    np.testing.assert_allclose(got_area[:, :, columns], self_area[:, :, columns], rtol=0, atol=1e-5,
                               equal_nan=True, err_msg="areas ≠ the doc's areas of clrp's own curves")
    assert np.array_equal(got_flip[:, flips], self_flip[:, flips]), (got_flip, self_flip)

    diff = np.abs(got_curves[:, curves_of] - want.curves[:, curves_of])
    worst = float(diff.max())
    bad = np.argwhere(diff > tol)
    if bad.size:
        o, c, step = bad[0]
        pytest.fail(f"curves differ by up to {worst:.2e} (> {tol}); first: operator {operators[o]}, curve "
                    f"{ref.curve_names([j['rule']])[curves_of[c]]}, step {step} (k = {want.steps[step]}): clrp "
                    f"{got_curves[o, curves_of[c], step]:.6f}, reference {want.curves[o, curves_of[c], step]:.6f}; "
                    f"the reference's order starts {want.orders[curves_of[c]][:8]}")

    np.testing.assert_allclose(got_area[:, :, columns], want.area[:, :, columns], rtol=0, atol=2 * tol / abs(delta0),
                               equal_nan=True, err_msg="areas ≠ the reference's")
    if not np.array_equal(got_flip[:, flips], want.flip[:, flips]):
        most_first = [0, 2][:len(flips)]
        near_zero = np.abs(want.curves[:, most_first, :f["single_tokens"] + 1]).min() <= tol
        assert near_zero, f"tokens to flip: clrp {got_flip.tolist()}, reference {want.flip.tolist()}"
    return worst


# --- Every family, the default grid ---------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def family_case(clrp_bin, family: str, tmp: str, seed: int = 0):
    model = make_family(family)
    j = run_clrp(clrp_bin, model, pathlib.Path(tmp) / f"{family}_{seed}.json", "--seed", str(seed))
    return model, j, recompute(model, j)


def check_grid(j: dict, want: ref.Faithfulness):
    f = j["faithfulness"]
    assert f["candidates"] == want.candidates == len(j["ids"]) - 1 - sum(
        t in special_ids_of(j) for t in j["ids"][:-1])
    assert f["steps"] == want.steps == ref.removal_steps(5, ref.FRACTIONS, want.candidates)
    assert f["single_tokens"] == 5 and f["fractions"] == pytest.approx(list(ref.FRACTIONS))


def special_ids_of(j: dict) -> frozenset[int]:
    return special_ids(j["model"].rstrip("/"))


@pytest.mark.parametrize("family", FAMILIES)
def test_rule_curves_equal_reference(family, clrp_bin, tmp_path_factory):
    """Candidates and steps exact; both rule orders' curves (delete and zero) within 1e-4 of transformers;
    least_minus_most and the rule's tokens to flip as the doc computes them."""
    model, j, want = family_case(clrp_bin, family, str(tmp_path_factory.getbasetemp()))
    if family == "mistral":
        assert len(j["ids"]) > 16 + 1, "the sliding window (16) must matter"
    check_grid(j, want)
    worst = compare(j, want, ref.OPERATORS, [0, 1])
    print(f"{family}: {want.candidates} candidates, rule curves within {worst:.1e}")


@pytest.mark.parametrize("family", FAMILIES)
def test_random_curve_equals_reference(family, clrp_bin, tmp_path_factory):
    """The random curve follows splitmix64(fnv1a64("") ^ p ^ seed·φ) ascending (case id empty for
    --prompt); random_minus_most, the random order's tokens to flip, and the count of distinct forwards."""
    model, j, want = family_case(clrp_bin, family, str(tmp_path_factory.getbasetemp()))
    worst = compare(j, want, ref.OPERATORS, [0, 1, 2])
    assert j["faithfulness"]["forwards"] == want.forwards
    print(f"{family}: all curves within {worst:.1e}")


@functools.lru_cache(maxsize=None)
def smollm2_case(clrp_bin, gguf, tmp: str):
    started = start_clrp(clrp_bin, gguf, pathlib.Path(tmp) / "smollm2.json", prompt=SMOL_PROMPT,
                         correct=SMOL_CORRECT)
    reference_model(str(gguf)), special_ids(str(gguf))  # loaded while clrp runs
    j = finish_clrp(started)
    return j, recompute(gguf, j)


def test_smollm2_gguf_rule_curves(clrp_bin, smollm2_gguf, tmp_path_factory):
    """SmolLM2-135M Q4_1 GGUF, 21 tokens: candidates, steps, both rule orders' curves, least_minus_most,
    the rule's tokens to flip."""
    j, want = smollm2_case(clrp_bin, smollm2_gguf, str(tmp_path_factory.getbasetemp()))
    check_grid(j, want)
    worst = compare(j, want, ref.OPERATORS, [0, 1])
    print(f"SmolLM2: {len(j['ids'])} tokens, rule curves within {worst:.1e}")


def test_smollm2_gguf_random_curve(clrp_bin, smollm2_gguf, tmp_path_factory):
    """SmolLM2: the random curve, random_minus_most, the random order's tokens to flip."""
    j, want = smollm2_case(clrp_bin, smollm2_gguf, str(tmp_path_factory.getbasetemp()))
    worst = compare(j, want, ref.OPERATORS, [0, 1, 2])
    print(f"SmolLM2: all curves within {worst:.1e}")


# --- The seed, the operators, the grid ------------------------------------------------------------

def test_seed_changes_the_random_order(clrp_bin, tmp_path_factory):
    """--seed 7: the random curve is the reference's for seed 7 and differs from seed 0's (38 candidates);
    the rule curves do not move."""
    base = str(tmp_path_factory.getbasetemp())
    _, j0, _ = family_case(clrp_bin, "llama_gqa_untied", base, 0)
    _, j7, want7 = family_case(clrp_bin, "llama_gqa_untied", base, 7)
    assert j7["faithfulness"]["seed"] == 7
    assert want7.orders[2] != ref.random_order("", sorted(want7.orders[0]), 0)
    c0, _, _ = clrp_arrays(j0, ref.OPERATORS)
    c7, _, _ = clrp_arrays(j7, ref.OPERATORS)
    np.testing.assert_array_equal(c0[:, :2], c7[:, :2])
    assert np.abs(c0[:, 2] - c7[:, 2]).max() > 1e-3, "seed 7 gave seed 0's random curve"
    compare(j7, want7, ref.OPERATORS, [0, 1, 2])


@pytest.mark.parametrize("options, operators, shape", [
    (["--removal", "zero"], ("zero",), 16),
    (["--single-tokens", "3", "--fractions", "0.5,1"], ("delete", "zero"), 6),
    (["--removal", "zero", "--single-tokens", "3", "--fractions", "0.5,1"], ("zero",), 6),
    (["--removal", "zero,delete", "--single-tokens", "0", "--fractions", "0.25,0.5,1"], ("zero", "delete"), 4),
])
def test_options_shape_the_grid(options, operators, shape, clrp_bin, tmp_path):
    """--removal picks the operators, --single-tokens and --fractions the steps; the values
    are the reference's for that grid."""
    model = make_family("gpt2")
    j = run_clrp(clrp_bin, model, tmp_path / "o.json", *options)
    f = j["faithfulness"]
    want = recompute(model, j, operators)
    assert sorted(f["curves"]) == sorted(operators)
    assert len(f["steps"]) == shape and f["steps"] == want.steps
    compare(j, want, operators, [0, 1])


def test_few_candidates_repeat_steps(clrp_bin, tmp_path):
    """A prompt of 5 tokens (N = 4 < K = 5): single steps stop at N, fractions round up, areas and flips
    over the repeated steps as the doc defines them."""
    model = make_family("gemma3")
    j = run_clrp(clrp_bin, model, tmp_path / "few.json", prompt="The quick", correct=" fox")
    want = recompute(model, j)
    n = len(j["ids"]) - 1
    assert 0 < n < 5 and want.candidates == n
    assert j["faithfulness"]["steps"] == want.steps
    assert want.steps[5] == n and want.steps[-1] == n
    compare(j, want, ref.OPERATORS, [0, 1])


@pytest.mark.parametrize("options, message", [
    (["--fractions", "0.5,0.2"], "must increase"),
    (["--fractions", "0.5,0.5"], "must increase"),
    (["--removal", "delete,delete"], "twice"),
    (["--removal", "erase"], "erase"),
    (["--fractions", "0"], "--fractions"),
])
def test_bad_options_fail_clearly(options, message, clrp_bin, tmp_path):
    model = make_family("llama_gqa_untied")
    r = subprocess.run([str(clrp_bin), "--threads", "1", "explain", "--model", str(model), "--prompt", PROMPT, "--correct", CORRECT,
                        "--faithfulness", "--json", str(tmp_path / "x.json"), *options],
                       capture_output=True, text=True)
    assert r.returncode != 0, r.stdout
    assert message in r.stderr, r.stderr
    assert not (tmp_path / "x.json").exists()


# --- The reference's own pieces -------------------------------------------------------------------

def test_hashes_known_values():
    assert ref.splitmix64(0) == 0xE220A8397B1DCDAF  # SplitMix64's first output for seed 0
    assert ref.fnv1a64("") == 0xCBF29CE484222325 and ref.fnv1a64("a") == 0xAF63DC4C8601EC8C
    x = np.array([0, 1, ref.MASK, 12345], dtype=np.uint64)
    assert ref.splitmix64_np(x).tolist() == [ref.splitmix64(int(v)) for v in x]
    assert ref.removal_steps(5, [0.1, 0.5, 1.0], 3) == [0, 1, 2, 3, 3, 3, 1, 2, 3]
    assert ref.removal_steps(2, [0.3, 1.0], 10) == [0, 1, 2, 3, 10]  # 0.3·10 − 1e-9 rounds up to 3, not 4
    assert ref.most_relevant_first([1, 2, 2, 0, 9], [0, 1, 2, 3]) == [1, 2, 0, 3]
    assert ref.least_relevant_first([1, 0, 0, 2, 9], [0, 1, 2, 3]) == [1, 2, 0, 3]


def _bootstrap_loop(values, seed):
    n = len(values)
    means = []
    for b in range(1000):
        means.append(sum(values[ref.splitmix64((seed * ref.PHI + b * n + i) % 2**64) % n] for i in range(n)) / n)
    means.sort()
    return means[25], means[974]


def test_aggregates_equal_a_plain_loop():
    """faithfulness_aggregates on synthetic cases (NaN areas, Δℓ ≤ 0, unflipped) against loops over the
    failures (Δℓ > 0: areas, flips and curves are over them)."""
    rng = np.random.default_rng(3)
    cases, O, R, S, K = 23, 2, 2, 8, 3
    delta = rng.normal(size=(cases, O, 2 * R + 1, S))
    delta[:, :, :, 0] = rng.normal(0.5, 1.0, size=cases)[:, None, None]
    area = rng.normal(size=(cases, O, R, 2))
    area[[2, 5], 0, 1, 0] = np.nan
    flip = rng.integers(-1, K + 1, size=(cases, O, R + 1))
    flip[delta[:, 0, 0, 0] <= 0] = 0
    flip[(delta[:, 0, 0, 0] > 0)[:, None, None] & (flip == 0)] = -1
    seed = 11
    got = ref.faithfulness_aggregates(delta, area, flip, seed)
    for o in range(O):
        pos = [i for i in range(cases) if delta[i, o, 0, 0] > 0]  # areas, flips and curves: failures only
        for r in range(R):
            for a in range(2):
                v = [area[i, o, r, a] for i in pos if np.isfinite(area[i, o, r, a])]
                want = [len(v), sum(v) / len(v), *_bootstrap_loop(v, seed)]
                np.testing.assert_allclose(got["faithfulness_area"][o, r, a], want, rtol=1e-12)
            for rb in range(R):
                v = [area[i, o, r, 0] - area[i, o, rb, 0] for i in pos
                     if np.isfinite(area[i, o, r, 0]) and np.isfinite(area[i, o, rb, 0])]
                want = [len(v), sum(v) / len(v), *_bootstrap_loop(v, seed)]
                np.testing.assert_allclose(got["faithfulness_rule_difference"][o, r, rb], want, rtol=1e-12,
                                           atol=1e-15)
        for c in range(R + 1):
            fl = [flip[i, o, c] for i in pos if flip[i, o, c] > 0]
            want = [len(pos), len(fl) / len(pos), sum(fl) / len(fl)]
            np.testing.assert_allclose(got["faithfulness_flip"][o, c], want, rtol=1e-12)
        for c in range(2 * R + 1):
            for s in range(S):
                want = sum(delta[i, o, c, s] / delta[i, o, 0, 0] for i in pos) / len(pos)
                assert got["faithfulness_curve"][o, c, s] == pytest.approx(want, rel=1e-12)
    assert np.all(got["faithfulness_curve"][:, :, 0] == pytest.approx(1.0))
    failures = delta[:, 0, 0, 0] > 0
    assert got["faithfulness_area"][0, 1, 0, 0] == failures.sum() - failures[[2, 5]].sum()


@pytest.mark.parametrize("prompt, correct, outcome", [
    # The answer repeats one word of the prompt: removing it undoes the failure, random removals do not.
    ("The secret word is banana. Remember it. Later, someone asks: what is the secret word? The secret word is",
     " apple", "input_informative"),
    # " the" over " xylophone" after an unrelated sentence: the model's prior, no prompt token decides it.
    ("We walked along the river and talked about the weather, the news and", " xylophone", "graph_not_tested"),
])
def test_smollm2_outcome_on_constructed_cases(prompt, correct, outcome, clrp_bin, smollm2_gguf, tmp_path):
    """docs/faithfulness.md's outcome on two constructed SmolLM2 contrasts (the model's own greedy token
    against `correct`): one decided by a single prompt word, one by no prompt token."""
    j = run_clrp(clrp_bin, smollm2_gguf, tmp_path / "out.json", prompt=prompt, correct=correct)
    f = j["faithfulness"]
    assert j["target"] > 0 and f["outcome"] == outcome, json.dumps(f["tokens_to_flip"])
    if outcome == "input_informative":
        assert f["tokens_to_flip"]["delete"]["attnlrp"] > 0 and f["tokens_to_flip"]["delete"]["random"] == -1
    else:
        for op in ("delete", "zero"):
            assert min(f["curves"][op]["attnlrp most-relevant-first"]) > 0


def test_smollm2_needle_is_recovered(clrp_bin, smollm2_gguf, tmp_path):
    """A needle in a haystack (docs/faithfulness.md, "Outcomes and patterns"): SmolLM2 copies the magic
    number where the gold says another, `clrp evaluate` finds the pair at its first digit, and the
    explanation of that failure is input informative — two deleted tokens undo it, random ones never —
    with the needle's digit as the token of largest |relevance| (the case's evidence recovered)."""
    filler = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " * 3
    prompt = (filler + "The special magic number is 7342. " + filler +
              "What is the special magic number mentioned above? The special magic number is")
    at = prompt.index("7342")
    case = {"id": "needle/1", "benchmark": "needle", "format": "generative",
            "segments": [{"kind": "question", "text": prompt}],
            "gold": {"answer": "5", "aliases": [], "judge": "squad", "reference": " 5.", "stop": ["."],
                     "max_new_tokens": 6},
            "evidence": [[at, at + 4]], "meta": {}}
    (tmp_path / "cases.jsonl").write_text(json.dumps(case) + "\n")
    subprocess.run([str(clrp_bin), "evaluate", "--model", str(smollm2_gguf), "--cases", str(tmp_path / "cases.jsonl"),
                    "--failures", str(tmp_path / "f.jsonl")], check=True, capture_output=True)
    failure = json.loads((tmp_path / "f.jsonl").read_text())
    assert failure["pair"]["wrong"]["token"] == "7" and failure["evidence"] == [[at, at + 4]]
    subprocess.run([str(clrp_bin), "explain", "--model", str(smollm2_gguf), "--cases", str(tmp_path / "f.jsonl"),
                    "--id", "needle/1", "--faithfulness", "--json", str(tmp_path / "e.json")], check=True,
                   capture_output=True)
    j = json.loads((tmp_path / "e.json").read_text())
    f = j["faithfulness"]
    assert f["outcome"] == "input_informative"
    assert f["tokens_to_flip"]["delete"]["attnlrp"] > 0 and f["tokens_to_flip"]["delete"]["random"] == -1
    top = int(np.argmax(np.abs(j["token_relevance"])))
    before = "".join(j["tokens"][:top])  # the tokens spell the prompt (no BOS for SmolLM2)
    assert j["tokens"][top] == "7" and before == prompt[:at], (top, j["tokens"][top])
