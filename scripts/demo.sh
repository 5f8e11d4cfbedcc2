#!/usr/bin/env bash
# The demo: installs what is needed (idempotent), builds, and shows what the
# embedded SmolLM2-135M-Instruct predicts for real benchmark prompts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CLRP_BUILD_DIR="${CLRP_BUILD_DIR:-$ROOT/build}"
bash scripts/bootstrap.sh
bash scripts/build.sh
"$ROOT/.venv/bin/python" scripts/demo_prompts.py --clrp "$CLRP_BUILD_DIR/clrp"
