#!/usr/bin/env bash
# Runs every test of clrp: installs what is needed (idempotent), builds, then
# runs the C++ tests (CTest), the oracle comparisons against the reference
# implementations (pytest) and a short bounded fuzz run of every parser.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CLRP_BUILD_DIR="${CLRP_BUILD_DIR:-$ROOT/build}"

bash scripts/bootstrap.sh
bash scripts/build.sh

echo "== C++ tests (CTest)"
ctest --test-dir "$CLRP_BUILD_DIR" --output-on-failure -j "$(nproc)"

echo "== oracle tests (pytest, against transformers / tokenizers / gguf-py)"
"$ROOT/.venv/bin/python" -m pytest tests/oracle -q -p no:cacheprovider --durations=15

echo "== Slurm tests (a single-node Slurm on localhost: scripts/slurm_cluster.sh, needs root)"
"$ROOT/.venv/bin/python" -m pytest tests/slurm -q -p no:cacheprovider --durations=10

echo "== bounded fuzz run"
bash scripts/fuzz.sh --short
