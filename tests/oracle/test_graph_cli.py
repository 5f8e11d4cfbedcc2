"""`clrp graph` end to end: the JSON validates with circuit-tracer's own graph models and agrees with
`clrp explain`; a memory budget that forces recomputation and streamed (two-pass) pruning gives the same
graph; the HTML view renders in headless Chromium without script errors; bad input gets a clear message.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import circuit_tracer_json
from benchmark_prompts import benchmark_prompts
from tiny_models import make_llama

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def graph(clrp_bin, tmp_path, *args, name="g", check=True):
    out = tmp_path / f"{name}.json"
    r = subprocess.run([str(clrp_bin), "graph", *args, "--json", str(out)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
        return json.loads(out.read_text()), r
    return None, r


@pytest.fixture(scope="module")
def prompt():
    return next(t for t in benchmark_prompts(40, seed=3) if 250 < len(t) < 700)


def test_json_validates_and_matches_explain(clrp_bin, tmp_path, prompt):
    g, r = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B")
    circuit_tracer_json.validate(g)  # the package's own models, strict, plus what its frontend needs
    c = g["clrp"]
    names = [layer["name"] for layer in c["node_layers"]]
    assert names[:3] == ["emb", "mid0", "out0"] and names[-1] == "out29" and len(names) == 61
    # The embedding layer's node relevance is the token relevance `clrp explain` reports.
    ex = tmp_path / "e.json"
    subprocess.run([str(clrp_bin), "explain", "--prompt", prompt, "--correct", " A", "--wrong", " B", "--json",
                    str(ex)], check=True, capture_output=True)
    e = json.loads(ex.read_text())
    np.testing.assert_allclose(c["relevance"][0], e["token_relevance"], rtol=1e-5, atol=1e-6 * abs(e["target"]))
    assert c["target"] == pytest.approx(e["target"], rel=1e-6)
    # Nodes, links and the summary agree; the target's one edge weighs the last state's relevance.
    nodes = {n["node_id"]: n for n in g["nodes"]}
    target = [n for n in g["nodes"] if n["feature_type"] == "logit"]
    assert len(target) == 1 and target[0]["is_target_logit"]
    s = c["summary"]
    assert s["nodes"] == len(g["nodes"]) - 1 and s["edges"] == len(g["links"]) - 1
    into_target = [l for l in g["links"] if l["target"] == target[0]["node_id"]]
    assert len(into_target) == 1
    assert into_target[0]["weight"] == pytest.approx(c["relevance"][-1][c["position"]], rel=1e-6)
    # Every kept node reaches the target: its influence is a cumulative share in (0, 1].
    infl = [n["influence"] for n in g["nodes"] if n["feature_type"] != "logit"]
    assert all(0 < x <= 1 + 1e-9 for x in infl) and max(infl) == pytest.approx(1.0)
    assert all(l["source"] in nodes and l["target"] in nodes for l in g["links"])
    # The final relevance splits into first token, other tokens and self bias.
    assert s["first_token_share"] + s["other_tokens_share"] + s["self_bias_share"] == pytest.approx(1.0)
    assert f"{s['nodes']} nodes, {s['edges']} edges" in r.stdout
    # Which layer decided: at the last layer the relevance of each candidate alone is its logit (the
    # final RMSNorm's factor is a constant under the rules, and the unembedding is linear), and the
    # contrast is their difference, Δℓ, at every layer.
    d = c["decision"]
    assert d["wrong"][-1] == pytest.approx(c["wrong"]["logit"], rel=1e-4)
    assert d["correct"][-1] == pytest.approx(c["correct"]["logit"], rel=1e-4)
    np.testing.assert_allclose(np.subtract(d["wrong"], d["correct"]), d["contrast"], rtol=1e-5, atol=1e-5)
    assert d["contrast"][-1] == pytest.approx(c["target"], rel=1e-5)
    assert d["contrast"][0] == pytest.approx(c["relevance"][0][c["position"]], rel=1e-5)
    np.testing.assert_allclose(np.cumsum(s["wrong_increment"]), np.subtract(d["wrong"], d["wrong"][0]),
                               rtol=1e-6, atol=1e-6)


def test_memory_budget_streams_and_gives_the_same_graph(clrp_bin, tmp_path, prompt):
    free, _ = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B", name="free")
    assert "one dense transition" in free["clrp"]["plan"]
    # A budget just under the unconstrained plan's estimate: blocks are recomputed for the second
    # pruning pass and halved.
    estimate = int(re.search(r"estimate (\d+) MiB", free["clrp"]["plan"]).group(1))
    lean, _ = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B",
                    "--max-memory", f"{estimate - 1}M", name="lean")
    assert "blocks computed twice" in lean["clrp"]["plan"], lean["clrp"]["plan"]
    assert [n["node_id"] for n in free["nodes"]] == [n["node_id"] for n in lean["nodes"]]
    wf = {(l["source"], l["target"]): l["weight"] for l in free["links"]}
    wl = {(l["source"], l["target"]): l["weight"] for l in lean["links"]}
    assert wf.keys() == wl.keys()
    np.testing.assert_allclose([wl[k] for k in wf], list(wf.values()), rtol=1e-5, atol=1e-7)


def test_budget_too_small_is_refused(clrp_bin, tmp_path, prompt):
    _, r = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B", "--max-memory", "1M",
                 check=False)
    assert r.returncode == 2
    assert "--max-memory is 1 MiB" in r.stderr and "raise it" in r.stderr


def test_tied_contrast_and_empty_graph(clrp_bin, tmp_path, prompt):
    _, r = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " A", check=False)
    assert r.returncode == 2 and "nothing to contrast" in r.stderr
    _, r = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B", "--node-threshold",
                 "1e9", check=False)
    assert r.returncode == 2 and "not above the node threshold" in r.stderr
    g, r = graph(clrp_bin, tmp_path, "--prompt", prompt, "--correct", " A", "--wrong", " B", "--edge-threshold", "1e9")
    assert "no edge between hidden states survived" in r.stderr
    assert g["clrp"]["summary"]["edges"] == 0 and len(g["links"]) == 1
    circuit_tracer_json.validate(g)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is installed by scripts/bootstrap.sh")
def test_html_renders_in_headless_chromium(clrp_bin, tmp_path):
    html = tmp_path / "g.html"
    subprocess.run([str(clrp_bin), "graph", "--model", str(make_llama("llama_gqa_untied")), "--prompt",
                    'Question: What is <b>the</b> capital of "France"? Answer:', "--correct", " Paris",
                    "--html", str(html)], check=True, capture_output=True, text=True)
    page = html.read_text()
    assert "<b>the</b>" not in page  # token text travels as escaped JSON, never as markup
    r = subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                        "--v=0", "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Uncaught" not in r.stderr, r.stderr[-2000:]
    # The script sized the graph canvas and wrote the title: it ran to the end.
    m = re.search(r'<canvas id="c" width="(\d+)" height="(\d+)"', r.stdout)
    assert m and int(m.group(1)) > 100 and int(m.group(2)) > 100, r.stdout[:2000]
    assert "Why " in r.stdout
