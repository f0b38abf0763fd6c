#!/usr/bin/env bash
# Real Slurm 22.05 with gpuhost's generated configs, on loopback, no VM: munged, slurmctld
# and dynamic slurmds (cpu-0, then h100-1), under a temp dir on random ports, in a private
# PID + mount namespace with munge's socket on a tmpfs of its own, so a system Slurm or
# munge is never touched. Takes ~1.5 s. Proves:
#   1. cpu-0 registers through configless + `slurmd -Z` and reaches idle, in partition "batch"
#      (NodeSet by Feature), not "gpu";
#   2. a job runs as an ordinary user (nobody);
#   3. slurmctld accepts the 8xH100 pool's dynamic node definition with Gres=gpu:h100:8, and
#      deletes it without a ghost;
#   4. scale-down: cpu-0's slurmd stopped, the node deleted, gone from scontrol;
#   5. a real slurmd for h100-1 (fake /dev/nvidia[0-7]) registers idle with Gres=gpu:h100:8
#      through gres.conf, and a 2-GPU job there sees CUDA_VISIBLE_DEVICES=0,1.
# Usage: real_slurm.sh <slurm_write_configs>. Needs root and `scripts/install-deps.sh slurm`;
# otherwise exits 77 (skipped). Everything started is stopped and the temp dir removed on any exit.
set -euo pipefail

# Outside: checks, the temp dir, and a private PID + mount namespace for the rest. Killing
# the namespace's first process (this script, inside) kills every daemon it started, even
# on SIGKILL; --kill-child does that when unshare itself is killed (a ctest timeout).
if [ "${1:-}" != --inside ]; then
  writer=$1
  for tool in munged slurmctld slurmd scontrol sinfo srun runuser unshare; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (scripts/install-deps.sh slurm)"; exit 77; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (namespaces; slurmd runs jobs as another user)"; exit 77; }
  dir=$(mktemp -d /tmp/gpuhost-slurm.XXXXXX)
  trap 'status=$?; rm -rf "$dir"; exit "$status"' EXIT
  unshare --fork --pid --mount --propagation private --mount-proc --kill-child -- "$0" --inside "$dir" "$writer" &
  child=$!
  # A TERM or INT (ctest's timeout, ^C) ends unshare, so the whole namespace, before the
  # temp dir goes.
  trap 'kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; exit 143' TERM INT
  wait "$child"
  exit 0
fi
dir=$2
writer=$3

# munged on the default socket path, in a tmpfs only this namespace sees: configless slurmd
# fetches its configs before it has read AuthInfo, so it always uses the default socket.
if [ -d /run/munge ]; then
  mount -t tmpfs -o mode=0755 gpuhost-munge /run/munge
else
  mount -t tmpfs -o mode=0755 gpuhost-run /run
  mkdir -m 0755 /run/munge
fi

pids=()
cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    for log in "$dir"/log/*; do
      [ -f "$log" ] && { echo "=== $log"; tail -n 30 "$log"; }
    done
  fi
  # Reverse order: slurmd, slurmctld, munged. TERM, then KILL what is left after 5 s (the
  # namespace ending would kill them too, but without their last log lines).
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  exit "$status"
}
trap cleanup EXIT

start_ms=$(($(date +%s%N) / 1000000))
step() {
  local ms=$(($(date +%s%N) / 1000000 - start_ms))
  printf '[%3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*"
}
# wait_for <seconds> <description> <command...>: polls every 0.2 s.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "FAIL: timed out after ${seconds}s waiting for $what" >&2; return 1; }
    sleep 0.2
  done
}

# Ports: random in 20000-29999, both free (ss lists listeners).
pick_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 10000))
    ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
  done
}
ctld_port=$(pick_port)
slurmd_port=$(pick_port)
[ "$slurmd_port" != "$ctld_port" ] || slurmd_port=$((ctld_port + 1))

mkdir -p "$dir"/{state,spool,log,run,munge}
# srun runs as nobody and reads slurm.conf: the tree is traversable.
chmod 0755 "$dir" "$dir/log" "$dir/run"
"$writer" "$dir" "$ctld_port" "$slurmd_port"
export SLURM_CONF=$dir/slurm.conf
step "configs written (slurmctld :$ctld_port, slurmd :$slurmd_port)"

munged --foreground --force --key-file="$dir/munge.key" \
  --log-file="$dir/log/munged.log" --pid-file="$dir/run/munged.pid" --seed-file="$dir/munge/munged.seed" &
pids+=($!)
wait_for 10 "munged's socket" test -S /run/munge/munge.socket.2
step "munged up"

slurmctld -D -f "$dir/slurm.conf" >"$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
wait_for 30 "slurmctld to answer" scontrol ping
step "slurmctld answers (scontrol ping)"

mapfile -t slurmd_args <"$dir/slurmd-cpu.args"
# Configless: slurmd takes its configs from slurmctld, never from SLURM_CONF.
env -u SLURM_CONF slurmd "${slurmd_args[@]}" >"$dir/log/slurmd.out" 2>&1 &
pids+=($!)
# --future: FUTURE nodes (h100-0 below) are hidden from plain `show node`.
node_state() { scontrol --future show node "$1" -o 2>/dev/null; }
# sinfo's %T: the base state, lowercase, without scontrol's +DYNAMIC_NORM-style flags.
is_idle() { [ "$(sinfo -h -N -n cpu-0 -o %T)" = idle ]; }
wait_for 30 "cpu-0 to be idle" is_idle || { echo "cpu-0: $(node_state cpu-0)"; exit 1; }
step "cpu-0 idle: $(sinfo -h -N -n cpu-0 -o '%N %t %P %c CPUs %m MiB %f')"
node_state cpu-0 | grep -q ' Partitions=batch ' || { echo "FAIL: cpu-0 not in batch only: $(node_state cpu-0)"; exit 1; }
node_state cpu-0 | grep -q ' RealMemory=704 ' || { echo "FAIL: cpu-0 RealMemory: $(node_state cpu-0)"; exit 1; }
sinfo --json | grep -q '"state": "idle"' || { echo "FAIL: sinfo --json shows no idle node"; exit 1; }

# A job as an ordinary user; /tmp because nobody cannot enter the caller's directory.
user=$(cd /tmp && runuser -u nobody -- env SLURM_CONF="$SLURM_CONF" srun -N1 -p batch --time=1 id -un)
[ "$user" = nobody ] || { echo "FAIL: srun printed '$user'"; exit 1; }
step "srun -N1 id -un as nobody: $user"

# The 8xH100 pool's node, defined from the same --conf text its slurmd would send. FUTURE:
# there is no slurmd (nor GPU) behind it; the point is that slurmctld keeps the Gres.
read -r -a h100_conf <"$dir/h100.conf"
scontrol create NodeName=h100-0 State=FUTURE CPUs=8 "${h100_conf[@]}"
h100=$(node_state h100-0) || { echo "FAIL: h100-0 not created"; exit 1; }
echo "$h100" | grep -q ' Gres=gpu:h100:8 ' || { echo "FAIL: h100-0 Gres: $h100"; exit 1; }
echo "$h100" | grep -q ' Partitions=gpu ' || { echo "FAIL: h100-0 partitions: $h100"; exit 1; }
step "h100-0 accepted: $(echo "$h100" | grep -o 'Gres=[^ ]*') $(echo "$h100" | grep -o 'Partitions=[^ ]*')"

# Scale-down leaves no ghost: the dynamic node is deleted outright.
scontrol delete NodeName=h100-0
if node_state h100-0 >/dev/null; then echo "FAIL: h100-0 still listed after delete"; exit 1; fi
step "h100-0 deleted, no ghost"

# Scale-down for real: stop cpu-0's slurmd and delete the node; nothing is left of it.
cpu_slurmd=${pids[-1]}
kill -TERM "$cpu_slurmd"
wait "$cpu_slurmd" || true
scontrol delete NodeName=cpu-0
if node_state cpu-0 >/dev/null; then echo "FAIL: cpu-0 still listed after delete"; exit 1; fi
step "cpu-0's slurmd stopped and the node deleted, no ghost"

# The 8xH100 node for real, through the port cpu-0 freed: slurmd as h100-1, with gres.conf's
# /dev/nvidia[0-7] present as character devices (no driver behind them) in an overlay over
# /dev that only this namespace sees.
mkdir "$dir/devfs"
mount -t tmpfs gpuhost-dev "$dir/devfs"
mkdir "$dir/devfs/upper" "$dir/devfs/work"
mount -t overlay gpuhost-dev -o "lowerdir=/dev,upperdir=$dir/devfs/upper,workdir=$dir/devfs/work" /dev
for i in 0 1 2 3 4 5 6 7; do mknod "/dev/nvidia$i" c 195 "$i"; done
mapfile -t h100_args <"$dir/slurmd-h100.args"
env -u SLURM_CONF slurmd "${h100_args[@]}" >"$dir/log/slurmd-h100.out" 2>&1 &
pids+=($!)
is_h100_idle() { node_state h100-1 >/dev/null && [ "$(sinfo -h -N -n h100-1 -o %T)" = idle ]; }
wait_for 30 "h100-1 to be idle" is_h100_idle || { echo "h100-1: $(node_state h100-1)"; exit 1; }
h100=$(node_state h100-1)
echo "$h100" | grep -q ' Gres=gpu:h100:8 ' || { echo "FAIL: h100-1 Gres: $h100"; exit 1; }
step "h100-1 registered idle: $(echo "$h100" | grep -o 'Gres=[^ ]*') $(echo "$h100" | grep -o 'Partitions=[^ ]*')"
user=$(cd /tmp && runuser -u nobody -- env SLURM_CONF="$SLURM_CONF" srun -p gpu --gres=gpu:h100:2 --time=1 \
  printenv CUDA_VISIBLE_DEVICES)
[ "$user" = 0,1 ] || { echo "FAIL: a 2-GPU job saw CUDA_VISIBLE_DEVICES='$user'"; exit 1; }
step "srun --gres=gpu:h100:2 on h100-1: CUDA_VISIBLE_DEVICES=$user"
echo "PASS"
