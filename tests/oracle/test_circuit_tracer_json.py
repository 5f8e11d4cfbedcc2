"""circuit_tracer_json: circuit-tracer's own graph models accept the hand-built
minimal graph and reject broken variants (only rejections the models enforce are
asserted as pydantic errors; the frontend checks are clrp's, see the module)."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pydantic
import pytest

import circuit_tracer_json as ctj


def test_minimal_example_validates(tmp_path):
    graph = ctj.minimal_example()
    model = ctj.validate(graph)
    assert isinstance(model, ctj.graph_models.Model)
    assert [n.layer for n in model.nodes] == ["E", "E", "1", "2", "3"]
    assert model.metadata.schema_version == 1
    # the same graph from a file, written the way clrp would (no NaN allowed)
    path = tmp_path / "g.json"
    path.write_text(json.dumps(graph, allow_nan=False))
    assert ctj.validate(path).model_dump() == model.model_dump()
    # and it survives circuit-tracer's own serialization round trip
    assert ctj.validate(json.loads(model.model_dump_json())).model_dump() == model.model_dump()


def test_circuit_tracer_factories_agree_with_minimal_example():
    """Nodes built by circuit-tracer's own factories pass the same validation."""
    graph = ctj.minimal_example()
    Node = ctj.graph_models.Node
    emb = Node.token_node(pos=1, vocab_idx=464).model_dump()
    logit = Node.logit_node(pos=1, vocab_idx=1000, token="logit( cat)-logit( dog)", num_layers=2,
                            target_logit=True, token_prob=0.42).model_dump()
    assert emb["node_id"] == "E_464_1" and emb["layer"] == "E" and emb["feature"] == 1
    assert logit["node_id"] == "3_1000_1" and logit["layer"] == "3"
    assert logit["clerp"] == graph["nodes"][-1]["clerp"]
    graph["nodes"][1] = emb
    graph["nodes"][-1] = logit
    ctj.validate(graph)


def test_missing_node_field_rejected():
    graph = ctj.minimal_example()
    del graph["nodes"][2]["feature_type"]
    with pytest.raises(pydantic.ValidationError, match="feature_type"):
        ctj.validate(graph)
    graph = ctj.minimal_example()
    del graph["metadata"]["transcoder_list"]  # required by circuit-tracer's Metadata
    with pytest.raises(pydantic.ValidationError, match="transcoder_list"):
        ctj.validate(graph)


def test_wrong_types_rejected():
    graph = ctj.minimal_example()
    graph["nodes"][2]["layer"] = 1  # must be a string, even in pydantic's lax mode
    with pytest.raises(pydantic.ValidationError, match="layer"):
        ctj.validate(graph, strict=False)
    graph = ctj.minimal_example()
    graph["nodes"][2]["feature"] = 1.5
    with pytest.raises(pydantic.ValidationError, match="feature"):
        ctj.validate(graph, strict=False)
    graph = ctj.minimal_example()
    graph["nodes"][2]["ctx_idx"] = "1"  # lax mode would coerce this; strict does not
    assert ctj.validate(graph, strict=False).nodes[2].ctx_idx == 1
    with pytest.raises(pydantic.ValidationError, match="ctx_idx"):
        ctj.validate(graph)
    graph = ctj.minimal_example()
    graph["links"][0]["weight"] = "big"  # Model.links is list[dict]; the Link model checks it
    ctj.graph_models.Model.model_validate(graph)
    with pytest.raises(pydantic.ValidationError, match="weight"):
        ctj.validate(graph)


def test_link_to_unknown_node_rejected_by_frontend_check_only():
    graph = ctj.minimal_example()
    graph["links"].append({"source": "E_1_0", "target": "9_9_9", "weight": 1.0})
    # circuit-tracer's models do not check link endpoints ...
    ctj.validate(graph, frontend_checks=False)
    # ... the frontend would silently drop the link; clrp's check rejects it
    with pytest.raises(ctj.GraphJSONError, match="9_9_9"):
        ctj.validate(graph)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda g: g["nodes"][2].update(layer="0.5"), "layer"),
        (lambda g: g["nodes"][2].update(ctx_idx=2), "ctx_idx"),
        (lambda g: g["nodes"][-1].update(clerp="Δlogit"), "p="),
        (lambda g: g["nodes"][3].update(node_id="1_0_1"), "duplicate"),
        (lambda g: g["metadata"].update(prompt_tokens=["<bos>"]), "2/3"),
        (lambda g: g["links"][0].update(weight=float("nan")), "non-finite"),
    ],
)
def test_frontend_checks(mutate, message):
    graph = ctj.minimal_example()
    if message == "2/3":
        for n in graph["nodes"]:
            n["ctx_idx"] = 0
    mutate(graph)
    with pytest.raises(ctj.GraphJSONError, match=message):
        ctj.validate(graph)


def test_nan_in_file_rejected(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(ctj.minimal_example()).replace('"weight": 2.0', '"weight": NaN'))
    with pytest.raises(ctj.GraphJSONError, match="NaN"):
        ctj.validate(path)


def test_import_is_light():
    """Importing the oracle pulls neither torch nor circuit-tracer's heavy dependencies."""
    here = pathlib.Path(__file__).resolve().parent
    code = (
        "import sys; sys.path.insert(0, %r); import circuit_tracer_json; "
        "print(sorted(m for m in ('torch', 'transformers', 'transformer_lens', 'nnsight', 'einops') "
        "if m in sys.modules))" % str(here)
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
