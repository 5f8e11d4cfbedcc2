"""`clrp predict --json` contract and values against transformers (tiny Llama with its tokenizer.json)."""
from __future__ import annotations

import json
import subprocess

import pytest
import torch
import transformers

from tiny_models import load_reference, make_llama

PROMPTS = ["The quick brown fox", "Question: What is the capital of France? Answer:", "12 + 30 = 42. A."]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_predict_json_equals_transformers(prompt, clrp_bin):
    path = make_llama("llama_gqa_untied")
    out = subprocess.run([str(clrp_bin), "predict", "--model", str(path), "--prompt", prompt, "--top-k", "5", "--json"],
                         check=True, capture_output=True, text=True).stdout
    got = json.loads(out)
    assert set(got) == {"ids", "top"}
    assert all(set(t) == {"id", "token", "logit", "prob"} for t in got["top"])
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))
    ids = tok(prompt)["input_ids"]
    assert got["ids"] == ids
    with torch.no_grad():
        logits = load_reference(path)(torch.tensor([ids])).logits[0, -1]
    probs = logits.softmax(-1)
    top = torch.topk(logits, 5)
    assert [t["id"] for t in got["top"]] == top.indices.tolist()
    for t in got["top"]:
        assert abs(t["logit"] - logits[t["id"]].item()) <= 1e-4
        assert abs(t["prob"] - probs[t["id"]].item()) <= 1e-6
        assert t["token"] == tok.decode([t["id"]])


def test_predict_chat_uses_the_template(clrp_bin, smollm2_gguf):
    """--chat wraps the prompt in SmolLM2's ChatML template (system turn included)."""
    out = subprocess.run([str(clrp_bin), "predict", "--prompt", "Hi", "--chat", "--json"],
                         check=True, capture_output=True, text=True).stdout
    chat_ids = json.loads(out)["ids"]
    toks = json.loads(subprocess.run([str(clrp_bin), "tokenize", "--text", "Hi", "--chat", "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    assert chat_ids == toks["ids"]
    text = "".join(toks["tokens"])
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
