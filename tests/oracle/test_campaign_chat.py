"""Chat failures explained in campaigns: a tiny Qwen3 with Qwen3's real chat template.

The model is tests/oracle/tiny_models.py's "qwen3" (random weights) with a
ChatML tokenizer (<|im_start|>, <|im_end|> special) and the chat template of
Qwen/Qwen3-0.6B (llama.cpp's copy in the llama-cpp-python 0.3.36 sdist,
chat_template_corpus.py). IFEval items (judged by IFEval's checkers) and 0-shot
GSM8K items run through the template with enable_thinking=false, in one
`clrp run`:

- every item is evaluated, and the prompt it read is transformers'
  apply_chat_template(..., add_generation_prompt=True, enable_thinking=False)
  tokens (its count in the evaluation row);
- every failure with a pair is explained on the templated tokens: the stored
  tokens are tokens(rendered prompt + prefix) as transformers tokenizes them,
  and the relevance equals LXT 2.1's AttnLRP on those tokens (Δℓ to 1e-5,
  token relevance to 1e-3 relative L2, as tests/oracle/test_families.py);
- the segment columns, `template` included, plus the tokens in no segment sum
  to the token relevance, and the template's share is not empty;
- the failure file of `clrp evaluate --chat` on the same items, explained by a
  campaign from [[cases]], gives the same rows (the pair records how it was
  rendered, docs/cases.md).
"""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import lrp_reference
from chat_template_corpus import llama_cpp_templates
from test_campaign import mpirun, read_store
from test_campaign_benchmarks import read_evaluations
from tiny_models import TOKENIZER_TEXT, load_family, make_family

REPO = pathlib.Path(__file__).resolve().parents[2]
OPTIONS = {"enable_thinking": False}


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


@pytest.fixture(scope="module")
def qwen3_chat(tmp_path_factory) -> pathlib.Path:
    """The tiny Qwen3 with a ChatML tokenizer (311 tokens, as its embedding) and Qwen3's template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    src = make_family("qwen3")
    d = tmp_path_factory.mktemp("qwen3_chat")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(src / name, d / name)
    vocab = json.loads((src / "config.json").read_text())["vocab_size"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TOKENIZER_TEXT, "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n"
                             "<think>\n\n</think>\n\n"] * 4, trainer)
    assert tok.get_vocab_size() == vocab
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "clean_up_tokenization_spaces": False}))
    (d / "chat_template.jinja").write_text(llama_cpp_templates()["Qwen-Qwen3-0.6B.jinja"], encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict[str, pathlib.Path]:
    d = tmp_path_factory.mktemp("chat_bench")
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(d),
                    "--benchmarks", "ifeval,gsm8k", "--limit-for", "ifeval=6", "--limit-for", "gsm8k=5",
                    "--shots", "gsm8k=0"], check=True, capture_output=True)
    return {"ifeval": d / "ifeval.instructions.jsonl", "gsm8k": d / "gsm8k.generative.jsonl"}


def spec_text(model: pathlib.Path, store: str, inputs: str) -> str:
    return f"""
name = "chat"
store = "{store}"
rules = ["attnlrp"]
[record]
deletion_max_tokens = 3
[graphs]
cases = 2
[layout]
commit_seconds = 0
[[models]]
name = "qwen3"
path = "{model}"
{inputs}"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, clrp_bin, qwen3_chat, bench) -> pathlib.Path:
    d = tmp_path_factory.mktemp("chat_run")
    inputs = "".join(f"""
[[benchmarks]]
path = "{p}"
max_new_tokens = 8
min_delta = 0.01
chat = {{ options = {{ enable_thinking = false }} }}
search = {{ positions = 2, k = 2, tokens = 8 }}
""" for p in bench.values())
    spec = d / "spec.toml"
    spec.write_text(spec_text(qwen3_chat, "store.h5", inputs))
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    return d / "store.h5"


def test_items_read_the_templated_prompt(campaign, qwen3_chat, bench):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3_chat))
    rows = read_evaluations(campaign)
    prompts = {}
    for name, path in bench.items():
        for line in path.read_text().splitlines():
            c = json.loads(line)
            prompts[(name, c["id"])] = "".join(s["text"] for s in c["segments"])
    assert len(rows) == len(prompts)
    evaluated = 0
    for (table, cid), row in rows.items():
        name = table.split("/")[-1]
        if row["outcome"] == 3:  # error: the item is longer than the tiny model's context
            assert "longer than" in row["detail"]["error"], row["detail"]
            continue
        ids = tok.apply_chat_template([{"role": "user", "content": prompts[(name, cid)]}], tokenize=True,
                                      add_generation_prompt=True, **OPTIONS)
        assert row["prompt_tokens"] == len(ids), cid
        evaluated += 1
    assert evaluated >= 6
    assert any(t.endswith("ifeval") for t, _ in rows)


def test_chat_failures_are_explained_on_the_templated_tokens(campaign, qwen3_chat, bench):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3_chat))
    model = load_family(qwen3_chat)
    torch.set_num_threads(1)
    rows = read_evaluations(campaign)
    stored = read_store(campaign)
    paired = {k: r for k, r in rows.items() if r["outcome"] == 1}
    assert paired, "no failure with a pair"
    assert sorted(stored) == sorted(paired)
    # An IFEval failure whose counterfactual search found a passing alternative, and GSM8K ones.
    assert any(k[0].endswith("ifeval") for k in stored) and any(k[0].endswith("gsm8k") for k in stored)
    # The deletion test and the graphs run on the same templated tokens.
    assert all(rec["deletion_tokens"].shape == (2,) for rec in stored.values())  # AttnLRP, random
    graphs = [rec for rec in stored.values() if len(rec.get("graph_node_layer", [])) > 0]
    assert graphs and all(rec["graph_node_position"].max() < rec["n_tokens"] for rec in graphs)
    for key, rec in stored.items():
        pair = rows[key]["detail"]["pair"]
        assert pair["chat"] == {"options": OPTIONS}
        name = key[0].split("/")[-1]
        case = next(json.loads(l) for l in bench[name].read_text().splitlines() if json.loads(l)["id"] == key[1])
        text = tok.apply_chat_template([{"role": "user", "content": "".join(s["text"] for s in case["segments"])}],
                                       tokenize=False, add_generation_prompt=True, **OPTIONS)
        enc = tok(text + pair["prefix"], add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        assert rec["tokens"].tolist() == ids, key
        if name == "ifeval":
            # The evidence: the tokens of the sentences stating the instructions not followed.
            prompt = "".join(s["text"] for s in case["segments"])
            at = text.index(prompt)
            failed = [sp for ok, ins in zip(rows[key]["detail"]["instructions_strict"], case["gold"]["instructions"])
                      if not ok for sp in ins.get("evidence", [])]
            want = [int(any(a < at + e and b > at + s for s, e in failed)) for a, b in enc["offset_mapping"]]
            assert failed and rec["token_evidence"].astype(int).tolist() == want, key
        ref = lrp_reference.contrastive_relevance(model, ids, len(ids) - 1, int(rec["wrong_id"]),
                                                  int(rec["correct_id"]), "attnlrp")
        assert float(rec["delta"]) == pytest.approx(float(ref["target"]), rel=1e-5, abs=1e-5), key
        tok_rel = rec["token_relevance"][:, 0].astype(float)
        assert rel_l2(tok_rel, ref["token_relevance"]) <= 1e-3, key
        # Segments, the template's own text included, sum to the whole.
        seg = rec["segment_relevance"][0].astype(float)
        outside = tok_rel[rec["token_segment"] < 0].sum()
        assert seg.sum() + outside == pytest.approx(tok_rel.sum(), rel=1e-5, abs=1e-5), key
        template = rec["token_segment"] == 8
        assert template.sum() >= 6, key  # <|im_start|>user\n ... <|im_end|>\n<|im_start|>assistant\n<think>...
        assert seg[8] == pytest.approx(tok_rel[template].sum(), rel=1e-5, abs=1e-5) and seg[8] != 0.0
        # The template's tokens are those outside the raw prompt and before the prefix.
        assert ids[int(np.argmax(template))] == tok.convert_tokens_to_ids("<|im_start|>")


def test_failure_files_of_evaluate_chat_explain_the_same(campaign, clrp_bin, qwen3_chat, bench, tmp_path):
    failures = tmp_path / "failures.jsonl"
    subprocess.run([str(clrp_bin), "evaluate", "--model", str(qwen3_chat), "--cases", str(bench["gsm8k"]),
                    "--chat", "--chat-option", "enable_thinking=false", "--max-new-tokens", "8",
                    "--min-delta", "0.01", "--cf-positions", "2", "--cf-k", "2", "--cf-tokens", "8",
                    "--failures", str(failures)], check=True, capture_output=True)
    lines = [json.loads(l) for l in failures.read_text().splitlines()]
    assert lines and all(l["pair"]["chat"] == {"options": OPTIONS} for l in lines)
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(qwen3_chat, "cases.h5", f'\n[[cases]]\npath = "{failures}"\n'))
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    from_file = read_store(tmp_path / "cases.h5")
    from_bench = {k: v for k, v in read_store(campaign).items() if k[0].endswith("gsm8k")}
    assert sorted(cid for _, cid in from_file) == sorted(cid for _, cid in from_bench)
    by_id = {cid: v for (_, cid), v in from_bench.items()}
    for (_, cid), rec in from_file.items():
        for name in ("tokens", "token_segment", "wrong_id", "correct_id"):
            assert np.array_equal(rec[name], by_id[cid][name]), (cid, name)
        np.testing.assert_allclose(rec["token_relevance"], by_id[cid]["token_relevance"], rtol=1e-5, atol=1e-6)


def test_generated_thinking_is_a_segment_of_its_own(clrp_bin, qwen3_chat, bench, tmp_path):
    """A failure after a reasoning model's thinking: the pair's prefix holds the generated
    <think>…</think> and the start of the answer. Its tokens are the `thinking` column (and
    group of `clrp explain`), the answer's the `prefix` one; Qwen3's template with thinking on
    (its default) writes no think block of its own, so nothing of the template is thinking."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3_chat))
    model = load_family(qwen3_chat)
    case = json.loads(bench["gsm8k"].read_text().splitlines()[0])
    prompt = "".join(s["text"] for s in case["segments"])
    prefix = "<think>\nAdd the two numbers.\n</think>\n\nThe answer is"
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True)
    assert "<think>" not in text
    ids = tok(text + prefix, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1].double()
    wrong, correct = logits.topk(2).indices.tolist()
    case["pair"] = {"prefix": prefix, "method": "imported", "model": "qwen3", "chat": True,
                    "wrong": {"id": wrong, "token": tok.convert_ids_to_tokens(wrong), "logit": float(logits[wrong])},
                    "correct": {"id": correct, "token": tok.convert_ids_to_tokens(correct),
                                "logit": float(logits[correct])},
                    "delta": float(logits[wrong] - logits[correct])}
    failures = tmp_path / "thinking.jsonl"
    failures.write_text(json.dumps(case) + "\n")
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(qwen3_chat, "thinking.h5", f'\n[[cases]]\npath = "{failures}"\n'))
    r = mpirun(clrp_bin, 1, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    (rec,) = read_store(tmp_path / "thinking.h5").values()
    assert rec["tokens"].tolist() == ids
    segment = rec["token_segment"]
    thinking = tok(text + "<think>\nAdd the two numbers.\n</think>", add_special_tokens=False)["input_ids"]
    n_prompt = len(tok(text, add_special_tokens=False)["input_ids"])
    assert (segment[n_prompt:len(thinking)] == 9).all() and (segment[len(thinking):] == 10).all()
    assert (segment[:n_prompt] != 9).all() and (segment[:n_prompt] != 10).all()
    assert rec["prompt_tokens"] == n_prompt
    tok_rel = rec["token_relevance"][:, 0].astype(float)
    seg = rec["segment_relevance"][0].astype(float)
    assert seg[9] == pytest.approx(tok_rel[segment == 9].sum(), rel=1e-5, abs=1e-6) and seg[9] != 0.0
    ref = lrp_reference.contrastive_relevance(model, ids, len(ids) - 1, wrong, correct, "attnlrp")
    assert rel_l2(tok_rel, ref["token_relevance"]) <= 1e-3
    # clrp explain --cases groups the same tokens.
    out = tmp_path / "explain.json"
    subprocess.run([str(clrp_bin), "explain", "--model", str(qwen3_chat), "--cases", str(failures), "--id",
                    case["id"], "--json", str(out)], check=True, capture_output=True)
    groups = {g["label"]: g for g in json.loads(out.read_text())["segments"]}
    assert groups["thinking"]["tokens"] == int((segment == 9).sum())
    assert groups["prefix"]["tokens"] == int((segment == 10).sum())
    assert groups["template"]["tokens"] == int((segment == 8).sum())
    assert groups["thinking"]["relevance"] == pytest.approx(seg[9], rel=1e-4, abs=1e-5)


PHI_STYLE_SPECIALS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def carried_chat(rendered: str, pair: dict, frm, to):
    """The pair under tokenizer `to` after the prompt as `to`'s model's template renders it,
    with Hugging Face `tokenizers` (independent of campaign/carry_pair.hpp): (tokens before
    the contrast, wrong id, correct id), or the kind of reason it does not carry. The
    rendered text is encoded as it is: every token, special ones included, is spelled in it."""
    ctx = rendered + pair["prefix"]
    w = pair["wrong"].get("continuation") or frm.decode([pair["wrong"]["id"]], skip_special_tokens=False)
    c = pair["correct"].get("continuation") or frm.decode([pair["correct"]["id"]], skip_special_tokens=False)
    if w == c:
        return "same_text"
    a = to.encode(ctx + w, add_special_tokens=False).ids
    b = to.encode(ctx + c, add_special_tokens=False).ids
    d = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    if d is None:
        return "no_differing_token"
    shared = to.decode(a[:d], skip_special_tokens=False).encode()
    if not (ctx + w).encode().startswith(shared) or not (ctx + c).encode().startswith(shared):
        return "tokens_do_not_spell_text"
    if len(shared) < len(rendered.encode()):
        return "diverges_inside_prompt"
    if to.encode(shared.decode(), add_special_tokens=False).ids != a[:d]:
        return "prefix_retokenizes"
    return a[:d], a[d], b[d]


def test_fixed_set_carries_chat_pairs_after_each_models_template(clrp_bin, qwen3_chat, bench, tmp_path):
    """Fixed set across models with their own templates: the Qwen3 reference's chat failures go
    to a model with another tokenizer and Phi-3.5's template by their text, after the prompt as
    Phi's template renders it; enable_thinking, which only Qwen3's template reads, applies to
    Qwen3 alone. Equal to the same carry done with Hugging Face `tokenizers`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer

    from tiny_models import make_llama
    other = tmp_path / "other"
    other.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(make_llama("llama_mha_tied") / name, other / name)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TOKENIZER_TEXT[::-1]] * 2, trainers.BpeTrainer(
        vocab_size=311, special_tokens=PHI_STYLE_SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tok.save(str(other / "tokenizer.json"))
    (other / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|endoftext|>",
        "chat_template": llama_cpp_templates()["microsoft-Phi-3.5-mini-instruct.jinja"]}))
    spec = tmp_path / "spec.toml"
    spec.write_text(spec_text(qwen3_chat, "fixed.h5", f"""
[[models]]
name = "other"
path = "{other}"
[[benchmarks]]
path = "{bench['gsm8k']}"
max_new_tokens = 8
min_delta = 0.01
chat = {{ options = {{ enable_thinking = false }} }}
""").replace('name = "chat"', 'name = "chat"\nmode = "fixed-set"\nreference = "qwen3"'))
    r = mpirun(clrp_bin, 2, spec)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    rows, explained = read_evaluations(tmp_path / "fixed.h5"), read_store(tmp_path / "fixed.h5")
    frm = Tokenizer.from_file(str(qwen3_chat / "tokenizer.json"))
    to_hf = AutoTokenizer.from_pretrained(str(other))
    prompts = {json.loads(l)["id"]: "".join(s["text"] for s in json.loads(l)["segments"])
               for l in bench["gsm8k"].read_text().splitlines()}
    carried = 0
    for (table, cid), row in rows.items():
        if not table.startswith("qwen3/") or row["outcome"] != 1:
            continue
        rendered = to_hf.apply_chat_template([{"role": "user", "content": prompts[cid]}], tokenize=False,
                                             add_generation_prompt=True)
        assert rendered.startswith("<|user|>\n") and rendered.endswith("<|assistant|>\n")
        expected = carried_chat(rendered, row["detail"]["pair"], frm, tok)
        got = explained.get(("other/final/gsm8k", cid))
        if isinstance(expected, str):
            assert got is None, (cid, expected)
            continue
        tokens, wrong, correct = expected
        assert got is not None, cid
        assert got["tokens"].tolist() == tokens, cid
        assert (int(got["wrong_id"]), int(got["correct_id"])) == (wrong, correct), cid
        assert (got["token_segment"] == 8).sum() >= 4  # <|user|>\n ... <|end|>\n<|assistant|>\n
        carried += 1
    assert carried >= 3, carried
