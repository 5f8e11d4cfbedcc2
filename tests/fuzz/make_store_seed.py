"""Makes the store that fuzz_store flips bytes in: tests/fuzz/store/seed_store.h5.gz.

A real campaign store (docs/store.md) from a small benchmark campaign on the tiny test model
(tests/oracle/tiny_models.py): SciQ items (they carry evidence spans) evaluated, judged and paired, the
failures explained under two rules with per-layer, head and neuron relevance, deletion and
faithfulness curves, one attribution graph, and the aggregates. Gzipped, since a
store is mostly unwritten chunk space. Run after a schema change (the fuzzer refuses a seed
that `clrp inspect` would not call clean):

    .venv/bin/python tests/fuzz/make_store_seed.py [--clrp build/clrp]
"""
from __future__ import annotations

import argparse
import gzip
import pathlib
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "oracle"))
from tiny_models import make_llama  # noqa: E402

SPEC = """
name = "fuzz-seed"
store = "store.h5"
rules = ["attnlrp", "grad-x-input"]
[record]
residual = true
heads = true
neurons = 2
evidence_top_k = 3
deletion_max_tokens = 3
[faithfulness]
operators = ["delete", "zero"]
single_tokens = 2
fractions = [0.5, 1.0]
[graphs]
cases = 1
[[models]]
name = "tiny"
path = "{model}"
"""

BENCHMARK = """
[[benchmarks]]
path = "{path}"
min_delta = 0.5
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clrp", default=str(REPO / "build" / "clrp"))
    ap.add_argument("--out", default=str(REPO / "tests" / "fuzz" / "store" / "seed_store.h5.gz"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp)
        subprocess.run([sys.executable, str(REPO / "analysis" / "prepare_cases.py"), "--out", str(d),
                        "--benchmarks", "sciq", "--formats", "mc_cloze", "--limit", "8",
                        "--shots", "sciq=0"], check=True, capture_output=True)
        spec = SPEC.format(model=make_llama("llama_gqa_untied")) + "".join(
            BENCHMARK.format(path=p) for p in sorted(d.glob("*.mc_cloze.jsonl")))
        (d / "spec.toml").write_text(spec)
        subprocess.run([args.clrp, "--threads", "1", "run", str(d / "spec.toml")], check=True)
        subprocess.run([args.clrp, "inspect", str(d / "store.h5")], check=True, capture_output=True)
        with open(d / "store.h5", "rb") as src, gzip.open(args.out, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
    print(f"wrote {args.out} ({pathlib.Path(args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
