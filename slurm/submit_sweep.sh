#!/usr/bin/env bash
# Submits a checkpoint sweep: a job array with one task per checkpoint of the
# spec (slurm/sweep_task.sbatch, each writing OUTDIR/<checkpoint>.h5), then the
# merge (slurm/merge.sbatch) with --dependency=afterok on the whole array.
# --kill-on-invalid-dep: if a task fails for good, the merge is cancelled
# instead of pending forever. Prints "<array job id> <merge job id>".
#
#   bash slurm/submit_sweep.sh jobs/checkpoint_sweep.toml out/sweep out/sweep/store.h5 -n 4
#
# Arguments after OUT go to both sbatch calls (e.g. -n 4, --time, -p).
set -euo pipefail
USAGE="usage: $0 SPEC.toml OUTDIR OUT.h5 [sbatch options]"
SPEC="${1:?$USAGE}" OUTDIR="${2:?$USAGE}" OUT="${3:?$USAGE}"
shift 3
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLRP="${CLRP:-$HERE/../build/clrp}"
export CLRP CLRP_SLURM_SCRIPTS="$HERE"
n="$("$CLRP" run "$SPEC" --list-checkpoints | wc -l)"
[[ $n -gt 0 ]] || { echo "$SPEC: no checkpoints" >&2; exit 2; }
mkdir -p "$OUTDIR"
array="$(sbatch --parsable --array="0-$((n - 1))" "$@" "$HERE/sweep_task.sbatch" "$SPEC" "$OUTDIR")"
merge="$(sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes "$@" \
  --ntasks=1 "$HERE/merge.sbatch" "$SPEC" "$OUTDIR" "$OUT")"
echo "${array%%;*} ${merge%%;*}"
