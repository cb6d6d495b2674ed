#!/usr/bin/env bash
# A private single-node SLURM cluster on this machine, for testing the SLURM
# profile (tests/integration/test_slurm.py) or trying it by hand.
#
#   scripts/slurm_local.sh start [DIR]   write DIR/slurm.conf, start munged,
#                                        slurmctld and slurmd (as root)
#   scripts/slurm_local.sh stop [DIR]    cancel its jobs, stop the daemons it
#                                        started (PID files in DIR) and nothing else
#   scripts/slurm_local.sh status [DIR]  sinfo/squeue of that cluster
#
# DIR defaults to $EXOMIR_SLURM_DIR or /tmp/exomir-slurm. Everything lives in DIR:
# configuration, munge key and socket, state, spool, logs and PID files. The ports
# are free ports picked at start. The one thing outside DIR is a symlink
# /etc/slurm/slurm.conf -> DIR/slurm.conf, removed again by `stop`: the SLURM
# executor's job step (snakemake-executor-plugin-slurm-jobstep 0.6.1) removes
# SLURM_CONF from the environment of the srun it starts inside a job, so srun must
# find the configuration at its default path. `start` refuses to run when
# /etc/slurm/slurm.conf is anything else (a real SLURM installation is left alone).
#
# The node is this host (`hostname -s`) with the CPUs and memory `slurmd -C`
# detects (memory minus 10 % headroom). Needs root and Debian's slurm-wlm and munge
# (`apt-get install slurm-wlm munge`). MinJobAge is 3600 s so that finished jobs stay
# visible to squeue, which the profile's `slurm-status-command: squeue` needs here
# (there is no accounting database, so sacct does not work).
set -euo pipefail

cmd=${1:-}
DIR=${2:-${EXOMIR_SLURM_DIR:-/tmp/exomir-slurm}}
CONF=$DIR/slurm.conf
ETC_CONF=/etc/slurm/slurm.conf
export SLURM_CONF=$CONF

die() {
  echo "slurm_local: $*" >&2
  exit 1
}

# PID from a PID file if that process is alive and runs the expected program.
alive_pid() {
  local file=$1 name=$2 pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  grep -q "^$name" "/proc/$pid/comm" || return 1
  # a zombie waiting to be reaped counts as stopped
  if grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
    return 1
  fi
  echo "$pid"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

wait_for() {
  local what=$1 tries=$2
  shift 2
  for _ in $(seq 1 "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what did not come up; see the logs in $DIR/log"
}

node_idle() { sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'; }

start() {
  [ "$(id -u)" = 0 ] || die "must run as root (the daemons need it)"
  for b in munged mungekey slurmctld slurmd sbatch squeue sinfo; do
    command -v "$b" >/dev/null 2>&1 ||
      die "'$b' not found: apt-get install slurm-wlm munge"
  done
  if alive_pid "$DIR/slurmctld.pid" slurmctld >/dev/null; then
    die "a cluster is already running from $DIR (stop it first)"
  fi
  if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    if [ "$(readlink "$ETC_CONF" 2>/dev/null)" = "$CONF" ]; then
      rm -f "$ETC_CONF" # left over from a cluster in DIR that was not stopped
    else
      die "$ETC_CONF exists and is not ours: this machine has its own SLURM set-up"
    fi
  fi
  mkdir -p "$DIR"/{state,spool,log,munge} "$(dirname "$ETC_CONF")"
  # munged insists that everyone can reach its socket directory
  chmod 755 "$DIR" "$DIR/munge"
  [ -s "$DIR/munge/munge.key" ] || mungekey -c -b 1024 -k "$DIR/munge/munge.key"

  local host node mem ctld_port slurmd_port
  host=$(hostname -s)
  node=$(slurmd -C | head -n 1)
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  [ -n "$mem" ] || die "cannot read the node's memory from 'slurmd -C': $node"
  node=$(sed -e "s/^NodeName=[^ ]*/NodeName=$host/" \
    -e "s/RealMemory=[0-9]*/RealMemory=$((mem * 9 / 10))/" <<<"$node")
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

  cat >"$CONF" <<EOF
# Written by scripts/slurm_local.sh: a private single-node test cluster.
ClusterName=exomirtest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No accounting database: sacct cannot answer, squeue must (MinJobAge below).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
# Finished jobs stay visible to squeue for an hour.
MinJobAge=3600
KillWait=5
Waittime=0
$node State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

  # Default path of the configuration for commands run inside jobs (see above).
  ln -s "$CONF" "$ETC_CONF"
  echo "$ETC_CONF" >"$DIR/etc_link"

  munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed"
  wait_for munged 40 munge -S "$DIR/munge/munge.socket" -n
  slurmctld -f "$CONF" -i
  slurmd -f "$CONF"
  wait_for "the SLURM node" 120 node_idle
  echo "slurm_local: cluster up in $DIR (node $host, partition main)"
  echo "slurm_local: export SLURM_CONF=$CONF"
}

stop() {
  [ -d "$DIR" ] || die "no cluster directory $DIR"
  if alive_pid "$DIR/slurmctld.pid" slurmctld >/dev/null; then
    # Jobs of this private cluster only; wait so no job step outlives slurmd.
    squeue -h -o %i 2>/dev/null | xargs -r scancel --quiet 2>/dev/null || true
    for _ in $(seq 1 40); do
      [ -z "$(squeue -h -t RUNNING,COMPLETING,PENDING -o %i 2>/dev/null)" ] && break
      sleep 0.25
    done
  fi
  local f name pid
  for f in slurmd slurmctld munged; do
    name=$f
    if pid=$(alive_pid "$DIR/$f.pid" "$name"); then
      kill "$pid"
      for _ in $(seq 1 40); do
        alive_pid "$DIR/$f.pid" "$name" >/dev/null || break
        sleep 0.25
      done
      if alive_pid "$DIR/$f.pid" "$name" >/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
      fi
      echo "slurm_local: stopped $name ($pid)"
    fi
    rm -f "$DIR/$f.pid"
  done
  if [ -f "$DIR/etc_link" ] && [ "$(readlink "$ETC_CONF" 2>/dev/null)" = "$CONF" ]; then
    rm -f "$ETC_CONF"
  fi
  rm -f "$DIR/etc_link"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    sinfo
    squeue
    ;;
  *)
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
    ;;
esac
