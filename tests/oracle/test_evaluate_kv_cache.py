"""Incremental decoding with clrp's KV cache equals full recomputation (≤ 1e-4), on tiny
models of every family (sliding windows, learned positions, parallel residual, q/k norms)
and on SmolLM2-135M. The comparison itself is the C++ test KvCache.* in clrp_unit_tests;
this test builds the models and hands it their paths."""
from __future__ import annotations

import os
import subprocess

from conftest import build_dir
from tiny_models import make_family

VARIANTS = ["llama_gqa_untied", "llama_rope_llama3", "qwen2_swa", "qwen3", "mistral", "olmo2",
            "olmo3", "gemma3_swa16", "gpt_neox_parallel", "gpt2"]


def test_kv_cache_equals_full_recomputation(smollm2_gguf):
    paths = [str(make_family(name)) for name in VARIANTS] + [str(smollm2_gguf)]
    env = dict(os.environ, CLRP_KV_CACHE_MODELS=":".join(paths))
    r = subprocess.run([str(build_dir() / "tests" / "clrp_unit_tests"), "--gtest_filter=KvCache.*"],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "[  PASSED  ] 2 tests" in r.stdout, r.stdout[-2000:]
    assert "SKIPPED" not in r.stdout
