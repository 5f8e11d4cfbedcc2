"""Hostile and careless model files (issue 24), through the real CLI, held to
the reference readers' strictness:

- safetensors: what the `safetensors` library refuses (a repeated tensor name,
  an unreferenced hole in the data section, bytes after the last tensor, ...)
  clrp refuses too, naming the file, the tensor and the byte offset; files the
  library writes are still read.
- GGUF: the tensor data laid out as llama.cpp's gguf loader requires (in
  directory order, each tensor at the previous one's end padded to
  `general.alignment`, the first at 0, inside the file).
- NaN/inf weights: refused at load, naming the tensor, not only as
  "non-finite values in the model's logits" later.
- tokenizer.json normalizers: output bounded by 64 x input + 4 KiB, checked per
  step, so 20 doubling Replace steps fail fast instead of eating gigabytes.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy
import safetensors.torch
import torch

from tiny_models import make_llama


def run_clrp(clrp_bin, *args, timeout=120):
    return subprocess.run([str(clrp_bin), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def expect_error(result, *fragments):
    assert result.returncode == 2, f"exit {result.returncode}, stderr: {result.stderr}"
    assert result.stderr.startswith("clrp: error: "), result.stderr
    for f in fragments:
        assert f in result.stderr, f"{f!r} not in {result.stderr!r}"


@pytest.fixture()
def model_dir(tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(make_llama("llama_gqa_untied"), dst)
    return dst


# --- safetensors ----------------------------------------------------------------


def split_file(path):
    """(header entries as (name, entry) in file order, metadata or None, data bytes)."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    return list(header.items()), meta, raw[8 + n:]


def join_file(entries, meta, data):
    """Header text written by hand, so that a name may repeat."""
    parts = [] if meta is None else ['"__metadata__":' + json.dumps(meta)]
    parts += [json.dumps(name) + ":" + json.dumps(entry) for name, entry in entries]
    header = ("{" + ",".join(parts) + "}").encode()
    return struct.pack("<Q", len(header)) + header + data


def library_refuses(data: bytes, *fragments):
    with pytest.raises(safetensors.SafetensorError) as e:
        safetensors.numpy.load(data)
    for f in fragments:
        assert f in str(e.value), str(e.value)


def data_order(entries):
    return sorted(range(len(entries)), key=lambda i: tuple(entries[i][1]["data_offsets"]))


def test_duplicate_tensor_name(clrp_bin, model_dir):
    """A second entry named like tensor A but pointing at tensor B's bytes: the
    library keeps the last (A's bytes become a hole: "invalid offset"); nlohmann
    kept the last too, silently. clrp names the repeated key and where it is."""
    path = model_dir / "model.safetensors"
    entries, meta, data = split_file(path)
    order = data_order(entries)
    a, b = entries[order[0]], entries[order[1]]
    entries.append((a[0], b[1]))
    bad = join_file(entries, meta, data)
    library_refuses(bad, "invalid offset")
    path.write_bytes(bad)
    header_len = struct.unpack("<Q", bad[:8])[0]
    second = bad.rindex(json.dumps(a[0]).encode(), 8, 8 + header_len)
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir),
                 "model.safetensors", f"byte offset {second}", f"field '{a[0]}'", "duplicate key")


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_unreferenced_bytes_in_the_data_section(clrp_bin, model_dir, where):
    """Bytes that belong to no tensor: before the first, between two (offsets
    after the hole shifted), or after the last. The library refuses each."""
    path = model_dir / "model.safetensors"
    entries, meta, data = split_file(path)
    order = data_order(entries)
    hole = 8
    cut = {"start": 0, "middle": len(order) // 2, "end": len(order)}[where]
    for rank, i in enumerate(order):
        if rank >= cut:
            begin, end = entries[i][1]["data_offsets"]
            entries[i][1]["data_offsets"] = [begin + hole, end + hole]
    at = 0 if cut == 0 else entries[order[cut - 1]][1]["data_offsets"][1]
    bad = join_file(entries, meta, data[:at] + b"\0" * hole + data[at:])
    library_refuses(bad, "incomplete metadata" if where == "end" else "invalid offset")
    path.write_bytes(bad)
    r = run_clrp(clrp_bin, "model-info", "--model", model_dir)
    named = entries[order[min(cut, len(order) - 1)] if where != "end" else order[-1]][0]
    data_start = 8 + struct.unpack("<Q", bad[:8])[0]
    expect_error(r, "model.safetensors", "belong to no tensor", f"'{named}.data_offsets'")
    if where != "end":
        assert f"bytes [{at}, {at + hole})" in r.stderr and f"byte offset {data_start + at + hole}" in r.stderr
    else:
        assert f"byte offset {data_start + at}" in r.stderr


def test_overlapping_tensors(clrp_bin, model_dir):
    path = model_dir / "model.safetensors"
    entries, meta, data = split_file(path)
    order = data_order(entries)
    # Two same-sized tensors made to share bytes; the data section shrinks to match.
    sizes = {}
    for i in order:
        begin, end = entries[i][1]["data_offsets"]
        sizes.setdefault(end - begin, []).append(i)
    i, j = next(v for v in sizes.values() if len(v) >= 2)[:2]
    entries[j][1]["data_offsets"] = list(entries[i][1]["data_offsets"])
    bad = join_file(entries, meta, data)
    library_refuses(bad)
    path.write_bytes(bad)
    expect_error(run_clrp(clrp_bin, "model-info", "--model", model_dir), "model.safetensors", "overlaps")


def test_files_the_library_writes_are_read(clrp_bin, model_dir, tmp_path):
    """Re-saved by the library (its own order, metadata, an empty tensor added):
    same prediction as the original."""
    before = run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "The capital of France is")
    assert before.returncode == 0, before.stderr
    path = model_dir / "model.safetensors"
    weights = safetensors.torch.load_file(path)
    weights["zz_unused_empty"] = torch.zeros(0, 3)
    weights = dict(reversed(list(weights.items())))
    safetensors.torch.save_file(weights, path, metadata={"format": "pt", "note": "re-saved"})
    after = run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "The capital of France is")
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout


# --- GGUF -------------------------------------------------------------------------


def write_gguf(path, alignment=None):
    import gguf
    w = gguf.GGUFWriter(str(path), "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    rng = np.random.default_rng(0)
    for k, n in enumerate([5, 32, 7, 64]):
        w.add_tensor(f"t{k}", rng.standard_normal(n).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def set_offsets(path, changes: dict[str, int]):
    """Rewrites tensor data offsets in place; returns {name: byte offset of its offset field}."""
    import gguf
    r = gguf.GGUFReader(str(path), "r+")
    fields = {}
    for t in r.tensors:
        off = t.field.parts[-1]
        fields[t.name] = t.field.offset + sum(p.nbytes for p in t.field.parts[:-1])
        if t.name in changes:
            off[0] = changes[t.name]
    r.data.flush()
    del r
    return fields


def offsets_of(path):
    import gguf
    r = gguf.GGUFReader(str(path))
    return {t.name: int(t.data_offset - r.data_offset) for t in r.tensors}


@pytest.mark.parametrize("alignment", [None, 64])
def test_gguf_written_by_gguf_py_is_read(gguf_dump_tool, tmp_path, alignment):
    path = tmp_path / "ok.gguf"
    write_gguf(path, alignment)
    proc = subprocess.run([str(gguf_dump_tool), str(path), str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("case", ["swapped", "gap", "overlap", "misaligned", "past_end"])
def test_gguf_layout_violations(gguf_dump_tool, tmp_path, case):
    path = tmp_path / f"{case}.gguf"
    write_gguf(path)
    off = offsets_of(path)  # t0: 0, t1: 32, t2: 160, t3: 192 (alignment 32)
    change, name, fragments = {
        "swapped": ({"t1": off["t2"], "t2": off["t1"]}, "t1", [f"offset {off['t2']} should be {off['t1']}", "'t0'"]),
        "gap": ({"t3": off["t3"] + 32}, "t3", [f"should be {off['t3']}", "llama.cpp"]),
        "overlap": ({"t2": off["t1"]}, "t2", [f"offset {off['t1']} should be {off['t2']}"]),
        "misaligned": ({"t1": off["t1"] + 4}, "t1", ["alignment 32"]),
        "past_end": ({"t3": off["t3"] + 4096}, "t3", ["past the end"]),
    }[case]
    if case == "gap":  # room for t3 after the gap, so that only the gap is wrong
        with open(path, "ab") as f:
            f.write(b"\0" * 64)
    fields = set_offsets(path, change)
    proc = subprocess.run([str(gguf_dump_tool), str(path), str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode != 0
    for f in [str(path), f"byte offset {fields[name]}", f"'{name}'", *fragments]:
        assert f in proc.stderr, (f, proc.stderr)


# --- non-finite weights -----------------------------------------------------------


@pytest.mark.parametrize("tensor, value, shown", [
    ("model.layers.2.mlp.down_proj.weight", float("nan"), "NaN"),
    ("model.embed_tokens.weight", float("inf"), "+inf"),
    ("model.norm.weight", float("-inf"), "-inf"),
])
def test_non_finite_weight_is_named_at_load(clrp_bin, model_dir, tensor, value, shown):
    path = model_dir / "model.safetensors"
    weights = safetensors.torch.load_file(path)
    flat = weights[tensor].view(-1)
    index = flat.numel() // 3
    flat[index] = value
    safetensors.torch.save_file(weights, path, metadata={"format": "pt"})
    entries, _, _ = split_file(path)
    begin = dict(entries)[tensor]["data_offsets"][0]
    data_start = 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]
    r = run_clrp(clrp_bin, "predict", "--model", model_dir, "--prompt", "hi")
    expect_error(r, "model.safetensors", f"'{tensor}'", f"element {index} ", shown,
                 f"byte offset {data_start + begin + 4 * index}")
    assert "logits" not in r.stderr
    # CLRP_SKIP_WEIGHT_CHECK=1 turns the check off: the weight is loaded as is.
    env = dict(os.environ, CLRP_SKIP_WEIGHT_CHECK="1")
    skipped = subprocess.run([str(clrp_bin), "predict", "--model", str(model_dir), "--prompt", "hi"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert f"'{tensor}'" not in skipped.stderr, skipped.stderr


def test_non_finite_gguf_weight_is_named(clrp_bin, smollm2_gguf, tmp_path):
    """One F32 norm weight of SmolLM2's GGUF set to NaN."""
    import gguf
    bad = tmp_path / "nan.gguf"
    shutil.copy(smollm2_gguf, bad)
    r = gguf.GGUFReader(str(bad), "r+")
    t = next(t for t in r.tensors if t.name == "blk.3.attn_norm.weight")
    t.data[5] = np.nan
    r.data.flush()
    file_offset = int(t.data_offset)
    del r
    res = run_clrp(clrp_bin, "predict", "--model", bad, "--prompt", "hi")
    expect_error(res, "nan.gguf", "'blk.3.attn_norm.weight'", "element 5 ", "NaN",
                 f"byte offset {file_offset + 20}")


# --- tokenizer normalizer blow-up -------------------------------------------------


def doubling_tokenizer(tmp_path, steps, char="l"):
    """tests/data/tokenizers/tiny_bpe.json with a normalizer of `steps` Replace
    steps, each doubling `char`."""
    src = pathlib.Path(__file__).resolve().parents[1] / "data" / "tokenizers" / "tiny_bpe.json"
    tok = json.loads(src.read_text())
    tok["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": char}, "content": char * 2} for _ in range(steps)]}
    path = tmp_path / f"doubling{steps}" / "tokenizer.json"
    path.parent.mkdir()
    path.write_text(json.dumps(tok))
    return path


def test_normalizer_blow_up_fails_fast(clrp_bin, tmp_path):
    path = doubling_tokenizer(tmp_path, 20)
    text = "hello world " * 8 + "hell"  # 100 characters, 26 'l': 2^20 x 26 bytes in full
    assert len(text) == 100
    start = time.perf_counter()
    r = run_clrp(clrp_bin, "tokenize", "--model", path, "--text", text, timeout=60)
    elapsed = time.perf_counter() - start
    # Bound 64 x 100 + 4096 = 10496 bytes; after step k (0-based) 74 + 26 x 2^(k+1) bytes,
    # which passes it at k = 8.
    expect_error(r, str(path), "field 'normalizer.normalizers[8]'", "normalizer 8 (Replace)",
                 "64 x input + 4096")
    assert elapsed < 10, elapsed


def test_bounded_normalizer_matches_tokenizers(clrp_bin, tmp_path):
    """Under the bound clrp still encodes like `tokenizers` with the same file:
    the 20-step tokenizer on text without the doubled character, a 3-step one
    on text with it."""
    import tokenizers
    cases = [(doubling_tokenizer(tmp_path, 20), ["hero wed 12!", "he drew 121 words"]),
             (doubling_tokenizer(tmp_path, 3), ["hello world!", "hello   [MASK]   world", "lll 12 l"])]
    for path, texts in cases:
        ref = tokenizers.Tokenizer.from_file(str(path))
        for text in texts:
            r = run_clrp(clrp_bin, "tokenize", "--model", path, "--text", text, "--json")
            assert r.returncode == 0, r.stderr
            got = json.loads(r.stdout)
            assert got["ids"] == ref.encode(text).ids, (path, text, got)
