"""Bad model inputs through the real CLI: a clear message naming the file and
the field or byte offset, exit status 2 (clrp::Error), never a crash.

Each case corrupts one thing of a valid tiny Llama model directory (made by
tiny_models.py) or of the shipped GGUF, and runs `clrp model-info` or
`clrp predict` on it.
"""
from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest

from tiny_models import make_llama


def run_clrp(clrp_bin, *args):
    return subprocess.run([str(clrp_bin), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture()
def model_dir(tmp_path):
    src = make_llama("llama_gqa_untied")
    dst = tmp_path / "model"
    shutil.copytree(src, dst)
    return dst


def edit_config(model_dir, **changes):
    cfg = json.loads((model_dir / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (model_dir / "config.json").write_text(json.dumps(cfg))


def expect_error(result, *fragments):
    assert result.returncode == 2, f"exit {result.returncode}, stderr: {result.stderr}"
    assert result.stderr.startswith("clrp: error: "), result.stderr
    for f in fragments:
        assert f in result.stderr, f"{f!r} not in {result.stderr!r}"


def weights_file(model_dir):
    return model_dir / "model.safetensors"


def test_valid_model_works(clrp_bin, model_dir):
    r = run_clrp(clrp_bin, "model-info", "--model", model_dir, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["family"] == "llama" and info["layers"] == 4 and info["kv_heads"] == 2


def test_missing_config_key(clrp_bin, model_dir):
    edit_config(model_dir, hidden_size=None)
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "config.json", "'hidden_size'", "missing")


def test_wrong_config_type(clrp_bin, model_dir):
    edit_config(model_dir, num_hidden_layers="four")
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "'num_hidden_layers'", "integer")


def test_unknown_architecture(clrp_bin, model_dir):
    edit_config(model_dir, model_type="mamba")
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "'model_type'", "mamba")


def test_unsupported_rope_scaling(clrp_bin, model_dir):
    edit_config(model_dir, rope_scaling={"rope_type": "yarn", "factor": 4.0})
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "'rope_scaling.rope_type'", "yarn")


def test_heads_do_not_divide(clrp_bin, model_dir):
    edit_config(model_dir, num_key_value_heads=3)
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "'num_key_value_heads'")


@pytest.mark.parametrize("key, value, fragment", [
    ("num_hidden_layers", 2 ** 40, "must lie in 1..4096"),  # was: internal error std::bad_alloc
    ("num_hidden_layers", 0, "must lie in 1..4096"),
    ("max_position_embeddings", -5, "max_position_embeddings"),  # was: printed without complaint
    ("hidden_size", 2 ** 33, "hidden_size"),
    ("vocab_size", 2 ** 40, "vocab_size"),
])
def test_absurd_sizes_are_refused_by_key(clrp_bin, model_dir, key, value, fragment):
    """Sizes past any real model's (or not positive) are refused before anything is sized by them."""
    edit_config(model_dir, **{key: value})
    r = run_clrp(clrp_bin, "model-info", "--model", model_dir)
    expect_error(r, "config.json", f"'{key}'", fragment)
    assert "internal error" not in r.stderr


def test_thread_count_is_bounded(clrp_bin, model_dir):
    r = run_clrp(clrp_bin, "--threads", "100000", "model-info", "--model", model_dir)
    assert r.returncode != 0 and "--threads" in r.stderr and "1024" in r.stderr, r.stderr


def test_config_not_json(clrp_bin, model_dir):
    (model_dir / "config.json").write_text('{"model_type": "llama",')
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "config.json", "byte offset", "invalid JSON")


def test_shape_disagrees_with_config(clrp_bin, model_dir):
    edit_config(model_dir, intermediate_size=128)
    expect_error(run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "hi"),
                 "model.safetensors", "mlp.gate_proj.weight", "shape")


def test_missing_tensor(clrp_bin, model_dir):
    edit_config(model_dir, num_hidden_layers=5)
    expect_error(run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "hi"),
                 "model.layers.4.input_layernorm.weight", "missing")


def test_truncated_safetensors(clrp_bin, model_dir):
    data = weights_file(model_dir).read_bytes()
    weights_file(model_dir).write_bytes(data[: len(data) // 2])
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "model.safetensors", "past the end")


def test_safetensors_header_length_past_end(clrp_bin, model_dir):
    data = bytearray(weights_file(model_dir).read_bytes())
    data[:8] = struct.pack("<Q", len(data) * 4)
    weights_file(model_dir).write_bytes(bytes(data))
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "byte offset 0", "header length")


def test_safetensors_unknown_dtype(clrp_bin, model_dir):
    data = weights_file(model_dir).read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = data[8:8 + n].replace(b'"F32"', b'"F99"', 1)
    weights_file(model_dir).write_bytes(data[:8] + header + data[8 + n:])
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), ".dtype'", "F99")


def test_malformed_tokenizer_json(clrp_bin, model_dir, tmp_path):
    tok = tmp_path / "tokenizer.json"
    tok.write_text('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}')
    shutil.copy(tok, model_dir / "tokenizer.json")
    r = run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "hi")
    expect_error(r, "tokenizer.json", "merges")


def test_pickled_weights_refused(clrp_bin, tmp_path):
    d = tmp_path / "pickled"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    r = run_clrp(clrp_bin, "model-info", "--model", d)
    assert r.returncode == 2 and "pickled" in r.stderr, r.stderr


def test_pickled_file_given_directly(clrp_bin, tmp_path):
    f = tmp_path / "model.pt"
    f.write_bytes(b"\x80\x04")
    expect_error(run_clrp(clrp_bin, "model-info", "--model", f), "model.pt", "pickled", "safetensors")


def test_truncated_gguf(clrp_bin, smollm2_gguf, tmp_path):
    bad = tmp_path / "truncated.gguf"
    with open(smollm2_gguf, "rb") as f:
        bad.write_bytes(f.read(100_000))
    expect_error(run_clrp(clrp_bin, "model-info", "--model", bad), "truncated.gguf", "byte offset")


def test_missing_model_path(clrp_bin, tmp_path):
    expect_error(run_clrp(clrp_bin, "model-info", "--model", tmp_path / "nope"), "does not exist")


def test_empty_prompt(clrp_bin, model_dir, tmp_path):
    expect_error(run_clrp(clrp_bin, "predict", "--prompt", ""), "prompt is empty")
