"""Damaged stores are found, named and redone (docs/store.md, "Checksums"; issue 24).

A finished store of the tiny-model campaign is copied and damaged: bytes flipped at random offsets
over the whole file, and one flip inside the stored bytes of every dataset (found with h5py's
storage offsets). Whenever what h5py reads differs from the clean store (a flip in unused space
changes nothing and may pass), `clrp inspect` must exit non-zero naming the store, the independent
numpy verifier (analysis/clrp_report/verify.py) must report it, and on a sample `clrp run --resume`
must not exit 0. `--resume --redo-damaged` on damaged rows must end with the numbers of the
undamaged run; numpy and C++ agree on every checksum of a clean store.
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from test_campaign import assert_same, mpirun, read_store, reference_store  # noqa: F401 (a fixture)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "analysis"))
from clrp_report.verify import verify_store  # noqa: E402


def content(path: pathlib.Path):
    """Every dataset's bytes and every attribute of the file as h5py reads them; None when it cannot."""
    out = {}
    try:
        with h5py.File(path, "r") as f:
            def visit(name, obj):
                for k, v in obj.attrs.items():
                    out[f"{name}@{k}"] = np.asarray(v).tobytes()
                if isinstance(obj, h5py.Dataset):
                    out[name] = (obj.shape, np.ascontiguousarray(obj[()]).tobytes())
            for k, v in f.attrs.items():
                out[f"@{k}"] = np.asarray(v).tobytes()
            f.visititems(visit)
    except Exception:  # noqa: BLE001 - any failure to read is a difference
        return None
    return out


def stored_ranges(path: pathlib.Path) -> list[tuple[str, int, int]]:
    """(dataset, file offset, bytes) of every dataset's first stored chunk (or contiguous data)."""
    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset) or obj.size == 0:
                return
            if obj.chunks is None:
                off = obj.id.get_offset()
                if off is not None:
                    out.append((name, off, obj.id.get_storage_size()))
                return
            info = obj.id.get_chunk_info(0)
            # Only bytes of committed rows count: a chunk is larger than the rows it holds.
            rows = obj.shape[0] if obj.shape else 1
            row_bytes = obj.dtype.itemsize * int(np.prod(obj.shape[1:], dtype=np.int64))
            out.append((name, info.byte_offset, min(info.size, max(1, min(rows, obj.chunks[0])) * row_bytes)))
        f.visititems(visit)
    return out


def flip(src: pathlib.Path, dst: pathlib.Path, offsets: list[int], rng: np.random.Generator):
    shutil.copyfile(src, dst)
    data = bytearray(dst.read_bytes())
    for o in offsets:
        data[o] ^= int(rng.integers(1, 256))
    dst.write_bytes(bytes(data))


def inspect(clrp_bin, path):
    return subprocess.run([str(clrp_bin), "inspect", str(path)], capture_output=True, text=True, timeout=120)


def numpy_finds_damage(path) -> bool:
    try:
        return bool(verify_store(str(path)))
    except Exception:  # noqa: BLE001 - an unreadable store is found out too
        return True


@pytest.fixture(scope="module")
def finished(reference_store) -> pathlib.Path:
    """The tiny campaign's finished store (one rank, batches of two cases: several commit blocks per
    table), beside the spec that wrote it; the tests damage copies of it."""
    return reference_store


def test_numpy_and_cpp_checksums_agree(finished, clrp_bin):
    assert verify_store(str(finished)) == []
    r = inspect(clrp_bin, finished)
    assert r.returncode == 0, r.stderr
    with h5py.File(finished) as f:
        blocks = [int(g.attrs["committed_checksum_blocks"]) for m in f["runs"].values()
                  for c in m.values() for g in c.values()]
    assert min(blocks) >= 2  # batches of two: the test covers more than one block per table


def test_all_metadata_sits_under_hdf5_checksums(finished):
    """No link or attribute in HDF5's "dense" storage: its fractal-heap blocks carry no checksum,
    and a byte flipped there made HDF5 itself crash while `clrp inspect` listed the aggregates
    (found by tests/fuzz/fuzz_store). Every object keeps them in its checksummed header."""
    dense = []
    with h5py.File(finished) as f:
        def visit(name, obj):
            m = h5py.h5o.get_info(obj.id).meta_size
            # A group's "obj" sizes are its dense link storage; a dataset's are its chunk index.
            links = isinstance(obj, h5py.Group) and (m.obj.heap_size or m.obj.index_size)
            if links or m.attr.heap_size or m.attr.index_size:
                dense.append(name)
        visit("/", f)
        f.visititems(visit)
        big_groups = [n for n in f["runs/tiny/final"].values() if len(n) > 8]
    assert big_groups, "no group past HDF5's 8 compact links: the test would show nothing"
    assert dense == []


def test_flips_are_never_reported_clean(finished, clrp_bin, tmp_path):
    clean = content(finished)
    assert clean is not None
    size = finished.stat().st_size
    rng = np.random.default_rng(24)
    trials = [("random", [int(rng.integers(0, size))]) for _ in range(40)]
    trials += [("random x3", [int(x) for x in rng.integers(0, size, 3)]) for _ in range(8)]
    trials += [(name, [off + int(rng.integers(0, n))]) for name, off, n in stored_ranges(finished)]
    changed = 0
    for i, (what, offsets) in enumerate(trials):
        dst = tmp_path / f"flip{i}.h5"
        flip(finished, dst, offsets, rng)
        r = inspect(clrp_bin, dst)
        assert r.returncode in (0, 2), f"{what} at {offsets}: crashed ({r.returncode}): {r.stderr[-2000:]}"
        if content(dst) == clean:
            dst.unlink()
            continue  # unused bytes: nothing to find
        changed += 1
        assert r.returncode == 2 and str(dst) in r.stderr, \
            f"{what} at {offsets} changed the store but inspect said:\n{r.stdout[-800:]}{r.stderr[-800:]}"
        assert numpy_finds_damage(dst), f"{what} at {offsets}: the numpy verifier found nothing"
        dst.unlink()
    assert changed >= len(trials) // 2, f"only {changed} of {len(trials)} flips changed the store"


def damage_rows(src: pathlib.Path, dst: pathlib.Path, dataset: str, row: int):
    """Flips one byte of row `row` of `dataset` of the first table, in the file."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r") as f:
        g = next(g for m in f["runs"].values() for c in m.values() for g in c.values())
        d = g[dataset]
        row_bytes = d.dtype.itemsize * int(np.prod(d.shape[1:], dtype=np.int64))
        chunk_rows = d.chunks[0]
        info = d.id.get_chunk_info_by_coord((row // chunk_rows * chunk_rows,) + (0,) * (d.ndim - 1))
        offset = info.byte_offset + (row % chunk_rows) * row_bytes
        table = g.name
    with open(dst, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0x40]))
    return table


def test_resume_refuses_damaged_rows_and_redoes_them(finished, clrp_bin, tiny_model, failures, tmp_path):
    spec, store = finished.parent / "spec.toml", tmp_path / "store.h5"
    with h5py.File(finished) as f:
        g = next(g for m in f["runs"].values() for c in m.values() for g in c.values())
        rows = int(g.attrs["committed_tokens"])
    table = damage_rows(finished, store, "token_relevance", rows // 2)
    r = mpirun(clrp_bin, 1, spec, "--resume", "--store", store)
    assert r.returncode != 0 and "complete" not in r.stdout, r.stdout + r.stderr
    assert str(store) in r.stderr and "damaged" in r.stderr and table in r.stderr, r.stderr
    assert "token_relevance rows [" in r.stderr and "--redo-damaged" in r.stderr, r.stderr
    assert numpy_finds_damage(store)
    r = mpirun(clrp_bin, 1, spec, "--resume", "--redo-damaged", "--store", store)
    assert r.returncode == 0 and "complete" in r.stdout, r.stdout + r.stderr
    assert f"redo: {table}" in r.stdout, r.stdout
    assert verify_store(str(store)) == []
    assert_same(read_store(finished), read_store(store))
    assert inspect(clrp_bin, store).returncode == 0


def test_resume_never_builds_on_damage(finished, clrp_bin, tiny_model, failures, tmp_path):
    """A flip in the rows of every kind of dataset, and one in the checksum record: --resume refuses."""
    spec, store = finished.parent / "spec.toml", tmp_path / "store.h5"
    for dataset in ("cases", "case_id", "tokens", "layer_relevance", "graph_edge_weight",
                    "faithfulness_delta", "checksums"):
        damage_rows(finished, store, dataset, 1)
        r = mpirun(clrp_bin, 1, spec, "--resume", "--store", store)
        assert r.returncode != 0 and "complete" not in r.stdout, f"{dataset}: {r.stdout}{r.stderr}"
        assert "damaged" in r.stderr and str(store) in r.stderr, f"{dataset}: {r.stderr}"


def test_damaged_aggregate_is_rewritten_and_said(finished, clrp_bin, tiny_model, failures, tmp_path):
    spec, store = finished.parent / "spec.toml", tmp_path / "store.h5"
    shutil.copyfile(finished, store)
    with h5py.File(store, "r") as f:
        name = "delta_stats"
        g = next(a for m in f["aggregate"].values() for c in m.values() for a in c.values())
        offset, path = g[name].id.get_offset(), g[name].name
    with open(store, "r+b") as fh:
        fh.seek(offset + 9)
        b = fh.read(1)
        fh.seek(offset + 9)
        fh.write(bytes([b[0] ^ 1]))
    r = inspect(clrp_bin, store)
    assert r.returncode == 2 and path in r.stderr and "--resume" in r.stderr, r.stderr
    r = mpirun(clrp_bin, 1, spec, "--resume", "--store", store)
    assert r.returncode == 0 and f"redo: {path}" in r.stdout, r.stdout + r.stderr
    assert inspect(clrp_bin, store).returncode == 0


def test_a_cut_tail_names_the_store(finished, clrp_bin, tmp_path):
    store = tmp_path / "cut.h5"
    data = finished.read_bytes()
    for keep in (len(data) - 1000, len(data) // 2, 4096):
        store.write_bytes(data[:keep])
        r = inspect(clrp_bin, store)
        assert r.returncode == 2 and str(store) in r.stderr, (keep, r.stderr)
