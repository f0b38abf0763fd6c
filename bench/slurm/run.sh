#!/usr/bin/env bash
# bench/slurm: POST /slurm/clusters → READY with every node IDLE, against a hand-driven floor.
#
# gpuhost: gpuhostd on qemu:///system (TCG), a cluster of 1 controller + a pool of 2 nodes
#   (1 vCPU, 768 MiB each) from the Slurm dev image; POST, then GET every second until the
#   status is READY and both nodes' first state is IDLE. Then DELETE and wait for 404.
# floor: the same 3 VMs by hand, what a person who knows the exact commands needs with no
#   API in between: overlays on the same base, NoCloud seeds (xorriso), the daemon's domain
#   XML (direct kernel boot), `virsh start` of all three at once, then through the guest
#   agent: the same munge key on all three, on the controller the daemon's slurm.conf (its
#   generator's text for this cluster, checked against the daemon's own copy in the same
#   round), gres.conf, cgroup.conf and `systemctl enable --now slurmctld`; on each node the
#   daemon's slurmd drop-in (configless, dynamic: -Z -N cpu-<i>) and `enable --now slurmd`;
#   then `sinfo` on the controller every second until both nodes are idle.
# Both sides run one after the other (never at once), each round gpuhost first; the base
# image is imported before the first round on both sides (not timed). Times are wall clock
# from POST (gpuhost) and from the first `qemu-img create` (floor), polled at 1 s.
#
#   bench/slurm/run.sh [rounds=1] [both|gpuhost|floor]   # 4-9 minutes a round under TCG here
#   GPUHOST_BENCH_DAEMON=path/to/gpuhostd  # use that binary instead of building build-bench/gpuhostd
#   GPUHOST_BENCH_IMAGE=dir                # a Slurm dev image built earlier instead of images/cache/debian12-slurm
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-1}
sides=${2:-both}  # both | gpuhost | floor
case $sides in both | gpuhost | floor) ;; *) echo "usage: $0 [rounds] [both|gpuhost|floor]" >&2; exit 2 ;; esac
virsh=(virsh -c qemu:///system)

scripts/install-deps.sh build run image
if [ -z "${GPUHOST_BENCH_DAEMON:-}" ] && [ "$sides" != floor ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOST_TESTS=OFF >/dev/null
  nice ninja -C build-bench -j1 gpuhostd >/dev/null
  export GPUHOST_BENCH_DAEMON=build-bench/gpuhostd
fi
[ -n "${GPUHOST_BENCH_IMAGE:-}" ] || images/build-dev-image.sh --slurm >/dev/null
image=${GPUHOST_BENCH_IMAGE:-$PWD/images/cache/debian12-slurm}
scripts/ensure-libvirtd.sh --network default

work=$(mktemp -d /tmp/gpuhost-bench-slurm-XXXXXX)
chmod 0755 "$work"
tag=$(printf %s "${work##*-}" | tr '[:upper:]' '[:lower:]')
pool=gpuhost-bench-$tag
floor_prefix=gpuhost-bench-floor-$tag  # the floor's domains: $floor_prefix-{controller,cpu-0,cpu-1}

remove_domain() {
  "${virsh[@]}" destroy "$1" >/dev/null 2>&1 || true
  "${virsh[@]}" undefine "$1" >/dev/null 2>&1 || true
}
cleanup() {
  kill "${daemon_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  # The daemon's VMs (their disks live under $work/state) and the floor's, however the run ended.
  for domain in $("${virsh[@]}" list --all --name 2>/dev/null | grep '^gpuhost-'); do
    if [[ $domain == "$floor_prefix"-* ]] || "${virsh[@]}" dumpxml "$domain" 2>/dev/null | grep -q "$work"; then
      remove_domain "$domain"
    fi
  done
  "${virsh[@]}" pool-destroy "$pool" >/dev/null 2>&1 || true
  "${virsh[@]}" pool-undefine "$pool" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

. bench/lib.sh
port=18095
base=http://127.0.0.1:$port/api/v1alpha1
auth=(-H "Authorization: Bearer $token")
now_ms() { date +%s%3N; }
secs() { awk "BEGIN {printf \"%.1f\", $1 / 1000}"; }
api() {  # METHOD PATH [BODY] → body on stdout; fails on an HTTP error (its body on stderr, unless a GET)
  local out code
  out=$(curl -s -w '\n%{http_code}' -X "$1" "${auth[@]}" -H "X-PROJECT-ID: ${project:-}" \
        ${3:+-H 'Content-Type: application/json' -d "$3"} "$base$2") || return 1
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then
    [ "$1" = GET ] || echo "$1 $2: HTTP $code $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# --- guest agent ------------------------------------------------------------------------
# gexec DOMAIN SCRIPT [STDIN]: runs `sh -c SCRIPT` in the guest (STDIN fed to it), prints
# its stdout; fails when the agent does not answer or the script exits non-zero.
gexec() {
  local request pid status
  request=$(jq -nc --arg script "$2" --arg input "$(printf %s "${3:-}" | base64 -w0)" \
    '{execute: "guest-exec", arguments: ({path: "/bin/sh", arg: ["-c", $script], "capture-output": true}
      + (if $input == "" then {} else {"input-data": $input} end))}')
  pid=$("${virsh[@]}" qemu-agent-command "$1" "$request" 2>/dev/null | jq -r .return.pid) || return 1
  while :; do
    status=$("${virsh[@]}" qemu-agent-command "$1" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}" \
             2>/dev/null) || return 1
    [ "$(jq -r .return.exited <<<"$status")" = true ] && break
    sleep 0.1
  done
  jq -r '.return["out-data"] // ""' <<<"$status" | base64 -d
  [ "$(jq -r .return.exitcode <<<"$status")" = 0 ]
}
agent_up() { "${virsh[@]}" qemu-agent-command "$1" '{"execute":"guest-ping"}' >/dev/null 2>&1; }
guest_ipv4() {  # DOMAIN → its 192.168.122.x address, or nothing yet
  "${virsh[@]}" qemu-agent-command "$1" '{"execute":"guest-network-get-interfaces"}' 2>/dev/null |
    jq -r '.return[]["ip-addresses"][]? | select(."ip-address-type" == "ipv4") | ."ip-address"' |
    grep -m1 '^192\.168\.122\.' || true
}

# --- what the daemon generates for this cluster (slurm/slurm_conf.cpp, node_config.cpp) --
cluster=bench
controller_host=$cluster-controller
real_memory=704  # realMemoryMiB(768): 768 - max(64, 8 %)
slurm_conf() {  # CONTROLLER_IP
  cat <<EOF
# Generated by gpuhost for Slurm cluster $cluster (Slurm 22.05); gpuhost rewrites it.
ClusterName=$cluster
SlurmctldHost=$controller_host($1)
SlurmctldParameters=enable_configless
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity
ReturnToService=2

# Nodes are dynamic (slurmd -Z): no NodeName lines, so scaling never edits this file.
MaxNodeCount=256
TreeWidth=65533

NodeSet=cpu_set Feature=cpu
PartitionName=main Nodes=cpu_set Default=YES DefMemPerCPU=$real_memory MaxTime=INFINITE State=UP
EOF
}
gres_conf="# Generated by gpuhost for Slurm cluster $cluster."
cgroup_conf='# Generated by gpuhost: cgroup v2, under systemd (slurmd asks it for a scope over D-Bus).
CgroupPlugin=cgroup/v2
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainDevices=yes'
slurmd_dropin() {  # CONTROLLER_IP NODE_NAME
  cat <<EOF
# Generated by gpuhost: a configless, dynamic slurmd.
[Unit]
ConditionPathExists=

[Service]
ExecStart=
ExecStart=/usr/sbin/slurmd -s -D --conf-server $1:6817 -Z -N $2 --conf "RealMemory=$real_memory Feature=cpu"
Restart=on-failure
RestartSec=5
EOF
}

# --- gpuhost ------------------------------------------------------------------------------
start_gpuhost() {
  bench_config "$port" info \
    "libvirt: {uri: \"qemu:///system\", virt_type: qemu, pool: $pool, tcg_cache_mib: 128, shutdown_timeout_s: 30, resync_interval_s: 300}" \
    "images: {debian12-slurm: {path: $image/root.qcow2, kernel: $image/vmlinuz, initrd: $image/initrd.img, cmdline: \"$(cat "$image/cmdline")\"}}" \
    "instance_types: [{name: bench.vm, cpu: 1, memory: 768Mi}]
capacity: {cpu_overcommit: 4}" > "$work/gpuhostd.yaml"
  bench_start "$port"
  project=$(api POST /projects '{"name":"bench"}' | jq -r .id)
  # Import the base image before anything is timed (the floor copies it untimed too).
  local warm
  warm=$(api POST /instances '{"name":"warm","type":"bench.vm","image":"image://debian12-slurm"}' | jq -r .id)
  until [ "$(api GET "/instances/$warm" | jq -r .state)" = running ]; do sleep 0.5; done
  api DELETE "/instances/$warm" >/dev/null
  while api GET "/instances/$warm" >/dev/null 2>&1; do sleep 0.5; done
}

# run_gpuhost ROUND: sets g_total and g_break (the breakdown line).
run_gpuhost() {
  local t0 view id t_ctl_run="" t_ctl_ip="" t_all_run="" t_ready t_ctld ip t_del
  echo "  load before: $(load)"
  t0=$(now_ms)
  id=$(api POST /slurm/clusters '{"name":"bench","nodePools":[{"name":"cpu","type":"bench.vm","count":2}]}' | jq -r .id)
  while :; do
    view=$(api GET "/slurm/clusters/$id")
    local now
    now=$(now_ms)
    [ -n "$t_ctl_run" ] || [ "$(jq -r '.controller.instanceState // ""' <<<"$view")" != running ] || t_ctl_run=$now
    [ -n "$t_ctl_ip" ] || [ "$(jq -r '.controller.privateIP // ""' <<<"$view")" = "" ] || t_ctl_ip=$now
    [ -n "$t_all_run" ] || [ "$(jq '[.controller.instanceState, .nodePools[0].nodes[]?.instanceState]
        | length == 3 and all(. == "running")' <<<"$view")" != true ] || t_all_run=$now
    if [ "$(jq '.status.type == "READY" and (.nodePools[0].nodes | length == 2
        and all(.states[0]? == "IDLE"))' <<<"$view")" = true ]; then
      t_ready=$now
      break
    fi
    case $(jq -r .status.type <<<"$view") in
      ERROR | OUT_OF_STOCK) echo "cluster failed: $view" >&2; return 1 ;;
    esac
    [ $((now - t0)) -lt 900000 ] || { echo "cluster not READY after 15 min: $view" >&2; tail -30 "$work/gpuhostd.log" >&2; return 1; }
    sleep 1
  done
  # The daemon logs this once per cluster, right after `systemctl enable --now slurmctld`.
  t_ctld=$(grep "msg=\"slurm controller configured\"" "$work/gpuhostd.log" | grep "cluster=$id" |
           grep -o 'ts=[^ ]*' | cut -d= -f2 | head -1)
  t_ctld=$([ -n "$t_ctld" ] && date -d "$t_ctld" +%s%3N || echo "$t0")
  g_total=$((t_ready - t0))
  g_break=$(printf 'controller running %5ss  controller IP %5ss  slurmctld started %5ss  3 VMs running %5ss  nodes idle %5ss' \
    "$(secs $((t_ctl_run - t0)))" "$(secs $((t_ctl_ip - t0)))" "$(secs $((t_ctld - t0)))" \
    "$(secs $((t_all_run - t0)))" "$(secs "$g_total")")
  # The floor's slurm.conf must be the daemon's, byte for byte (its IP in place of ours).
  ip=$(jq -r .controller.privateIP <<<"$view")
  if gexec "gpuhost-$(jq -r .controller.instanceID <<<"$view")" 'cat /etc/slurm/slurm.conf' > "$work/daemon-slurm.conf" &&
     diff <(slurm_conf "$ip") "$work/daemon-slurm.conf" > "$work/conf.diff"; then
    echo "  the floor's slurm.conf is the daemon's (checked on its controller)"
  else
    echo "  WARNING: the floor's slurm.conf differs from the daemon's:" && sed 's/^/    /' "$work/conf.diff"
  fi
  t_del=$(now_ms)
  api DELETE "/slurm/clusters/$id" >/dev/null
  while api GET "/slurm/clusters/$id" >/dev/null 2>&1; do sleep 1; done
  echo "  DELETE → 404: $(secs $(($(now_ms) - t_del))) s"
}

# --- floor ----------------------------------------------------------------------------------
floor_names=(controller cpu-0 cpu-1)

domain_xml() {  # NAME MAC: drivers/libvirt/domain_xml.cpp's XML for this VM, minus the metadata
  cat <<EOF
<domain type='qemu'>
  <name>$floor_prefix-$1</name>
  <memory unit='KiB'>786432</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$image/vmlinuz</kernel>
    <initrd>$image/initrd.img</initrd>
    <cmdline>$(cat "$image/cmdline")</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
    <tcg>
      <tb-cache unit='MiB'>128</tb-cache>
    </tcg>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='$work/floor/$1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='$work/floor/$1-seed.iso'/>
      <target dev='sda' bus='scsi'/>
      <readonly/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <mac address='$2'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <log file='$work/floor/$1.console.log' append='off'/>
      <target type='isa-serial' port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
EOF
}

# prepare_vm NAME HOSTNAME: overlay, NoCloud seed (cloudinit/seed.cpp's files), define.
prepare_vm() {
  local dir=$work/floor/$1-seed mac
  mac=$(printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))
  qemu-img create -q -f qcow2 -b "$work/base.qcow2" -F qcow2 "$work/floor/$1.qcow2"
  mkdir -p "$dir"
  printf 'instance-id: "%s"\nlocal-hostname: "%s"\n' "$(cat /proc/sys/kernel/random/uuid)" "$2" > "$dir/meta-data"
  printf '#cloud-config\n{}\n' > "$dir/user-data"
  printf 'version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: "%s"\n    set-name: eth0\n    dhcp4: true\n' \
    "$mac" > "$dir/network-config"
  xorriso -as mkisofs -quiet -output "$work/floor/$1-seed.iso" -volid cidata -joliet -rock \
    "$dir/user-data" "$dir/meta-data" "$dir/network-config" 2>/dev/null
  domain_xml "$1" "$mac" > "$work/floor/$1.xml"
  "${virsh[@]}" define "$work/floor/$1.xml" >/dev/null
}

# munge_key DOMAIN: the cluster's key, then munged restarted with it (bootstrap.cpp's part).
munge_key() {
  gexec "$1" 'umask 077 && base64 -d > /etc/munge/munge.key && chown munge:munge /etc/munge/munge.key &&
              chmod 0400 /etc/munge/munge.key && systemctl restart munge' "$(base64 -w0 "$work/munge.key")" >/dev/null
}

# run_floor: sets f_total and f_break.
run_floor() {
  local t0 t_start t_all_run="" t_ctl_ip t_ctld t_idle name ip sinfo
  echo "  load before: $(load)"
  rm -rf "$work/floor" && mkdir -p "$work/floor"
  head -c 1024 /dev/urandom > "$work/munge.key"
  t0=$(now_ms)
  prepare_vm controller "$controller_host"
  prepare_vm cpu-0 "$cluster-cpu-0"
  prepare_vm cpu-1 "$cluster-cpu-1"
  t_start=$(now_ms)
  for name in "${floor_names[@]}"; do "${virsh[@]}" start "$floor_prefix-$name" >/dev/null; done
  t_all_run=$(now_ms)  # virsh start returns with the domain running
  # Controller: munge key, its address, the configs, slurmctld.
  until agent_up "$floor_prefix-controller"; do sleep 0.2; done
  munge_key "$floor_prefix-controller"
  until ip=$(guest_ipv4 "$floor_prefix-controller"); [ -n "$ip" ]; do sleep 0.2; done
  t_ctl_ip=$(now_ms)
  # SlurmctldHost must name this host: cloud-init sets the same name from the seed, maybe later.
  gexec "$floor_prefix-controller" "hostname $controller_host && cat > /etc/slurm/slurm.conf" "$(slurm_conf "$ip")"$'\n'
  gexec "$floor_prefix-controller" 'cat > /etc/slurm/gres.conf' "$gres_conf"$'\n'
  gexec "$floor_prefix-controller" 'cat > /etc/slurm/cgroup.conf' "$cgroup_conf"$'\n'
  gexec "$floor_prefix-controller" 'systemctl enable --now slurmctld 2>&1' >/dev/null
  t_ctld=$(now_ms)
  # Nodes: munge key, the configless slurmd drop-in, slurmd.
  for name in cpu-0 cpu-1; do
    until agent_up "$floor_prefix-$name"; do sleep 0.2; done
    munge_key "$floor_prefix-$name"
    gexec "$floor_prefix-$name" 'mkdir -p /etc/systemd/system/slurmd.service.d &&
      cat > /etc/systemd/system/slurmd.service.d/gpuhost.conf && systemctl daemon-reload &&
      systemctl enable --now slurmd 2>&1' "$(slurmd_dropin "$ip" "$name")"$'\n' >/dev/null
  done
  while :; do
    sinfo=$(gexec "$floor_prefix-controller" "sinfo -h -N -o '%N %t'" 2>/dev/null || true)
    [ "$(printf '%s\n' "$sinfo" | grep -cx 'cpu-[01] idle')" = 2 ] && break
    [ $(($(now_ms) - t0)) -lt 900000 ] || { echo "floor: nodes not idle after 15 min: $sinfo" >&2; return 1; }
    sleep 1
  done
  t_idle=$(now_ms)
  f_total=$((t_idle - t0))
  f_break=$(printf 'controller running %5ss  controller IP %5ss  slurmctld started %5ss  3 VMs running %5ss  nodes idle %5ss' \
    "$(secs $((t_all_run - t0)))" "$(secs $((t_ctl_ip - t0)))" "$(secs $((t_ctld - t0)))" \
    "$(secs $((t_all_run - t0)))" "$(secs "$f_total")")
  echo "  floor: overlays + seeds + define $((t_start - t0)) ms; first virsh start → nodes idle $(secs $((t_idle - t_start))) s"
  for name in "${floor_names[@]}"; do remove_domain "$floor_prefix-$name"; done
  rm -rf "$work/floor"
}

# --- rounds ---------------------------------------------------------------------------------
echo "bench/slurm: $rounds round(s) of $sides, $(nproc) CPUs, load $(load), image $image"
echo "preparing: gpuhostd imports the base image; the floor copies it (neither timed)"
[ "$sides" = floor ] || start_gpuhost
[ "$sides" = gpuhost ] || cp "$image/root.qcow2" "$work/base.qcow2"
g_total=0 f_total=0
results=()
for round in $(seq "$rounds"); do
  if [ "$sides" != floor ]; then
    echo "round $round: gpuhost"
    run_gpuhost
    echo "  gpuhost $g_break"
  fi
  if [ "$sides" != gpuhost ]; then
    echo "round $round: floor"
    run_floor
    echo "  floor   $f_break"
  fi
  results+=("$g_total $f_total")
done
echo "load after: $(load)"
echo
printf '%-6s %10s %10s %7s\n' round 'gpuhost s' 'floor s' ratio
for i in "${!results[@]}"; do
  read -r g f <<<"${results[$i]}"
  ratio=-
  [ "$g" = 0 ] || [ "$f" = 0 ] || ratio=$(awk "BEGIN {printf \"%.2f\", $g / $f}")
  printf '%-6s %10s %10s %7s\n' "$((i + 1))" "$(secs "$g")" "$(secs "$f")" "$ratio"
done
echo "(gpuhost: POST → READY with both nodes IDLE; floor: first qemu-img create → both nodes idle in sinfo)"
