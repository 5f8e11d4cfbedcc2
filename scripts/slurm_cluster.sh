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
# /proc (proctrack/linuxproc), no accounting. CLRP_SLURM_NODES (default 1)
# nodes, each declaring CLRP_SLURM_CPUS CPUs (default 4, more than a 2-core
# machine has, so that a 2-rank job and array tasks run side by side). With
# several nodes, one slurmd per node runs on this host (Debian's Slurm is
# built for that), each with its own port, spool and TmpFS, so multi-node
# jobs (srun across nodes, PMIx wire-up between them) run for real.
# Ports from CLRP_SLURM_PORT (default 6817: slurmctld; slurmds above it).
# State, spool and logs live in CLRP_SLURM_DIR (default /tmp/clrp-slurm).
# See docs/cluster.md.
set -euo pipefail
DIR="${CLRP_SLURM_DIR:-/tmp/clrp-slurm}"
CPUS="${CLRP_SLURM_CPUS:-4}"
NODES="${CLRP_SLURM_NODES:-1}"
PORT="${CLRP_SLURM_PORT:-6817}"
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

# Node names: this host's name for one node; n1..nN (all on this host, on
# their own ports) for several.
node_names() {
  if ((NODES == 1)); then echo "$NODE"; else seq -f "n%g" 1 "$NODES"; fi
}

node_lines() {
  local i=0 names
  names="$(node_names | paste -sd, -)"
  for n in $(node_names); do
    i=$((i + 1))
    echo "NodeName=$n NodeHostname=$NODE NodeAddr=127.0.0.1 Port=$((PORT + i)) CPUs=$CPUS State=UNKNOWN"
  done
  echo "PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP"
}

write_conf() {
  mkdir -p "$DIR/etc" "$DIR/state" "$DIR/log"
  for n in $(node_names); do mkdir -p "$DIR/spool-$n" "$DIR/tmp-$n"; done
  cat >"$CONF" <<CONF
ClusterName=clrp
SlurmctldHost=$NODE(127.0.0.1)
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
SlurmctldPort=$PORT
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool-%n
TmpFS=$DIR/tmp-%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
$(node_lines)
CONF
}

# Our own record of each daemon's PID (slurmctld writes <name>.pid itself;
# slurmd PIDs are kept as slurmd-<node>.run).
pid_file() { [[ $1 == slurmctld ]] && echo "$DIR/slurmctld.pid" || echo "$DIR/$1.run"; }
running() { local f; f="$(pid_file "$1")"; [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

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
  for n in $(node_names); do
    if ! running "slurmd-$n"; then
      slurmd -D -N "$n" -f "$CONF" >>"$DIR/log/slurmd-$n.out" 2>&1 &
      echo $! >"$DIR/slurmd-$n.run"
    fi
  done
  local names; names="$(node_names | paste -sd, -)"
  for _ in $(seq 120); do
    per_node="$(sinfo -h -n "$names" -N -o %t 2>/dev/null || true)"
    states="$(sort -u <<<"$per_node" | paste -sd' ' -)"
    if [[ -n "$per_node" && "$(grep -cvE '^(idle|mix|alloc)' <<<"$per_node")" == 0 ]]; then
      echo "slurm_cluster: $NODES node(s) $names: $states (SLURM_CONF=$CONF)"
      return
    fi
    [[ "$states" == *down* || "$states" == *drain* ]] && scontrol update NodeName="$names" State=RESUME 2>/dev/null || true
    sleep 0.5
  done
  echo "slurm_cluster: the node did not become idle; logs in $DIR/log" >&2
  tail -n 20 "$DIR/log/"*.log >&2 || true
  exit 1
}

stop() {
  local daemons=()
  for f in "$DIR"/slurmd-*.run; do [[ -f "$f" ]] && daemons+=("$(basename "$f" .run)"); done
  for d in "${daemons[@]}" slurmctld; do
    if running "$d"; then
      local pid; pid="$(cat "$(pid_file "$d")")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$(pid_file "$d")"
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
