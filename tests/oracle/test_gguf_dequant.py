"""clrp's GGUF reader and dequantisation against gguf-py (the reference).

For every tensor of a GGUF file, clrp's float32 values (written by the
`clrp_dump_tensors` test tool) must equal `gguf.quants.dequantize` bit for bit
(≤ 1e-6 absolute where an fp rounding order might differ), shapes must be GGUF's
ne[] reversed, and every metadata value must match gguf-py's reader.
Covered: the embedded SmolLM2 Q4_1 file, the Gemma-3 270M Q4_K_M file (when its
package is installed), and synthetic files for every supported tensor type.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as QT  # noqa: E402
from gguf import GGUFValueType as VT  # noqa: E402
from gguf.quants import dequantize, quantize  # noqa: E402

ATOL = 1e-6

# Byte positions of the fp16 scale fields inside one block, per quantised type.
FP16_FIELDS = {
    QT.Q4_0: [0],
    QT.Q4_1: [0, 2],
    QT.Q5_0: [0],
    QT.Q5_1: [0, 2],
    QT.Q8_0: [0],
    QT.Q2_K: [80, 82],
    QT.Q3_K: [108],
    QT.Q4_K: [0, 2],
    QT.Q5_K: [0, 2],
    QT.Q6_K: [208],
}
INTEGER_TYPES = {QT.I8, QT.I16, QT.I32, QT.I64}
QUANTISABLE = [QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0]  # gguf-py can quantise these


def _dump(tool: Path, model: Path, out: Path, names: list[str] | None = None):
    cmd = [str(tool), str(model), str(out), *(names or [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stderr}"
    index = json.loads((out / "index.json").read_text())
    raw = out / "data.f32"
    data = (np.memmap(raw, dtype=np.float32, mode="r") if raw.stat().st_size
            else np.zeros(0, np.float32))
    return index, data


def _assert_same_values(name: str, got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape, f"{name}: {got.shape} vs {ref.shape}"
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    assert np.array_equal(nan_got, nan_ref), f"{name}: NaNs differ"
    ok = ~nan_ref
    g, r = got[ok], ref[ok]
    if np.array_equal(g.view(np.uint32), r.view(np.uint32)):
        return
    finite = np.isfinite(r)
    assert np.array_equal(g[~finite], r[~finite]), f"{name}: infinities differ"
    diff = np.abs(g[finite].astype(np.float64) - r[finite].astype(np.float64))
    worst = int(np.argmax(diff))
    assert diff[worst] <= ATOL, (
        f"{name}: max |clrp - gguf-py| = {diff[worst]:.3g} at flat index {worst} "
        f"(clrp {g[finite][worst]!r}, gguf-py {r[finite][worst]!r})")


def _field_value(field):
    """A reader field's value as plain Python (strings decoded; None when not UTF-8)."""
    def scalar(part, vtype):
        if vtype == VT.STRING:
            try:
                return bytes(part).decode("utf-8")
            except UnicodeDecodeError:
                return None
        v = part[0]
        if vtype == VT.BOOL:
            return bool(v)
        if vtype in (VT.FLOAT32, VT.FLOAT64):
            return float(v)
        return int(v)

    vtype = field.types[0]
    if vtype == VT.ARRAY:
        sub = field.types[-1]
        return [scalar(field.parts[i], sub) for i in field.data]
    return scalar(field.parts[field.data[0]], vtype)


def _values_equal(ours, ref) -> bool:
    if ref is None:  # not UTF-8: clrp keeps the bytes, JSON shows them replaced
        return True
    if isinstance(ref, list):
        return isinstance(ours, list) and len(ours) == len(ref) and all(
            _values_equal(a, b) for a, b in zip(ours, ref))
    if isinstance(ref, float):
        return ours == ref or (math.isnan(ref) and ours is None)
    return ours == ref


def compare_file(tool: Path, path: Path, out: Path) -> dict:
    """Checks every tensor and metadata value of `path`; returns counts per type."""
    reader = gguf.GGUFReader(path)
    index, data = _dump(tool, path, out)

    assert index["version"] == int(reader.fields["GGUF.version"].parts[-1][0])
    assert index["alignment"] == reader.alignment
    assert index["data_offset"] == reader.data_offset

    meta = index["metadata"]
    ref_keys = {k for k in reader.fields if not k.startswith("GGUF.")}
    assert set(meta) == ref_keys
    for key in ref_keys:
        ref = _field_value(reader.fields[key])
        assert _values_equal(meta[key], ref), f"metadata {key}: {str(meta[key])[:200]} vs {str(ref)[:200]}"

    ours = {t["name"]: t for t in index["tensors"]}
    assert list(ours) == [t.name for t in reader.tensors]
    counts: dict[str, int] = {}
    for t in reader.tensors:
        o = ours[t.name]
        qtype = QT(t.tensor_type)
        assert o["dtype"] == qtype.name, t.name
        assert o["shape"] == [int(x) for x in reversed(t.shape.tolist())], t.name
        assert o["file_offset"] == t.data_offset, t.name
        assert o["nbytes"] == t.n_bytes, t.name
        counts[qtype.name] = counts.get(qtype.name, 0) + 1
        if qtype in INTEGER_TYPES:  # clrp lists them but converts only float types
            assert o["offset"] is None, t.name
            continue
        if qtype == QT.F64:  # gguf-py has no dequantiser for F64: a plain cast
            ref = np.asarray(t.data, dtype=np.float64).astype(np.float32).reshape(-1)
        else:
            ref = np.asarray(dequantize(t.data, qtype), dtype=np.float32).reshape(-1)
        got = np.asarray(data[o["offset"]:o["offset"] + o["numel"]])
        _assert_same_values(t.name, got, ref)
    del data
    shutil.rmtree(out)  # a real model's dump is ~4 bytes per parameter
    return counts


def _random_blocks(rng: np.random.Generator, qtype: QT, n_elements: int) -> np.ndarray:
    """Random block bytes whose fp16 scale fields are finite (incl. subnormals)."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nb = n_elements // block
    raw = rng.integers(0, 256, size=(nb, size), dtype=np.uint8)
    for pos in FP16_FIELDS[qtype]:
        bits = rng.integers(0, 1 << 16, size=nb, dtype=np.uint32).astype(np.uint16)
        exp = (bits >> 10) & 0x1F
        bits = np.where(exp == 0x1F, bits & 0x83FF, bits).astype(np.uint16)  # no inf/nan
        bits[: min(nb, 2)] = [0x0000, 0x0001][: min(nb, 2)]  # zero and the smallest subnormal
        raw[:, pos:pos + 2] = bits.view(np.uint8).reshape(nb, 2)
    return raw.reshape(-1)


def _write_synthetic(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("test.seed", seed)
    w.add_float32("test.f32", 0.1)
    w.add_float64("test.f64", -2.5e-300)
    w.add_bool("test.flag", True)
    w.add_int64("test.i64", -(1 << 50))
    w.add_string("test.text", "héllo ∑")
    w.add_array("test.strings", ["a", "", "Ġthe", "<0x0A>"])
    w.add_array("test.ints", [1, -2, 3])
    w.add_array("test.floats", [0.5, -1.25])

    shapes = [(256,), (3, 512), (2, 2, 256), (2, 1, 2, 256)]
    for i, shape in enumerate(shapes):
        x = (rng.standard_normal(shape) * (1 + i)).astype(np.float32)
        w.add_tensor(f"f32.{i}", x)
        w.add_tensor(f"f16.{i}", x.astype(np.float16))
        w.add_tensor(f"f64.{i}", x.astype(np.float64) / 3)
        bf = gguf.quants.quantize(x, QT.BF16)
        w.add_tensor(f"bf16.{i}", bf, raw_shape=bf.shape, raw_dtype=QT.BF16)
        for qt in QUANTISABLE:
            q = quantize(x, qt)
            w.add_tensor(f"{qt.name}.quantised.{i}", q, raw_shape=q.shape, raw_dtype=qt)
        for qt in FP16_FIELDS:
            n = int(np.prod(shape))
            raw = _random_blocks(rng, qt, n)
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, qt)
            w.add_tensor(f"{qt.name}.random.{i}", raw.reshape(byte_shape), raw_shape=byte_shape,
                         raw_dtype=qt)
    # Every finite fp16 bit pattern, and the special ones, through F16 conversion.
    allbits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    w.add_tensor("f16.allbits", allbits.view(np.float16))
    w.add_tensor("i32.plain", np.arange(8, dtype=np.int32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_synthetic_every_type(gguf_dump_tool, tmp_path):
    path = tmp_path / "synthetic.gguf"
    _write_synthetic(path, seed=1234)
    counts = compare_file(gguf_dump_tool, path, tmp_path / "dump")
    expected = {"F32", "F16", "BF16", "F64", "I32"} | {qt.name for qt in FP16_FIELDS}
    assert set(counts) == expected


def test_synthetic_named_tensors_only(gguf_dump_tool, tmp_path):
    path = tmp_path / "synthetic.gguf"
    _write_synthetic(path, seed=7)
    index, data = _dump(gguf_dump_tool, path, tmp_path / "dump", ["Q6_K.random.1", "f32.0"])
    assert [t["name"] for t in index["tensors"]] == ["f32.0", "Q6_K.random.1"]
    assert index["tensors"][1]["shape"] == [3, 512]
    assert data.size == 256 + 3 * 512


def test_smollm2_q4_1_every_tensor(smollm2_gguf, gguf_dump_tool, tmp_path):
    counts = compare_file(gguf_dump_tool, smollm2_gguf, tmp_path / "dump")
    assert counts.get("Q4_1", 0) > 100, counts


def test_gemma3_q4_k_m_every_tensor(gguf_gemma3_path, gguf_dump_tool, tmp_path):
    counts = compare_file(gguf_dump_tool, gguf_gemma3_path, tmp_path / "dump")
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0"} <= set(counts), counts


def test_dump_tool_reports_bad_file(gguf_dump_tool, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x01\x00\x00\x00" + bytes(16))
    proc = subprocess.run([str(gguf_dump_tool), str(bad), str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert str(bad) in proc.stderr and "byte offset 4" in proc.stderr and "version 1" in proc.stderr

