#!/usr/bin/env bash
# The demo: installs what is needed (idempotent), builds, and shows what the
# embedded SmolLM2-135M-Instruct predicts for real benchmark prompts, runs the
# demo campaign and writes its report (the last line printed is its path).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CLRP_BUILD_DIR="${CLRP_BUILD_DIR:-$ROOT/build}"
bash scripts/bootstrap.sh
bash scripts/build.sh
"$ROOT/.venv/bin/python" scripts/demo_prompts.py --clrp "$CLRP_BUILD_DIR/clrp"

# The demo campaign (jobs/demo.toml): SmolLM2 answers 0-shot ARC-Easy and SciQ
# questions under two ranks, and explains the failures it finds; then the
# report of its store. Each step is skipped or resumed when already done.
PY="$ROOT/.venv/bin/python"
if [[ ! -s out/demo/cases/sciq.mc_letter.jsonl ]]; then
  "$PY" analysis/prepare_cases.py --out out/demo/cases --benchmarks arc_easy,sciq \
    --formats mc_letter --shots arc_easy=0 --shots sciq=0 --limit 40 >/dev/null
fi
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  mpirun -n 2 --oversubscribe "$CLRP_BUILD_DIR/clrp" run jobs/demo.toml --resume
# The failures it explained, as a failure file (clrp explain/graph --cases), and
# the first one's attribution graph as a page of its own (docs/graphs.md).
"$PY" analysis/store_failures.py out/demo/store.h5 --out out/demo/failures.jsonl
FIRST_ID="$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' out/demo/failures.jsonl)"
# Under <store>.graphs/ so that the report links it.
GRAPH="out/demo/store.h5.graphs/$FIRST_ID"
mkdir -p "$(dirname "$GRAPH")"
"$CLRP_BUILD_DIR/clrp" graph --cases out/demo/failures.jsonl --id "$FIRST_ID" \
  --json "$GRAPH.json" --html "$GRAPH.html"
echo "attribution graph of $FIRST_ID: $ROOT/$GRAPH.html"
echo "report of the demo campaign:"
"$PY" analysis/report.py "$ROOT/out/demo/store.h5" --out "$ROOT/out/demo/report"
