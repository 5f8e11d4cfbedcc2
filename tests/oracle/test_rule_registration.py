"""Adding a rule is one table entry: a rule registered at run time reaches the engine and the structured
graph builder with no other change. The checks themselves are the C++ test RuleTable.* in clrp_unit_tests
(tests/unit/test_rule_table.cpp: a copy of AttnLRP's description gives AttnLRP's relevance and graph bit for
bit; "AttnLRP with v-share 1" changes the relevance, and its structured graph equals the generic backward's
under the same rule); this test builds the tiny models and hands it their paths. The three models cover a
gated MLP with grouped-query attention (Llama), q/k/v biases with a sliding window (Qwen2, the closed form's
bias path) and a parallel residual with LayerNorm and a plain MLP (GPT-NeoX); 20 tokens each.
"""
from __future__ import annotations

from tiny_models import make_family
from unit_tests import run_unit_tests

VARIANTS = ["llama_gqa_untied", "qwen2_swa", "gpt_neox_parallel"]


def test_registered_rule_reaches_engine_and_graph():
    paths = [make_family(name) for name in VARIANTS]
    run_unit_tests("RuleTable.*", "CLRP_RULE_MODELS", paths, expected=3)
