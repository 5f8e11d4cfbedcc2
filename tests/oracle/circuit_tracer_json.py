"""circuit-tracer's own graph models as the oracle for clrp's attribution-graph JSON.

The graph JSON read by circuit-tracer's frontend (and uploaded to Neuronpedia) is
defined by the pydantic v2 models in ``circuit_tracer/frontend/graph_models.py``
of the ``circuit-tracer`` package (0.5.0, installed ``--no-deps``, see
scripts/requirements-nodeps.txt). ``validate`` loads a graph with those models.

Importing ``circuit_tracer.frontend.graph_models`` the ordinary way is light: the
package's top-level ``__init__`` only reads its version and imports ``attribute`` /
``Graph`` / ``ReplacementModel`` lazily (module ``__getattr__``), and
``circuit_tracer.frontend.__init__`` imports ``local_server``, which uses the
standard library only. So the import needs pydantic alone, and none of the
declared heavy dependencies (transformer-lens, nnsight, einops, torch) is
imported; no importlib-by-path workaround is needed (the test checks this).

What the models enforce, and what they do not:

* ``Model.model_validate`` checks the metadata, qParams and every node (types,
  required fields). It does NOT check links: ``Model.links`` is ``list[dict]``, so
  ``validate`` also runs every link through the package's own ``Link`` model.
* pydantic's default (lax) mode coerces "5" to 5 for ``int`` fields; ``validate``
  runs in strict mode by default, so clrp must write JSON numbers as numbers.
  ``Node`` overrides ``__init__`` (to default ``jsNodeId`` to ``node_id``), and
  pydantic then validates nested nodes through that ``__init__`` in lax mode even
  under ``model_validate(..., strict=True)``; so in strict mode every node is also
  validated by ``_StrictNode``, a subclass of the package's ``Node`` that changes
  nothing but ``strict=True``. Either way ``layer`` must be a JSON string ("E",
  "3"): pydantic v2 never turns an int into a str.
* Unknown keys are ignored (pydantic's default ``extra="ignore"``), so extra
  metadata such as Neuronpedia's ``info`` / ``generation_settings`` pass.

With ``frontend_checks=True`` (the default) ``validate`` also checks what the
models leave out but the frontend (``frontend/assets/attribution_graph/util-cg.js``
``formatData`` and ``init-cg-link-graph.js``) needs to draw the graph; those are
clrp's checks, not circuit-tracer's, and raise ``GraphJSONError``:

* node ids are unique and every link's source/target is a node id (the frontend
  silently drops dangling links);
* ``layer`` is "E" or a decimal integer (rows are a d3 band scale over integer
  stream indices ``+layer + 1``; a fractional layer puts the node at NaN);
* ``0 <= ctx_idx < len(prompt_tokens)``;
* a non-empty logit ``clerp`` contains ``(p=<number>)`` (the frontend parses it
  with ``clerp.split('(p=')[1]`` and throws otherwise);
* no more than 2/3·len(prompt_tokens) nodes share ``(layer, feature, ctx_idx)``
  (the frontend deletes such "too common features"; with a one-token prompt that
  is every node);
* the JSON has no NaN / Infinity (browsers' ``JSON.parse`` rejects them).
"""
from __future__ import annotations

import collections
import copy
import json
import math
import os
import pathlib
import re
from typing import Any

import pydantic
from circuit_tracer.frontend import graph_models

__all__ = ["GraphJSONError", "graph_models", "load_json", "minimal_example", "validate"]


class GraphJSONError(ValueError):
    """A graph the models accept but circuit-tracer's frontend cannot render."""


class _StrictNode(graph_models.Node):
    """circuit-tracer's Node, validated strictly (see the module docstring)."""

    model_config = pydantic.ConfigDict(strict=True)


def _reject_constant(name: str) -> Any:
    raise GraphJSONError(f"graph JSON contains {name}, which JSON.parse rejects")


def load_json(path_or_dict: str | os.PathLike | dict) -> dict:
    """The graph as a dict: a dict is returned as is, a path is read as JSON."""
    if isinstance(path_or_dict, dict):
        try:
            json.dumps(path_or_dict, allow_nan=False)
        except ValueError as exc:
            raise GraphJSONError(f"graph contains a non-finite number: {exc}") from exc
        return path_or_dict
    text = pathlib.Path(path_or_dict).read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=_reject_constant)
    if not isinstance(data, dict):
        raise GraphJSONError(f"graph JSON must be an object, got {type(data).__name__}")
    return data


_LOGIT_P = re.compile(r"\(p=([-+0-9.eE]+)\)")


def _frontend_checks(model: graph_models.Model) -> None:
    n_tokens = len(model.metadata.prompt_tokens)
    ids = collections.Counter(n.node_id for n in model.nodes)
    dup = [i for i, c in ids.items() if c > 1]
    if dup:
        raise GraphJSONError(f"duplicate node_id(s): {dup[:5]}")
    for n in model.nodes:
        if n.layer != "E" and not re.fullmatch(r"-?[0-9]+", n.layer):
            raise GraphJSONError(f"node {n.node_id}: layer {n.layer!r} is neither 'E' nor an integer")
        if not 0 <= n.ctx_idx < n_tokens:
            raise GraphJSONError(f"node {n.node_id}: ctx_idx {n.ctx_idx} outside 0..{n_tokens - 1}")
        if n.feature_type == "logit" and n.clerp:
            m = _LOGIT_P.search(n.clerp)
            if not m or not math.isfinite(float(m.group(1))):
                raise GraphJSONError(f"logit node {n.node_id}: clerp {n.clerp!r} lacks '(p=<number>)'")
    groups = collections.Counter((n.layer, n.feature, n.ctx_idx) for n in model.nodes)
    for key, count in groups.items():
        if count > n_tokens * 2 / 3:
            raise GraphJSONError(
                f"{count} nodes share (layer, feature, ctx_idx)={key}; the frontend deletes "
                f"groups larger than 2/3 of the {n_tokens} prompt tokens"
            )
    for i, link in enumerate(model.links):
        for end in ("source", "target"):
            if link[end] not in ids:
                raise GraphJSONError(f"link {i}: {end} {link[end]!r} is not a node_id")


def validate(
    path_or_dict: str | os.PathLike | dict, *, strict: bool = True, frontend_checks: bool = True
) -> graph_models.Model:
    """Loads a graph JSON (path or dict) with circuit-tracer's own models.

    Raises pydantic.ValidationError where the package's models reject the graph
    (metadata, qParams, nodes, and each link via ``graph_models.Link``), and
    GraphJSONError for the frontend checks described in the module docstring.
    Both are ValueErrors. Returns the ``graph_models.Model``.
    """
    data = load_json(path_or_dict)
    model = graph_models.Model.model_validate(data, strict=strict)
    if strict:
        for node in data["nodes"]:
            _StrictNode(**node)
    for link in model.links:
        graph_models.Link.model_validate(link, strict=strict)
    if frontend_checks:
        _frontend_checks(model)
    return model


def minimal_example() -> dict:
    """A small valid graph, built by hand in clrp's hidden-state layout.

    Prompt "<bos> The" (2 tokens), a 1-layer model: embedding nodes (layer "E"),
    layer 0's residual after attention ("mid", layer "1") and after the MLP
    ("out", layer "2"), and one logit node for the logit difference (layer "3",
    a virtual vocab index as circuit-tracer uses for custom targets).
    """
    def node(node_id, feature, layer, ctx_idx, feature_type, clerp, influence, **extra):
        return {
            "node_id": node_id,
            "feature": feature,
            "layer": layer,
            "ctx_idx": ctx_idx,
            "feature_type": feature_type,
            "token_prob": 0.0,
            "is_target_logit": False,
            "run_idx": 0,
            "reverse_ctx_idx": 0,
            "jsNodeId": node_id,
            "clerp": clerp,
            "influence": influence,
            "activation": None,
            **extra,
        }

    vocab_size = 1000
    nodes = [
        node("E_1_0", 0, "E", 0, "embedding", "", 0.95),
        node("E_464_1", 1, "E", 1, "embedding", "", 0.75),
        node("1_0_1", 1, "1", 1, "residual stream", "L0 mid", 0.35),
        node("2_0_1", 1, "2", 1, "residual stream", "L0 out", 0.2),
        node(
            f"3_{vocab_size}_1", vocab_size, "3", 1, "logit",
            'Output "logit( cat)-logit( dog)" (p=0.420)', None,
            token_prob=0.42, is_target_logit=True,
        ),
    ]
    links = [
        {"source": "E_1_0", "target": "1_0_1", "weight": 0.25},
        {"source": "E_464_1", "target": "1_0_1", "weight": 1.5},
        {"source": "E_464_1", "target": "2_0_1", "weight": 0.5},
        {"source": "1_0_1", "target": "2_0_1", "weight": 1.25},
        {"source": "2_0_1", "target": f"3_{vocab_size}_1", "weight": 2.0},
    ]
    return copy.deepcopy({
        "metadata": {
            "slug": "clrp-minimal",
            "scan": "clrp-test-model",
            "transcoder_list": [],
            "prompt_tokens": ["<bos>", " The"],
            "prompt": "<bos> The",
            "node_threshold": 0.8,
            "schema_version": 1,
        },
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": nodes,
        "links": links,
    })
