"""Writes the seed corpus of fuzz_gguf (tests/fuzz/corpus/gguf/): small valid GGUF
files covering every metadata value type and every tensor type clrp reads.

    .venv/bin/python tests/fuzz/make_gguf_corpus.py
"""

from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

OUT = Path(__file__).resolve().parent / "corpus" / "gguf"


def write(name: str, fill, alignment: int | None = None, version: int = 3) -> None:
    path = OUT / name
    w = gguf.GGUFWriter(str(path), "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    fill(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if version != 3:  # v2 has the same little-endian layout as v3
        b = bytearray(path.read_bytes())
        b[4:8] = version.to_bytes(4, "little")
        path.write_bytes(bytes(b))


def metadata(w) -> None:
    w.add_uint8("a.u8", 7)
    w.add_int8("a.i8", -7)
    w.add_uint16("a.u16", 700)
    w.add_int16("a.i16", -700)
    w.add_uint32("a.u32", 70000)
    w.add_int32("a.i32", -70000)
    w.add_float32("a.f32", 0.5)
    w.add_bool("a.bool", True)
    w.add_uint64("a.u64", 1 << 40)
    w.add_int64("a.i64", -(1 << 40))
    w.add_float64("a.f64", 0.25)
    w.add_string("a.str", "hello")
    w.add_array("a.tokens", ["<s>", "</s>", "Ġa"])
    w.add_array("a.ints", [1, 2, 3])
    w.add_array("a.floats", [0.5, 1.5])


def plain(w) -> None:
    metadata(w)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    w.add_tensor("f32", x)
    w.add_tensor("f16", x.astype(np.float16))
    w.add_tensor("f64", x[0].astype(np.float64))
    bf = gguf.quants.quantize(x, QT.BF16)
    w.add_tensor("bf16", bf, raw_shape=bf.shape, raw_dtype=QT.BF16)
    w.add_tensor("i32", np.arange(4, dtype=np.int32))


def quants(types):
    def fill(w) -> None:
        rng = np.random.default_rng(1)
        for qt in types:
            block, size = gguf.GGML_QUANT_SIZES[qt]
            if qt in (QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0):
                q = gguf.quants.quantize(rng.standard_normal((1, block)).astype(np.float32), qt)
            else:  # one block of random bits with a small fp16 scale everywhere it may sit
                q = rng.integers(0, 256, size=(1, size), dtype=np.uint8)
                q[0, q[0] >= 0x7C] &= 0x3F  # no inf/nan exponent in any byte pair
            w.add_tensor(qt.name, q, raw_shape=q.shape, raw_dtype=qt)
    return fill


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write("plain_v3.gguf", plain)
    write("plain_v2_align64.gguf", plain, alignment=64, version=2)
    write("legacy_quants.gguf", quants([QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0]))
    write("k_quants.gguf", quants([QT.Q2_K, QT.Q3_K, QT.Q4_K, QT.Q5_K, QT.Q6_K]), alignment=8)
    write("empty.gguf", lambda w: None)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(list(OUT.iterdir()))} files, {total} bytes in {OUT}")
