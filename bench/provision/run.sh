#!/usr/bin/env bash
# bench/provision: what the agent adds on top of libvirt when it makes VMs.
#
# Part 1 (libvirt's test driver, no VMs, seconds): GET /instances/{id} latency with wrk,
#   idle and while 20 creates + deletes run at once; and how long 20 parallel creates
#   take to be acknowledged (each fsynced) and to reach "running".
# Part 2 (real qemu:///system, TCG here, a few minutes; skip with --no-qemu, run alone with
#   --qemu-only): one instance through the API, POST → running and POST → guest address,
#   side by side with raw `virsh define` + `virsh start` of the same domain XML (the
#   baseline); then POST …/stop → stopped of the booted guest, beside a raw `virsh shutdown`.
#
#   bench/provision/run.sh [--no-qemu | --qemu-only]
#   GPUHOST_BENCH_DAEMON=path/to/gpuhostd: use that binary instead of building build/gpuhostd
#   (e.g. to time an older build against this one); GPUHOST_BENCH_IMAGE=dir: a dev image
#   built earlier (root.qcow2, vmlinuz, initrd.img, cmdline) instead of images/cache/debian12.
set -euo pipefail
cd "$(dirname "$0")/../.."
qemu=1
part1=1
[ "${1:-}" = --no-qemu ] && qemu=0
[ "${1:-}" = --qemu-only ] && part1=0

scripts/install-deps.sh build bench run image
if [ -z "${GPUHOST_BENCH_DAEMON:-}" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target gpuhostd >/dev/null
fi
scripts/ensure-libvirtd.sh

work=$(mktemp -d /tmp/gpuhost-bench-XXXXXX)
chmod 0755 "$work"
cleanup() {
  kill "${daemon_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  # Domains whose disks live in this run's folder (an interrupted run leaves them behind).
  for domain in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep '^gpuhost-'); do
    if virsh -c qemu:///system dumpxml "$domain" 2>/dev/null | grep -q "$work"; then
      virsh -c qemu:///system destroy "$domain" >/dev/null 2>&1 || true
      virsh -c qemu:///system undefine "$domain" >/dev/null 2>&1 || true
    fi
  done
  virsh -c qemu:///system destroy gpuhost-bench-raw >/dev/null 2>&1 || true
  virsh -c qemu:///system undefine gpuhost-bench-raw >/dev/null 2>&1 || true
  virsh -c qemu:///system pool-destroy "${pool:-none}" >/dev/null 2>&1 || true
  virsh -c qemu:///system pool-undefine "${pool:-none}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
port=18090
base=http://127.0.0.1:$port/api/v1alpha1
auth=(-H "Authorization: Bearer $token")
now_ms() { date +%s%3N; }

start_daemon() {  # $1: libvirt yaml section, $2: images yaml section, $3: instance types
  bench_config "$port" warn "$1" "$2" "$3" > "$work/gpuhostd.yaml"
  bench_start "$port"
  project=$(curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$base/projects" |
            sed 's/.*"id":"\([^"]*\)".*/\1/')
}
create() {  # $1 name, $2 type, [$3 userData base64] → instance id
  local body="{\"name\":\"$1\",\"type\":\"$2\"${3:+,\"userData\":\"$3\"}}"
  curl -sf "${auth[@]}" -H "X-PROJECT-ID: $project" -H 'Content-Type: application/json' -d "$body" \
       "$base/instances" | sed 's/.*"id":"\([^"]*\)".*/\1/'
}
field() {  # $1 id, $2 field → value (null when absent)
  curl -sf "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances/$1" |
    sed -n "s/.*\"$2\":\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p"
}

if [ "$part1" = 1 ]; then
echo "== part 1: libvirt test driver =="
head -c 1048576 /dev/urandom > "$work/base.img"
start_daemon "libvirt: {uri: \"test:///default\", virt_type: qemu, resync_interval_s: 30}" \
             "images: {ubuntu22.04: {path: $work/base.img}}" \
             "instance_types: [{name: bench.tiny, cpu: 1, memory: 1Mi}]
capacity: {cpu_overcommit: 64}"
probe=$(create probe bench.tiny)
wrk_p99() {
  wrk -t1 -c1 -d"$1"s --latency -H "Authorization: Bearer $token" -H "X-PROJECT-ID: $project" \
      "$base/instances/$probe" | awk '/ 99%/ {print $2} /Requests\/sec/ {print $2}' | paste -sd' '
}
idle=$(wrk_p99 5)
# One curl process sends 20 creates at once, another the 20 deletes: the load is the
# daemon's, not that of 40 curl processes starting on a 2-core machine.
batch() {  # $1 method, then one body or id per line on stdin → a curl config
  local first=1
  while read -r item; do
    [ "$first" = 1 ] || printf 'next\n'  # a trailing "next" would make curl refuse the file
    first=0
    if [ "$1" = POST ]; then
      printf 'url = "%s/instances"\nrequest = POST\ndata = "%s"\nheader = "Content-Type: application/json"\n' "$base" "$item"
    else
      printf 'url = "%s/instances/%s"\nrequest = DELETE\n' "$base" "$item"
    fi
    printf 'header = "Authorization: Bearer %s"\nheader = "X-PROJECT-ID: %s"\n' "$token" "$project"
  done
}
churn() {
  local round=0
  while [ ! -f "$work/stop-churn" ]; do
    round=$((round + 1))
    for i in $(seq 20); do printf '{\\"name\\":\\"churn-%d-%d\\",\\"type\\":\\"bench.tiny\\"}\n' "$round" "$i"; done |
      batch POST > "$work/create.curl"
    curl -s --no-progress-meter --parallel --parallel-max 20 -K "$work/create.curl" | grep -o '"id":"[^"]*"' | cut -d'"' -f4 |
      batch DELETE > "$work/delete.curl"
    curl -s --no-progress-meter --parallel --parallel-max 20 -K "$work/delete.curl" >/dev/null
  done
}
created() {
  curl -sf "${auth[@]}" "http://127.0.0.1:$port/metrics" |
    awk '/^gpuhost_http_requests_total/ && /method="POST"/ && /status="201"/ && /route="\/api\/v1alpha1\/instances"/ {n += $2} END {print n + 0}'
}
before=$(created)
churn & churn_pid=$!
busy=$(wrk_p99 5)
touch "$work/stop-churn"; wait "$churn_pid" 2>/dev/null || true
# The churn's deletes finish after it stops (admission outruns provisioning): wait for them,
# or the burst below would find the host's capacity still held by instances being deleted.
for _ in $(seq 1200); do
  [ "$(curl -sf "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances" | grep -o '"id"' | wc -l)" -le 1 ] && break
  sleep 0.1
done
echo "GET /instances/{id}, idle:              p99 ${idle% *}  (${idle#* } req/s)"
echo "GET /instances/{id}, 20 creates at once: p99 ${busy% *}  (${busy#* } req/s; $(( $(created) - before )) creates + deletes meanwhile)"

t0=$(now_ms)
pids=()
for i in $(seq 20); do create "burst-$i" bench.tiny > "$work/burst.$i" & pids+=($!); done
wait "${pids[@]}"  # not a bare wait: the daemon is a child too
t1=$(now_ms)
for i in $(seq 20); do
  until state=$(field "$(cat "$work/burst.$i")" state); [ "$state" = running ]; do
    case $state in out-of-stock | error) echo "burst-$i is $state: not measured" >&2; exit 1 ;; esac
    sleep 0.01
  done
done
t2=$(now_ms)
echo "20 parallel creates: all acknowledged (201) in $((t1 - t0)) ms, all running in $((t2 - t0)) ms"
kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
fi

[ "$qemu" = 1 ] || exit 0
echo "== part 2: qemu:///system, TCG =="
if [ -z "${GPUHOST_BENCH_IMAGE:-}" ]; then
  images/build-dev-image.sh >/dev/null
fi
virsh -c qemu:///system net-start default >/dev/null 2>&1 || true
image=${GPUHOST_BENCH_IMAGE:-$PWD/images/cache/debian12}
pool=gpuhost-bench-$(basename "$work" | tr 'A-Z' 'a-z' | tr -dc 'a-z0-9')
rm -rf "$work/state"
start_daemon "libvirt: {uri: \"qemu:///system\", virt_type: qemu, pool: $pool, tcg_cache_mib: 128}" \
             "images: {ubuntu22.04: {path: $image/root.qcow2, kernel: $image/vmlinuz, initrd: $image/initrd.img, cmdline: \"$(cat "$image/cmdline")\"}}" \
             "instance_types: [{name: bench.vm, cpu: 1, memory: 768Mi}]"
# Import the base image once first, so both sides start from an imported base.
warm=$(create warm bench.vm)
until [ "$(field "$warm" state)" = running ]; do sleep 0.1; done
curl -sf -X DELETE "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances/$warm" >/dev/null
# Let that delete finish: it would compete (CPU, libvirt's pool lock) with the timed create.
while curl -sf "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances/$warm" >/dev/null; do sleep 0.1; done
t0=$(now_ms)
vm=$(create bench-vm bench.vm)
until [ "$(field "$vm" state)" = running ]; do sleep 0.05; done
t1=$(now_ms)
until [ -n "$(field "$vm" ip | grep -v null)" ]; do sleep 0.2; done
t2=$(now_ms)
api_running=$((t1 - t0)); api_ip=$((t2 - t0))

# Stop of a booted guest (its agent answers): the agent asks the guest agent, then ACPI,
# and destroys after shutdown_timeout_s (60 s) if the guest ignores both.
agent_up() {  # $1 domain
  virsh -c qemu:///system qemu-agent-command "$1" '{"execute":"guest-ping"}' >/dev/null 2>&1
}
until agent_up "gpuhost-$vm"; do sleep 0.2; done
t0=$(now_ms)
curl -sf -X POST "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances/$vm/actions/stop" >/dev/null
until [ "$(field "$vm" state)" = stopped ]; do sleep 0.1; done
api_stop=$(($(now_ms) - t0))

# Baseline: the same domain XML (same MAC, which the seed's network-config matches), renamed,
# on a fresh overlay and a copy of the seed, by hand.
virsh -c qemu:///system dumpxml "gpuhost-$vm" > "$work/raw.xml"
root=$(sed -n "s/.*source file='\([^']*root.qcow2\)'.*/\1/p" "$work/raw.xml")
seed=$(sed -n "s/.*source file='\([^']*seed.iso\)'.*/\1/p" "$work/raw.xml")
backing=$(qemu-img info -U --output=json "$root" | sed -n 's/.*"backing-filename": "\([^"]*\)".*/\1/p')
curl -sf -X DELETE "${auth[@]}" -H "X-PROJECT-ID: $project" "$base/instances/$vm" >/dev/null
cp "$seed" "$work/raw-seed.iso"
sed -i -e "s|<name>gpuhost-$vm</name>|<name>gpuhost-bench-raw</name>|" -e '/<uuid>/d' \
       -e "s|$root|$work/raw-root.qcow2|" -e "s|$seed|$work/raw-seed.iso|" -e '/<metadata>/,/<\/metadata>/d' "$work/raw.xml"
t0=$(now_ms)
qemu-img create -q -f qcow2 -b "$backing" -F qcow2 "$work/raw-root.qcow2"
virsh -c qemu:///system define "$work/raw.xml" >/dev/null
virsh -c qemu:///system start gpuhost-bench-raw >/dev/null
t1=$(now_ms)
until virsh -c qemu:///system qemu-agent-command gpuhost-bench-raw '{"execute":"guest-network-get-interfaces"}' 2>/dev/null |
      grep -q '"ip-address":"192'; do sleep 0.2; done
t2=$(now_ms)
raw_running=$((t1 - t0)); raw_ip=$((t2 - t0))
until agent_up gpuhost-bench-raw; do sleep 0.2; done
t0=$(now_ms)
virsh -c qemu:///system shutdown gpuhost-bench-raw >/dev/null  # libvirt's default: agent, else ACPI
until virsh -c qemu:///system domstate gpuhost-bench-raw 2>/dev/null | grep -q 'shut off'; do
  sleep 0.1
  [ $(($(now_ms) - t0)) -lt 120000 ] || { virsh -c qemu:///system destroy gpuhost-bench-raw >/dev/null; break; }
done
raw_stop=$(($(now_ms) - t0))
printf 'POST → running:          gpuhost %6d ms   raw virsh %6d ms   (+%d ms)\n' "$api_running" "$raw_running" \
       $((api_running - raw_running))
printf 'POST → guest address:    gpuhost %6d ms   raw virsh %6d ms   ratio %s\n' "$api_ip" "$raw_ip" \
       "$(awk "BEGIN {printf \"%.2f\", $api_ip / $raw_ip}")"
printf 'POST stop → stopped:     gpuhost %6d ms   raw virsh %6d ms   (virsh shutdown, booted guest)\n' \
       "$api_stop" "$raw_stop"
