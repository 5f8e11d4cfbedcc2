"""analysis/train_series.py (issue 23, item 2), its small version: two sizes, a few steps.

Checked: the series is bit-reproducible from its seed (every file's sha256 equal in two runs, one
of them training the sizes in parallel processes),
checkpoints are saved where clrp's checkpoint sweeps look (`<size>/step<N>/`), and clrp reads
every checkpoint as transformers does — the tokenizer's ids equal `tokenizers`' and the
forward's logits equal transformers' (float32, all positions) to 1e-4.
"""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

SCRIPT = REPO / "analysis" / "train_series.py"
ARGS = ["--sizes", "s,m", "--steps", "6", "--save-every", "3", "--planted", "30", "--natural-chars", "30000"]


def train(out: pathlib.Path, *more: str) -> dict:
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *ARGS, *more], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> tuple[pathlib.Path, dict]:
    out = tmp_path_factory.mktemp("series")
    return out, train(out)


def test_the_series_is_reproducible_from_its_seed(series, tmp_path):
    """Again, with the two sizes trained at once in two processes: the same files."""
    _, first = series
    again = train(tmp_path / "again", "--parallel", "2")
    assert first["sha256"] == again["sha256"]
    assert first["checkpoints"] == {"s": ["s/step3", "s/step6"], "m": ["m/step3", "m/step6"]}
    assert len([k for k in first["sha256"] if k.endswith("model.safetensors")]) == 4


def test_clrp_reads_every_checkpoint_as_transformers(series, build_tool, clrp_bin, tmp_path):
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM

    out, manifest = series
    text = "Kuvi: 491\nWhat number goes with Kuvi?\nAnswer: 491"
    tool = build_tool("clrp_forward_logits")
    for ck in [c for cs in manifest["checkpoints"].values() for c in cs]:
        folder = out / ck
        ids = Tokenizer.from_file(str(folder / "tokenizer.json")).encode(text).ids
        r = subprocess.run([str(clrp_bin), "tokenize", "--model", str(folder), "--text", text, "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["ids"] == ids, ck
        (tmp_path / "in.jsonl").write_text(json.dumps({"ids": ids}) + "\n")
        r = subprocess.run([str(tool), str(folder), str(tmp_path / "in.jsonl"), str(tmp_path / "out.f32"),
                            "--all-positions"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with torch.no_grad():
            want = LlamaForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)(
                torch.tensor([ids])).logits[0].numpy()
        got = np.fromfile(tmp_path / "out.f32", dtype=np.float32).reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=ck)
