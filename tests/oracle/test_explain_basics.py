"""`clrp explain` checks that need no LXT: grad × input against torch autograd
on transformers (the reference), CP-LRP conservation, and the JSON contract.
The AttnLRP and CP-LRP comparisons against LXT live in test_lrp_lxt.py."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
import transformers

from tiny_models import load_reference, make_llama
from numeric import rel_l2

PROMPTS = ["Question: What is the capital of France? Answer:", "The quick brown fox jumps over the lazy dog. 12 + 30 ="]


def explain(clrp_bin, model, prompt, correct, rule, tmp_path, wrong=None):
    out = tmp_path / f"{rule}.json"
    cmd = [str(clrp_bin), "explain", "--model", str(model), "--prompt", prompt, "--correct", correct,
           "--rule", rule, "--json", str(out)]
    if wrong:
        cmd += ["--wrong", wrong]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())



@pytest.mark.parametrize("variant", ["llama_gqa_untied", "llama_mha_tied", "llama_rope_llama3"])
@pytest.mark.parametrize("prompt", PROMPTS)
def test_grad_x_input_equals_autograd(variant, prompt, clrp_bin, tmp_path):
    path = make_llama(variant)
    got = explain(clrp_bin, path, prompt, " Paris", "grad-x-input", tmp_path)
    ref = load_reference(path)
    for p in ref.parameters():
        p.requires_grad_(False)
    ids = torch.tensor([got["ids"]])
    emb = ref.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = ref(inputs_embeds=emb).logits[0, -1]
    delta = logits[got["wrong"]["id"]] - logits[got["correct"]["id"]]
    (grad,) = torch.autograd.grad(delta, emb)
    want = (emb * grad).sum(-1)[0].detach().numpy()
    assert abs(got["target"] - delta.item()) <= 1e-4 * max(1.0, abs(delta.item()))
    err = rel_l2(got["token_relevance"], want)
    assert err <= 1e-5, f"relative L2 error {err:.2e}"


@pytest.mark.parametrize("variant", ["llama_gqa_untied", "llama_mha_tied", "llama_head_dim"])
def test_cp_lrp_is_conservative(variant, clrp_bin, tmp_path):
    """Without biases every CP-LRP rule is conservative: the input-level sum equals Δℓ, and so does every layer's."""
    got = explain(clrp_bin, make_llama(variant), PROMPTS[0], " Paris", "cp-lrp", tmp_path)
    target = got["target"]
    assert abs(got["conservation"]) <= 1e-4
    assert abs(sum(got["token_relevance"]) - target) <= 1e-4 * abs(target)
    for layer in got["layer_relevance"] + got["mid_relevance"]:
        assert abs(sum(layer) - target) <= 1e-4 * abs(target)


def test_explain_json_contract(clrp_bin, tmp_path):
    got = explain(clrp_bin, make_llama("llama_gqa_untied"), PROMPTS[0], " Paris", "attnlrp", tmp_path, wrong=" the")
    for key in ["tokens", "ids", "token_relevance", "wrong", "correct", "target", "rule", "conservation",
                "layer_relevance"]:
        assert key in got
    assert len(got["tokens"]) == len(got["ids"]) == len(got["token_relevance"])
    assert got["rule"] == "attnlrp"
    assert got["target"] == pytest.approx(got["wrong"]["logit"] - got["correct"]["logit"], abs=1e-4)
    assert len(got["layer_relevance"]) == 4 and all(len(r) == len(got["ids"]) for r in got["layer_relevance"])


@pytest.mark.parametrize("args,fragment", [
    (["--prompt", "", "--correct", " Paris"], "prompt is empty"),
    (["--prompt", "Hi", "--correct", " Paris", "--wrong", " Paris"], "are the same"),
    (["--prompt", "Hi", "--correct", " Paris", "--wrong", " Paris is"], "no token differs"),
    (["--prompt", "Hi", "--correct", ""], "--correct is empty"),
    (["--prompt", "Hi", "--correct", " x", "--rule", "lime"], "lime"),
])
def test_explain_bad_input(args, fragment, clrp_bin):
    r = subprocess.run([str(clrp_bin), "explain", "--model", str(make_llama("llama_gqa_untied")), *args],
                       capture_output=True, text=True)
    assert r.returncode != 0 and fragment in r.stderr, r.stderr


def test_non_finite_activations_are_an_error(clrp_bin, tmp_path):
    """A checkpoint whose weights overflow the activations gives a clear error, not NaN relevance."""
    import shutil

    import safetensors.torch
    import torch

    src = make_llama("llama_gqa_untied")
    dst = tmp_path / "overflow"
    shutil.copytree(src, dst)
    weights = safetensors.torch.load_file(dst / "model.safetensors")
    # Finite weights (non-finite ones are refused at load, test_hostile_model_files.py) whose
    # products overflow float32 in the forward.
    weights["model.layers.1.mlp.down_proj.weight"] = torch.full_like(weights["model.layers.1.mlp.down_proj.weight"],
                                                                     3e38)
    safetensors.torch.save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
    for cmd in (["explain", "--correct", " Paris"], ["predict"]):
        r = subprocess.run([str(clrp_bin), cmd[0], "--model", str(dst), "--prompt", "Question: capital?", *cmd[1:]],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "non-finite" in r.stderr, r.stderr
