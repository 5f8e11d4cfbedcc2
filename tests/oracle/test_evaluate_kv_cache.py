"""Incremental decoding with clrp's KV cache equals full recomputation (≤ 1e-4), on tiny
models of every family (sliding windows, learned positions, parallel residual, q/k norms)
and on SmolLM2-135M. The comparison itself is the C++ test KvCache.* in clrp_unit_tests;
this test builds the models and hands it their paths."""
from __future__ import annotations

from tiny_models import make_family
from unit_tests import run_unit_tests

VARIANTS = ["llama_gqa_untied", "llama_rope_llama3", "qwen2_swa", "qwen3", "mistral", "olmo2",
            "olmo3", "gemma3_swa16", "gpt_neox_parallel", "gpt2"]


def test_kv_cache_equals_full_recomputation(smollm2_gguf):
    paths = [make_family(name) for name in VARIANTS] + [smollm2_gguf]
    run_unit_tests("KvCache.*", "CLRP_KV_CACHE_MODELS", paths, expected=2)
