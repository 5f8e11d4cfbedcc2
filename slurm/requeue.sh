# Sourced by the batch scripts in slurm/: runs one clrp command under srun so
# that a preempted or time-limited job stops cleanly and comes back.
#
# Slurm delivers SIGTERM to the batch shell (--signal=B:TERM@N before the time
# limit, or on preemption); the shell passes it on to every task of the job
# step (scancel --signal=TERM; see the trap below). `clrp run` then finishes the batch each rank is explaining,
# commits collectively and exits 75 (EX_TEMPFAIL) when work is left; `clrp
# merge` removes its temporary output and exits 75 too. On 75 the job is
# requeued (`scontrol requeue`, which needs --requeue), and the rerun
# continues the store: the scripts always pass --resume, which starts a store
# that does not exist yet, so the first run and every rerun are the same
# command. Output is appended across reruns (--open-mode=append).

# OpenMPI refuses to run as root unless told twice (and then exits 0 having
# run nothing): containers and test clusters often run jobs as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

CLRP="${CLRP:-${SLURM_SUBMIT_DIR:-.}/build/clrp}"
CLRP_EXIT_REQUEUE=75
# Torch threads per rank: CLRP_THREADS, else the CPUs Slurm gives each task
# (-c/--cpus-per-task), else clrp's default (cores on the node / ranks on it).
CLRP_THREADS="${CLRP_THREADS:-${SLURM_CPUS_PER_TASK:-}}"
CLRP_THREAD_ARGS=()
[[ -n "$CLRP_THREADS" ]] && CLRP_THREAD_ARGS=(--threads "$CLRP_THREADS")

clrp_log() { echo "$(date +%H:%M:%S) job ${SLURM_JOB_ID:-?}${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID} (restart ${SLURM_RESTART_COUNT:-0}): $*"; }

# srun_requeueable ARGS...: srun --mpi=pmix ARGS, SIGTERM forwarded, requeue on 75.
srun_requeueable() {
  srun --mpi=pmix "$@" &
  local pid=$! rc
  # Not `kill -TERM $pid`: srun answers SIGTERM by killing its tasks with
  # SIGKILL ("forcing job termination"). scancel without --batch signals the
  # job's steps (the ranks) and leaves the batch shell and srun alone.
  local signalled=0
  trap 'signalled=1; clrp_log "SIGTERM: stopping at the next batch boundary"; scancel --signal=TERM "$SLURM_JOB_ID"' TERM
  # `wait` returns early (status > 128) when the trap runs; wait again until
  # srun itself has exited.
  while :; do
    wait "$pid"
    rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - TERM
  # 75: stopped cleanly with work left. Any other failure after our SIGTERM:
  # the signal reached a rank before it could catch it (still starting up);
  # nothing was lost that a rerun with --resume does not redo.
  if [[ $rc -eq $CLRP_EXIT_REQUEUE || ($signalled -eq 1 && $rc -ne 0) ]]; then
    clrp_log "stopped with work left (status $rc): requeueing"
    if scontrol requeue "$SLURM_JOB_ID"; then
      # The requeue ends this run: Slurm stops the batch shell. Exiting first
      # races with it, and the job can end FAILED instead of pending again
      # (seen in tests/slurm); so wait to be stopped.
      sleep 600 &
      wait $!
    else
      clrp_log "requeue refused (submit with --requeue); run again by hand"
    fi
  else
    clrp_log "finished with status $rc"
  fi
  return "$rc"
}
