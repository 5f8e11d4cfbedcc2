"""Incremental decoding with clrp's KV cache equals full recomputation (≤ 1e-4), one
sequence at a time and as batched steps of sequences of different lengths (forward_step,
forks of a shared prefix, rows joining and leaving), on tiny models of every family
(sliding windows, learned positions, parallel residual, q/k norms) and on SmolLM2-135M. The comparison itself is the C++ test KvCache.* in clrp_unit_tests;
this test builds the models and hands it their paths."""
from __future__ import annotations

from tiny_models import make_family
from unit_tests import run_unit_tests

VARIANTS = ["llama_gqa_untied", "llama_rope_llama3", "qwen2_swa", "qwen3", "mistral", "olmo2",
            "olmo3", "gemma3_swa16", "gpt_neox_parallel", "gpt2"]


def test_kv_cache_equals_full_recomputation(smollm2_gguf):
    paths = [make_family(name) for name in VARIANTS] + [smollm2_gguf]
    run_unit_tests("KvCache.*", "CLRP_KV_CACHE_MODELS", paths, expected=3)


def test_batched_generation_equals_one_at_a_time(tmp_path):
    """clrp evaluate with answers decoded together (--batch 8, prompts from a shared prefix's
    cache) generates, token for token, what it generates one case at a time from scratch, on a
    tiny model of every family (GSM8K 1-shot prompts: 300–500 tokens sharing the example)."""
    import json
    import subprocess
    import sys

    from conftest import REPO, build_dir
    subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(tmp_path),
                    "--benchmarks", "gsm8k", "--limit", "6", "--shots", "gsm8k=1"], check=True, capture_output=True)
    cases = tmp_path / "gsm8k.generative.jsonl"
    for name in VARIANTS:
        model = make_family(name)
        out = {}
        for label, extra in (("one", ["--batch", "1", "--no-prefix-cache"]), ("batched", ["--batch", "8"])):
            records = tmp_path / f"{name}.{label}.jsonl"
            r = subprocess.run([str(build_dir() / "clrp"), "--threads", "1", "evaluate", "--model", str(model),
                                "--cases", str(cases), "--records", str(records), "--record-ids", "--no-pairs",
                                "--max-new-tokens", "12", *extra], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            out[label] = [json.loads(line) for line in records.read_text().splitlines()]
        generated = [r.get("generated") for r in out["one"]]
        assert sum(g is not None for g in generated) >= 3, (name, out["one"])  # most prompts fit the context
        assert [r.get("generated") for r in out["batched"]] == generated, name
        assert [r.get("error") for r in out["batched"]] == [r.get("error") for r in out["one"]], name
