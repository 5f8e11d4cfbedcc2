"""Deletion test of a store's explanations: for each case and rule, delete the k
tokens that the rule says push hardest towards the wrong token (largest signed
relevance; ties: earlier token), run the model again, and see how much Δℓ
drops; the same for k random tokens (the baseline). A faithful explanation
drops Δℓ more than chance.

Special tokens (segment −1) and the last token (where the logits are read) are
never deleted. The model runs through clrp's own forward pass
(`clrp_forward_logits`, built next to `clrp`), one process per table with
every deleted variant of every case in it, so each model loads once."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile

import h5py
import numpy as np
import pandas as pd

COLUMNS = ["model", "checkpoint", "benchmark", "case_id", "method", "k", "repeat", "delta_stored", "delta_base",
           "delta_deleted", "drop"]


def _top(rel: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((candidates, -rel[candidates]))  # largest relevance first, then earlier
    return candidates[order[:k]]


def _forward(tool: str, model: str, sequences: list[list[int]], threads: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        src, dst = pathlib.Path(d) / "in.jsonl", pathlib.Path(d) / "out.f32"
        src.write_text("".join(json.dumps({"ids": s}) + "\n" for s in sequences))
        r = subprocess.run([tool, model, str(src), str(dst)], capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        if r.returncode != 0:
            raise RuntimeError(f"{tool} failed on {model}: {r.stderr.strip()}")
        logits = np.fromfile(dst, dtype=np.float32)
    return logits.reshape(len(sequences), -1)


def run_deletion(store: str, tool: str, ks=(1, 3, 5), repeats: int = 3, seed: int = 0,
                 threads: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    with h5py.File(store, "r") as f:
        for model in f.get("runs", {}):
            for ck in f["runs"][model]:
                for bench in f["runs"][model][ck]:
                    g = f["runs"][model][ck][bench]
                    n = int(g.attrs["committed_rows"])
                    if n == 0:
                        continue
                    rules = json.loads(g.attrs["rules"])
                    path = g.attrs["checkpoint_path"]
                    path = path.decode() if isinstance(path, bytes) else str(path)
                    rows, raw = g["cases"][:n], g["case_id"][:].tobytes()
                    seqs, meta = [], []
                    for row in rows:
                        o, T = int(row["token_offset"]), int(row["n_tokens"])
                        ids = g["tokens"][o:o + T].astype(int)
                        seg = g["token_segment"][o:o + T]
                        rel = g["token_relevance"][o:o + T].astype(float)
                        cid = raw[row["id_offset"]:row["id_offset"] + row["id_length"]].decode()
                        cand = np.array([p for p in range(T - 1) if seg[p] != -1], dtype=int)
                        base = len(seqs)
                        seqs.append(ids.tolist())
                        key = dict(model=model, checkpoint=ck, benchmark=bench, case_id=cid,
                                   delta_stored=float(row["delta"]), wrong=int(row["wrong_id"]),
                                   correct=int(row["correct_id"]), base=base)
                        for k in ks:
                            if k > cand.size:
                                continue
                            for r, rule in enumerate(rules):
                                drop = set(_top(rel[:, r], cand, k).tolist())
                                seqs.append([t for p, t in enumerate(ids.tolist()) if p not in drop])
                                meta.append({**key, "method": rule, "k": k, "repeat": 0, "line": len(seqs) - 1})
                            for rep in range(repeats):
                                drop = set(rng.choice(cand, size=k, replace=False).tolist())
                                seqs.append([t for p, t in enumerate(ids.tolist()) if p not in drop])
                                meta.append({**key, "method": "random", "k": k, "repeat": rep, "line": len(seqs) - 1})
                    logits = _forward(tool, path, seqs, threads)
                    for m in meta:
                        d = lambda i: float(logits[i, m["wrong"]] - logits[i, m["correct"]])  # noqa: E731
                        base, deleted = d(m["base"]), d(m["line"])
                        out.append({c: m[c] for c in COLUMNS[:7]} | {
                            "delta_stored": m["delta_stored"], "delta_base": base, "delta_deleted": deleted,
                            "drop": base - deleted})
    return pd.DataFrame(out, columns=COLUMNS)
