"""Verifies a clrp store against the checksums it was written with (docs/store.md, "Checksums").

An independent implementation of src/store/checksum.cpp in numpy, used by the report before it
reads a store (a damaged store is refused, not plotted) and by the tests as the C++ writer's oracle:

* a row's digest: h = mix(row ^ SALT); for each little-endian 8-byte word of the row (the last one
  zero-padded): h = rotl(h ^ word, 29) * K; digest = mix(h ^ row_bytes); mix is MurmurHash3's
  64-bit finaliser;
* a block of rows is summarised by the sum of its rows' digests, mod 2^64;
* per table, dataset `checksums` [blocks, counters + datasets] holds each commit's counter ends then
  each dataset's sum (names in the attributes `checksum_columns` and `checksum_counters`); datasets
  written whole (/aggregate, pairs_not_carried) carry the digest of their bytes, seed 0, in `checksum`.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_K = np.uint64(0x9E3779B97F4A7C15)
_SALT = np.uint64(0x636C72702D636B31)
_S33, _S29, _S35 = np.uint64(33), np.uint64(29), np.uint64(35)
_PIECE_BYTES = 32 << 20


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def row_digests(rows: np.ndarray, first_row: int) -> np.ndarray:
    """Digests of the rows of a [n, row_bytes] uint8 array whose first row has index `first_row`."""
    n, width = rows.shape
    pad = (-width) % 8
    if pad:
        rows = np.concatenate([rows, np.zeros((n, pad), np.uint8)], axis=1)
    words = np.ascontiguousarray(rows).view("<u8")
    with np.errstate(over="ignore"):
        h = _mix(np.arange(first_row, first_row + n, dtype=np.uint64) ^ _SALT)
        for j in range(words.shape[1]):
            h = h ^ words[:, j]
            h = (h << _S29) | (h >> _S35)
            h = h * _K
        return _mix(h ^ np.uint64(width))


def digest(data: bytes, seed: int = 0) -> int:
    """The digest of one run of bytes (a dataset written whole: seed 0)."""
    return int(row_digests(np.frombuffer(data, np.uint8).reshape(1, len(data)), seed)[0])


def _raw(dataset: h5py.Dataset, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a dataset as a [rows, row_bytes] uint8 array of their bytes."""
    a = np.ascontiguousarray(dataset[start:stop])
    return np.frombuffer(a.tobytes(), np.uint8).reshape(stop - start, -1)


def _sum_rows(dataset: h5py.Dataset, start: int, stop: int) -> int:
    row_bytes = dataset.dtype.itemsize * int(np.prod(dataset.shape[1:], dtype=np.int64))
    step = max(1, _PIECE_BYTES // max(1, row_bytes))
    total = np.uint64(0)
    with np.errstate(over="ignore"):
        for at in range(start, stop, step):
            end = min(stop, at + step)
            total = total + np.sum(row_digests(_raw(dataset, at, end), at), dtype=np.uint64)
    return int(total)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def verify_table(g: h5py.Group) -> list[str]:
    """What of one table disagrees with its checksums (empty: intact)."""
    if "checksums" not in g:
        return [f"{g.name}: no checksum record"]
    names = json.loads(_text(g.attrs["checksum_columns"]))
    counters = json.loads(_text(g.attrs["checksum_counters"]))
    n_counters = len(names) - len(counters)
    datasets = names[n_counters:]
    blocks = int(g.attrs["committed_checksum_blocks"])
    record = g["checksums"][:blocks].astype(np.uint64)
    out = []
    attrs = {"cases_end": "committed_rows", "tokens_end": "committed_tokens",
             "id_bytes_end": "committed_id_bytes", "graph_nodes_end": "committed_graph_nodes",
             "graph_edges_end": "committed_graph_edges", "evaluations_end": "committed_evaluations",
             "evaluation_id_bytes_end": "committed_evaluation_id_bytes",
             "evaluation_detail_bytes_end": "committed_evaluation_detail_bytes"}
    last = record[-1, :n_counters] if blocks else np.zeros(n_counters, np.uint64)
    for k, name in enumerate(names[:n_counters]):
        have = int(g.attrs.get(attrs[name], 0))
        if have != int(last[k]):
            out.append(f"{g.name}: attribute {attrs[name]} is {have}, the last checksum block says {int(last[k])}")
    for b in range(blocks):
        begin = record[b - 1, :n_counters] if b else np.zeros(n_counters, np.uint64)
        end = record[b, :n_counters]
        if np.any(end < begin):
            out.append(f"{g.name}: commit block {b} ends before it begins")
            continue
        for c, (name, counter) in enumerate(zip(datasets, counters)):
            k = names.index(counter)
            lo, hi = int(begin[k]), int(end[k])
            if hi == lo:
                continue
            try:
                ok = _sum_rows(g[name], lo, hi) == int(record[b, n_counters + c])
            except Exception as e:  # noqa: BLE001 - an unreadable dataset is damage too
                out.append(f"{g.name}: commit block {b}: {name} rows [{lo}, {hi}) cannot be read: {e}")
                continue
            if not ok:
                out.append(f"{g.name}: commit block {b}: {name} rows [{lo}, {hi}) do not match their checksum")
    if "pairs_not_carried" in g:
        d = g["pairs_not_carried"]
        if "checksum" not in d.attrs or digest(d[()].tobytes()) != int(d.attrs["checksum"]):
            out.append(f"{g.name}/pairs_not_carried does not match its checksum")
    return out


def verify_store(path: str) -> list[str]:
    """Every finding of damage in a store: committed rows per table, then /aggregate."""
    out: list[str] = []
    with h5py.File(path, "r") as f:
        schema = _text(f.attrs.get("schema", b""))
        if schema != "clrp-store/3":
            return [f"schema is '{schema}', not clrp-store/3 (no checksums to verify)"]
        tables = []
        if "runs" in f:
            f["runs"].visititems(lambda name, obj: tables.append(obj)
                                 if isinstance(obj, h5py.Group) and "cases" in obj else None)
        for g in tables:
            out += verify_table(g)
        if "aggregate" in f:
            def check(name, obj):
                if not isinstance(obj, h5py.Dataset):
                    return
                data = np.ascontiguousarray(obj[()]).tobytes()
                if "checksum" not in obj.attrs or digest(data) != int(obj.attrs["checksum"]):
                    out.append(f"/aggregate/{name} does not match its checksum")
            f["aggregate"].visititems(check)
    return out
