#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for the tests in tests/slurm and
# for trying the scripts in slurm/ without a cluster:
#
#   bash scripts/slurm_cluster.sh start    # installs slurm-wlm + munge if missing, starts
#                                          # munged, slurmctld, slurmd; waits for the node
#   export SLURM_CONF=$(bash scripts/slurm_cluster.sh conf)   # for sbatch, squeue, ...
#   bash scripts/slurm_cluster.sh stop     # stops what start started (by PID)
#
# Needs root (daemons, apt-get). No systemd, no cgroups: process tracking by
# /proc (proctrack/linuxproc), no accounting. The node declares
# CLRP_SLURM_CPUS CPUs (default 4, more than a 2-core machine has) so that
# a 2-rank job and array tasks can run side by side. State, spool and logs
# live in CLRP_SLURM_DIR (default /tmp/clrp-slurm). See docs/cluster.md.
set -euo pipefail
DIR="${CLRP_SLURM_DIR:-/tmp/clrp-slurm}"
CPUS="${CLRP_SLURM_CPUS:-4}"
CONF="$DIR/etc/slurm.conf"
NODE="$(hostname -s)"

install_packages() {
  local missing=()
  for p in slurm-wlm slurmctld slurmd munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "slurm_cluster: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [[ -s /etc/munge/munge.key ]] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  # munged refuses to run as root ("Logfile is insecure"): run it as munge.
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    # The daemon is the newest munged (its launcher exits once it has forked).
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && { pgrep -n -u munge -x munged >"$DIR/munged.pid"; return; }
    sleep 0.1
  done
  echo "slurm_cluster: munged did not come up" >&2; exit 1
}

write_conf() {
  mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF" <<CONF
ClusterName=clrp
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobRequeue=1
MpiDefault=pmix
MailProg=/bin/true
KillWait=5
ReturnToService=2
SchedulerParameters=defer_batch=0
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
}

running() { [[ -f "$DIR/$1.pid" ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

start() {
  [[ $(id -u) -eq 0 ]] || { echo "slurm_cluster: needs root" >&2; exit 1; }
  install_packages
  mkdir -p "$DIR"
  start_munge
  write_conf
  export SLURM_CONF="$CONF"
  if ! running slurmctld; then
    slurmctld -D -c -f "$CONF" >>"$DIR/log/slurmctld.out" 2>&1 &
    echo $! >"$DIR/slurmctld.pid"
  fi
  if ! running slurmd; then
    slurmd -D -f "$CONF" >>"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/slurmd.pid"
  fi
  for _ in $(seq 120); do
    state="$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)"
    if [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]]; then
      echo "slurm_cluster: node $NODE is $state (SLURM_CONF=$CONF)"
      return
    fi
    [[ "$state" == down* || "$state" == drain* ]] && scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true
    sleep 0.5
  done
  echo "slurm_cluster: the node did not become idle; logs in $DIR/log" >&2
  tail -n 20 "$DIR/log/"*.log >&2 || true
  exit 1
}

stop() {
  for d in slurmd slurmctld; do
    if running "$d"; then
      local pid; pid="$(cat "$DIR/$d.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/$d.pid"
  done
  # munged stays up only if it was running before start (no pid file then).
  if [[ -f "$DIR/munged.pid" ]]; then
    local pid; pid="$(head -n 1 "$DIR/munged.pid")"
    kill "$pid" 2>/dev/null || true
    rm -f "$DIR/munged.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  conf) echo "$CONF" ;;
  status) SLURM_CONF="$CONF" sinfo; SLURM_CONF="$CONF" squeue ;;
  *) echo "usage: $0 start|stop|conf|status" >&2; exit 2 ;;
esac
