#!/usr/bin/env bash
# bench/load: a mixed open-loop load against gpuhostd on libvirt's test driver (in-process
# test:///default, no VMs): reads of instances, instance lists and projects at a fixed rate,
# with a steady stream of creates (each a real seed ISO built by xorriso, an fsynced commit,
# volumes and a domain) and deletes. Prints per-kind p50/p99/max from the due time, errors,
# achieved req/s, the daemon's RSS growth, and whether the API converged afterwards.
# The baseline, in the same run: the same reads at the same rate with no writes.
#
#   bench/load/run.sh [seconds=60] [rate=1000] [creates_per_s=20] [deletes_per_s=20]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
rate=${2:-1000}
creates=${3:-20}
deletes=${4:-20}

scripts/install-deps.sh build bench run >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOST_TESTS=OFF >/dev/null
cmake --build build --target gpuhostd load_bench -j2 >/dev/null

work=$(mktemp -d /tmp/gpuhost-bench-XXXXXX)
cleanup() { kill "${daemon_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. bench/lib.sh
port=18095
head -c 1048576 /dev/urandom > "$work/base.img"
# test:///default offers 16 CPUs and 3 GiB: 1 vCPU / 1 MiB instances with 64x vCPU
# overcommit leave room for ~1,000 live instances; the load keeps ~200.
bench_config "$port" warn 'libvirt: {uri: "test:///default", virt_type: qemu, resync_interval_s: 30}' \
  "images: {ubuntu22.04: {path: $work/base.img}}" 'instance_types: [{name: bench.tiny, cpu: 1, memory: 1Mi}]' \
  'capacity: {cpu_overcommit: 64}' > "$work/gpuhostd.yaml"
bench_start "$port"

echo "machine: $(nproc) cores, $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"); load: ${rate} req/s for ${seconds} s" \
     "(${creates} creates/s, ${deletes} deletes/s, 10 % lists, 20 % project reads, the rest instance reads), 32 read + 16 write connections"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
status=0
build/bench/load_bench --port "$port" --token "$token" --pid "$daemon_pid" --seconds "$seconds" --rate "$rate" \
  --creates "$creates" --deletes "$deletes" || status=$?
if grep -q 'level=error' "$work/gpuhostd.log"; then
  echo "daemon errors logged:"; grep 'level=error' "$work/gpuhostd.log" | sort | uniq -c | sort -rn | head
fi
echo "daemon warnings logged: $(grep -c 'level=warn' "$work/gpuhostd.log" || true)"
grep 'level=warn' "$work/gpuhostd.log" | cut -c1-240 | head -5 || true
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
exit "$status"
