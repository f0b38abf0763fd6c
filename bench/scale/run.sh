#!/usr/bin/env bash
# bench/scale: gpuhostd with 10,000 instances stored (through the API), on libvirt's test
# driver inside a private libvirtd, so libvirt's domains outlive a daemon restart. Prints
# GET /instances and GET /instances/{id} latency and size at 100 and at 10,000 instances
# (the 100 row is the baseline, same run), the daemon's RSS, and a restart: exec to
# listening, exec to the first reconcile done, RSS after it.
#
# The test driver's host has 16 CPUs and 3 GiB: with 1 vCPU / 1 MiB instances and 64x
# vCPU overcommit ~1,000 fit running, so the first keep_running stay running and every
# other instance is created, seen running, then stopped (stopped ones hold no resources).
#
#   bench/scale/run.sh [instances=10000] [keep_running=1000] [concurrency=8]
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-10000}
keep=${2:-1000}
concurrency=${3:-8}

scripts/install-deps.sh build bench run >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOST_TESTS=OFF >/dev/null
cmake --build build --target gpuhostd scale_populate -j2 >/dev/null

work=$(mktemp -d /tmp/gpuhost-scale-XXXXXX)
chmod 0755 "$work"
cleanup() {
  kill "${daemon_pid:-}" "${holder_pid:-}" 2>/dev/null || true
  kill "${libvirtd_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A private libvirtd in session mode (as nobody): its test driver is this run's alone, and
# killing it at the end removes every domain and volume. test:///default inside it is shared
# by all connections while one stays open: the holder below keeps it across the restart.
mkdir -p "$work/libvirt/home" "$work/libvirt/run"
chown -R nobody:nogroup "$work/libvirt"
chmod 0700 "$work/libvirt/run"
setpriv --reuid=nobody --regid=nogroup --clear-groups env -i HOME="$work/libvirt/home" \
  XDG_RUNTIME_DIR="$work/libvirt/run" PATH=/usr/sbin:/usr/bin:/sbin:/bin libvirtd --timeout 0 \
  >"$work/libvirtd.log" 2>&1 &
libvirtd_pid=$!
uri="test+unix:///default?socket=$work/libvirt/run/libvirt/libvirt-sock"
for _ in $(seq 100); do virsh -c "$uri" uri >/dev/null 2>&1 && break; sleep 0.1; done
virsh -c "$uri" event --all --loop >/dev/null 2>&1 &
holder_pid=$!

. bench/lib.sh
port=18096
api=http://127.0.0.1:$port/api/v1alpha1
auth=(-H "Authorization: Bearer $token")
head -c 1048576 /dev/urandom > "$work/base.img"
write_config() {  # $1: log level
  bench_config "$port" "$1" "libvirt: {uri: \"$uri\", virt_type: qemu, resync_interval_s: 30}" \
    "images: {ubuntu22.04: {path: $work/base.img}}" 'instance_types: [{name: bench.tiny, cpu: 1, memory: 1Mi}]' \
    'capacity: {cpu_overcommit: 64}' > "$work/gpuhostd.yaml"
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$daemon_pid/status"; }
ms_of() { date -d "$1" +%s%3N; }  # an ISO timestamp of the log → ms since the epoch
log_ts() {  # $1: message → its ts, once logged
  sed -n "s/^ts=\([^ ]*\) level=info msg=\"\{0,1\}$1\"\{0,1\} .*/\1/p" "$work/gpuhostd.log" | head -1
}

write_config warn
bench_start "$port"
project=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"scale"}' "$api/projects" |
          sed 's/.*"id":"\([^"]*\)".*/\1/')
inproject=("${auth[@]}" -H "X-PROJECT-ID: $project")
failed=0
populate() {  # $1 first index, $2 end index; an instance that fails is reported, and the run goes on
  build/bench/scale_populate --port "$port" --token "$token" --project "$project" --first "$1" --count "$2" \
    --keep-running "$keep" --concurrency "$concurrency" || failed=1
}

# wrk's summary → "req/s p50 p99" (ms)
to_ms() {
  case "$1" in
    *us) echo "$1" | sed 's/us//' | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "$1" | sed 's/ms//' ;;
    *s) echo "$1" | sed 's/s//' | awk '{printf "%.3f", $1*1000}' ;;
  esac
}
wrk_figures() {  # $1 connections, $2 url
  local out
  out=$(wrk -t1 -c"$1" -d10s --latency "${inproject[@]}" "$2")
  if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then echo "wrk: $(echo "$out" | grep -E 'Non-2xx|Socket')" >&2; fi
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")" \
       "$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
}
unloaded_ms() {  # median of 21 sequential curl requests, ms
  for _ in $(seq 21); do curl -s -o /dev/null -w '%{time_total}\n' "${inproject[@]}" "$1"; done |
    sort -n | sed -n 11p | awk '{printf "%.2f", $1 * 1000}'
}
rows=()
measure() {  # $1 label → one table row
  local listed id size list_ms list_wrk one_wrk
  listed=$(curl -sf "${inproject[@]}" "$api/instances")
  size=$(printf %s "$listed" | wc -c)
  id=$(printf %s "$listed" | grep -o '"id":"[^"]*"' | tail -1 | cut -d'"' -f4)
  list_ms=$(unloaded_ms "$api/instances")
  read -r list_rps list_p50 list_p99 < <(wrk_figures 4 "$api/instances")
  read -r one_rps one_p50 one_p99 < <(wrk_figures 16 "$api/instances/$id")
  rows+=("$(printf '%-30s %9s %9s %9s %9s %9s %10s %9s %9s %9s %8s' "$1" \
    "$(printf %s "$listed" | grep -o '"state":"running"' | wc -l)/$(printf %s "$listed" | grep -o '"id"' | wc -l)" \
    "$((size / 1024))" "$list_ms" "$list_rps" "$list_p50" "$list_p99" "$one_rps" "$one_p50" "$one_p99" "$(rss_mib)")")
}
header=$(printf '%-30s %9s %9s %9s %9s %9s %10s %9s %9s %9s %8s' when running/all list_KiB list_ms list_rps \
  list_p50 list_p99 id_rps id_p50 id_p99 rss_MiB)

echo "machine: $(nproc) cores, $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
populate 0 100
measure "100 stored (baseline)"
populate 100 "$count"
measure "$count stored"

# Restart: SIGTERM, then exec with log_level info (for the two lines it times; no requests
# are made meanwhile, so there is no access log).
states_before=$(curl -sf "${inproject[@]}" "$api/instances" | grep -o '"state":"[a-z-]*"' | sort | uniq -c | awk '{printf " %s %s", $1, $2}')
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
echo "daemon errors logged while storing: $(grep -c 'level=error' "$work/gpuhostd.log" || true)"
grep 'level=error' "$work/gpuhostd.log" | cut -c1-300 | head -5 || true  # none is the usual case
write_config info
exec_ms=$(date +%s%3N)
bench_start "$port"
for _ in $(seq 6000); do [ -n "$(log_ts 'start-up reconcile done')" ] && break; sleep 0.1; done
listening_ms=$(( $(ms_of "$(log_ts listening)") - exec_ms ))
reconciled_ms=$(( $(ms_of "$(log_ts 'start-up reconcile done')") - exec_ms ))
rss_restart=$(rss_mib)
states_after=$(curl -sf "${inproject[@]}" "$api/instances" | grep -o '"state":"[a-z-]*"' | sort | uniq -c | awk '{printf " %s %s", $1, $2}')
measure "after the restart"

echo "$header"
printf '%s\n' "${rows[@]}"
echo "list_ms: median of 21 sequential requests; list_*: wrk -t1 -c4 -d10s; id_*: GET /instances/{id}, wrk -t1 -c16 -d10s"
echo "restart with $count instances: exec → listening $listening_ms ms, exec → start-up reconcile done $reconciled_ms ms;" \
     "RSS right after: $rss_restart MiB"
grep 'start-up reconcile done' "$work/gpuhostd.log"
echo "states before the restart:$states_before"
echo "states after the restart: $states_after"
[ "$states_before" = "$states_after" ] || { echo "the restart changed instance states"; exit 1; }
echo "daemon warnings/errors after the restart: $(grep -cE 'level=(warn|error)' "$work/gpuhostd.log" || true)"
[ "$failed" = 0 ] || { echo "some instances did not reach their state while stored (see above)"; exit 1; }
