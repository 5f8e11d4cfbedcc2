"""`clrp graph --interventions`: attribution graphs tested against the model (docs/graphs.md,
"Interventions").

- On a constructed model in which Δℓ is linear in every hidden state (RMSNorm with an epsilon so large
  that its scale is a constant in float32, query and key projections zero so attention is uniform, the MLP's down
  projection zero), zeroing a node changes Δℓ by exactly minus its relevance under the rules whose
  gradient is then the true one — CP-LRP and gradient × input: predicted equals measured to float
  rounding (≤ 1e-4 absolute; measured ≤ 2e-6) and the correlation is 1. AttnLRP hands attention's values
  half the gradient: on that model its predictions through attention are off by design, and the test
  says so.
- On SmolLM2-135M (the shipped GGUF, dequantised by transformers, fp32 eager attention) the measured
  changes equal a transformers forward with the same hidden state zeroed by hooks (the embedding
  output, a layer's output) within 1e-3 (measured ≤ 3e-5), and the kept
  share equals its definition recomputed from the graph JSON's edges.
"""
from __future__ import annotations

import functools
import json
import subprocess

import numpy as np
import pytest
import torch
import transformers

from tiny_models import FIXTURES, LLAMA_BASE, ensure_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT = "Which of these is a mammal? A. shark B. whale C. trout D. eel. Answer:"  # tiny tokenizer text
SMOL_PROMPT = "Which planet is known as the Red Planet? A. Venus B. Mars C. Jupiter\nAnswer:"


def make_linear_llama():
    """A Llama in which Δℓ is linear in every hidden state: RMSNorm weights 1e6 against eps 1e12 (the
    norm multiplies by 1e6 / sqrt(mean(x²) + 1e12), exactly 1 in float32 for states of order one), q
    and k projections zero (uniform causal attention), down projections zero (no MLP)."""
    out = FIXTURES / "llama_linear_v2"
    if (out / "config.json").exists():
        ensure_tokenizer(out, LLAMA_BASE["vocab_size"])
        return out
    torch.manual_seed(20261207)
    config = transformers.LlamaConfig(**{**LLAMA_BASE, "rms_norm_eps": 1e12})
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n:
                p.fill_(1e6)
            elif any(k in n for k in ("q_proj", "k_proj", "down_proj")):
                p.zero_()
            else:
                p.normal_(0.0, 0.08)
    tmp = out.with_suffix(".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    ensure_tokenizer(tmp, config.vocab_size)
    tmp.rename(out)
    return out


def graph(clrp_bin, tmp_path, model, *options, prompt, name="g"):
    out = tmp_path / f"{name}.json"
    r = subprocess.run([str(clrp_bin), "--threads", "1", "graph", "--model", str(model), "--prompt", prompt,
                        *options, "--json", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text()), r.stdout


@pytest.mark.parametrize("rule", ["cp-lrp", "grad-x-input"])
def test_linear_model_predicts_exactly(clrp_bin, tmp_path, rule):
    g, stdout = graph(clrp_bin, tmp_path, make_linear_llama(), "--rule", rule, "--correct", " B",
                      "--interventions", "64", "--node-threshold", "0.001", "--mass", "0.99", prompt=PROMPT)
    t = g["clrp"]["interventions"]
    assert len(t["nodes"]) >= 16
    assert {n["layer"][:3] for n in t["nodes"]} == {"emb", "out"}  # mid nodes repeat the out ones
    positions = {n["position"] for n in t["nodes"]}
    assert len(positions) > 3 and not positions & {0, g["clrp"]["position"]}
    predicted = np.array([n["predicted"] for n in t["nodes"]])
    measured = np.array([n["measured"] for n in t["nodes"]])
    np.testing.assert_allclose(predicted, [-n["relevance"] for n in t["nodes"]], rtol=1e-6)
    np.testing.assert_allclose(measured, predicted, atol=1e-4)
    assert t["correlation"] == pytest.approx(1.0, abs=1e-6)
    assert t["baseline"] == pytest.approx(g["clrp"]["target"], rel=1e-5)
    assert f"interventions: {len(t['nodes'])} nodes" in stdout and t["seconds"] > 0


def test_attnlrp_on_the_linear_model_halves_what_goes_through_values(clrp_bin, tmp_path):
    """AttnLRP's uniform rule gives attention's values half the gradient: nodes at the explained position
    of the last layers reach Δℓ mostly through the residual and stay close; nodes at other positions
    reach it only through attention and are predicted at about half."""
    g, _ = graph(clrp_bin, tmp_path, make_linear_llama(), "--rule", "attnlrp", "--correct", " B",
                 "--interventions", "24", "--node-threshold", "0.001", prompt=PROMPT)
    t = g["clrp"]["interventions"]
    p = g["clrp"]["position"]
    off = [n for n in t["nodes"] if n["position"] != p and abs(n["measured"]) > 1e-3]
    assert off, "no tested node away from the explained position"
    ratios = [n["predicted"] / n["measured"] for n in off]
    assert all(0 < r < 0.9 for r in ratios), ratios


# --- SmolLM2 against transformers ------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def smollm2_reference(path: str):
    import pathlib
    p = pathlib.Path(path)
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(p.parent), gguf_file=p.name, dtype="float32", attn_implementation="eager").eval()


def zeroed_delta(model, ids, wrong, correct, layer_name: str, position: int) -> float:
    """Δℓ at the last token with one hidden state zeroed, by hooks on transformers' Llama modules:
    the embedding's output or a decoder layer's output."""
    def zero(t):
        t[0, position].zero_()

    handles = []
    if layer_name == "emb":
        handles.append(model.model.embed_tokens.register_forward_hook(lambda m, a, o: zero(o)))
    elif layer_name.startswith("out"):
        layer = model.model.layers[int(layer_name[3:])]
        handles.append(layer.register_forward_hook(
            lambda m, a, o: zero(o[0] if isinstance(o, tuple) else o)))
    try:
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].double()
    finally:
        for h in handles:
            h.remove()
    return float(logits[wrong] - logits[correct])


def test_smollm2_measured_changes_equal_transformers(clrp_bin, smollm2_gguf, tmp_path):
    g, stdout = graph(clrp_bin, tmp_path, smollm2_gguf, "--correct", " C", "--interventions", "12",
                      prompt=SMOL_PROMPT)
    c = g["clrp"]
    t = c["interventions"]
    ids, wrong, correct = c["ids"], c["wrong"]["id"], c["correct"]["id"]
    model = smollm2_reference(str(smollm2_gguf))
    clean = zeroed_delta(model, ids, wrong, correct, "none", 0)
    assert t["baseline"] == pytest.approx(clean, abs=1e-3)
    worst = 0.0
    for n in t["nodes"]:
        reference = zeroed_delta(model, ids, wrong, correct, n["layer"], n["position"]) - clean
        worst = max(worst, abs(n["measured"] - reference))
    assert worst < 1e-3, worst
    assert {n["layer"][:3] for n in t["nodes"]} <= {"emb", "out"} and len(t["nodes"]) == 12
    assert np.isfinite(t["correlation"]) and -1 <= t["correlation"] <= 1
    print(f"SmolLM2: r = {t['correlation']:.3f}, kept share {t['kept_share']:.3f}, "
          f"worst |measured − transformers| {worst:.2e}")

    # The kept share from its definition, on the JSON's own relevance and links.
    names = [layer["name"] for layer in c["node_layers"]]
    rel = np.array(c["relevance"], dtype=np.float64)
    node_of = {n["node_id"]: n for n in g["nodes"]}
    row_to_layer = {str(layer["row"]) if layer["name"] != "emb" else "E": k
                    for k, layer in enumerate(c["node_layers"])}
    edges = {}
    for link in g["links"]:
        s, d = node_of[link["source"]], node_of[link["target"]]
        if d["feature_type"] == "logit":
            continue
        ks, kd = row_to_layer[str(s["layer"])], row_to_layer[str(d["layer"])]
        edges.setdefault(ks, []).append((s["ctx_idx"], d["ctx_idx"], link["weight"]))
    top = len(names) - 1
    traced = np.zeros(rel.shape[1])
    traced[c["position"]] = rel[top, c["position"]]
    for k in range(top - 1, -1, -1):
        below = np.zeros_like(traced)
        for s, d, w in edges.get(k, []):
            below[s] += w * traced[d] / rel[k + 1, d]
        traced = below
    assert t["kept_share"] == pytest.approx(traced.sum() / c["target"], rel=1e-4, abs=1e-5)
