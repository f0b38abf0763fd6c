#!/usr/bin/env bash
# The real-systemd deployment test (issue 12): gpuhost as an operator gets it.
#
#   1. builds the .deb (scripts/build-deb.sh);
#   2. copies a plain Debian 12 root (tests/deploy/build-base.sh, cached; nothing of gpuhost's,
#      no libvirt, no QEMU) and boots systemd 252 in it with systemd-nspawn (no machined
#      here: nsenter into its PID 1);
#   3. installs the .deb there with apt-get --no-install-recommends under that running systemd,
#      so apt resolves its Depends: (and a missing one fails the test);
#   4. writes /etc/gpuhost/gpuhostd.yaml from the packaged template, starts the shipped,
#      hardened unit unchanged, and drives the README's operator session through the API:
#      a project, a filesystem shared by two TCG VMs whose userData writes markers, stop/start,
#      deletes (the filesystem to 404), reload (SIGHUP), a clean stop, systemd-analyze security;
#   5. cleans up on every exit path (the cached base stays).
#
#   tests/deploy/run.sh            (root; exit 77 = skipped, for ctest)
#
# Environment: GPUHOST_DEPLOY_CACHE (default /var/tmp/gpuhost-deploy: the base root, apt's
# downloads, the per-run roots), GPUHOST_DEPLOY_DEB (use this .deb, skip the build),
# GPUHOST_DEPLOY_KEEP=1 (leave the container running on failure, to look inside),
# GPUHOST_DEPLOY_TMPFS=0 (the run's root on disk rather than a tmpfs).
# Warm cache here: ~2 min plus the .deb build (~25 s incremental, ~3.5 min after big changes).
# The whole script is one compound command, read before it runs: editing or checking out
# this file while a run is going cannot change what that run does.
{
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the deployment test needs root (mmdebstrap, chroot, systemd-nspawn)"
  exit 77
fi

cache=${GPUHOST_DEPLOY_CACHE:-/var/tmp/gpuhost-deploy}
mkdir -p "$cache"
exec 9>"$cache/lock"
if ! flock -n 9; then
  echo "FAIL: another tests/deploy/run.sh is running (it holds $cache/lock)"
  exit 1
fi

export LC_ALL=C.UTF-8
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# ---------------------------------------------------------------------------------------
# Timings and failure.
now_ms() { date +%s%3N; }
t_start=$(now_ms)
phase_name=
phase_t=0
timings=()
phase() {
  [ -z "$phase_name" ] || phase_done
  phase_name=$1
  phase_t=$(now_ms)
  echo
  echo "=== $phase_name"
}
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
phase_done() {
  local took
  took=$(seconds_since "$phase_t")
  timings+=("$(printf '  %-58s %7s s' "$phase_name" "$took")")
  echo "--- $phase_name: ${took} s"
  phase_name=
}
note() { echo "    $*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------
# State the cleanup needs.
run_dir=
root=
nspawn_pid=
ct_pid=
chroot_mounts=()
security_lines=()
failed_units=
ct_systemd=

# Runs a command inside the container (all its namespaces), with a clean environment.
in_ct() {
  nsenter -t "$ct_pid" -a -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

umount_chroot() {
  local i
  for ((i = ${#chroot_mounts[@]} - 1; i >= 0; i--)); do
    umount "${chroot_mounts[$i]}" 2>/dev/null || umount -l "${chroot_mounts[$i]}" 2>/dev/null || true
  done
  chroot_mounts=()
}

# Mounts (in the host's namespace) below a directory, deepest first.
mounts_below() { findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r; }

# Loop devices attached since the container started whose backing file is in its root
# (losetup shows the path as the container saw it; the inode must match too).
loops_before=
run_loops() {
  local name ino file
  [ -n "$root" ] || return 0
  losetup -l -n -O NAME,BACK-INO,BACK-FILE 2>/dev/null | while read -r name ino file; do
    case " $loops_before " in *" $name "*) continue ;; esac
    [ -e "$root$file" ] && [ "$(stat -c %i "$root$file")" = "$ino" ] && echo "$name"
  done
}

# Running (a zombie child answers kill -0 until it is reaped).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state:0:1}" != Z ]
}

stop_container() {
  [ -n "$nspawn_pid" ] || return 0
  if alive "$nspawn_pid" && [ -n "$ct_pid" ]; then
    local i t
    t=$(now_ms)
    timeout 10 nsenter -t "$ct_pid" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
    for i in $(seq 1 60); do
      alive "$nspawn_pid" || break
      sleep 0.5
    done
    alive "$nspawn_pid" || echo "    the container powered off in $(seconds_since "$t") s"
  fi
  if alive "$nspawn_pid"; then
    echo "    the container did not power off in 30 s: killing its PID 1 ($ct_pid)"
    # SIGKILL to the PID namespace's init kills everything in it (QEMU included).
    [ -z "$ct_pid" ] || kill -KILL "$ct_pid" 2>/dev/null || true
    sleep 2
    kill -KILL "$nspawn_pid" 2>/dev/null || true
  fi
  wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=
  ct_pid=
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ -z "$phase_name" ] || phase_done
  if [ "$rc" -ne 0 ] && [ -n "$ct_pid" ] && alive "$ct_pid"; then
    echo
    echo "=== diagnostics (exit $rc)"
    in_ct systemctl --no-pager status gpuhostd 2>&1 | tail -n 15
    echo "--- journal of gpuhostd (last 60)"
    in_ct journalctl --no-pager -o short-monotonic -u gpuhostd -n 60 2>&1
    echo "--- journal of libvirt (last 30)"
    in_ct journalctl --no-pager -o short-monotonic -u libvirtd -u virtqemud -n 30 2>&1
    echo "--- failed units"
    in_ct systemctl --no-pager --failed --no-legend 2>&1
    if [ "${GPUHOST_DEPLOY_KEEP:-0}" = 1 ]; then
      echo "GPUHOST_DEPLOY_KEEP=1: the container stays up: nsenter -t $ct_pid -a bash   (then kill $nspawn_pid)"
      exit "$rc"
    fi
  fi
  if [ -n "$run_dir" ]; then
    phase_name="clean up"
    phase_t=$(now_ms)
    stop_container
    umount_chroot
    local m l t
    t=$(now_ms)
    for l in $(run_loops); do
      echo "    detaching $l (backed by the run's root)"
      losetup -d "$l"
    done
    for m in $(mounts_below "$run_dir"); do umount "$m" 2>/dev/null || umount -l "$m"; done
    if [ -n "$(mounts_below "$run_dir")" ]; then
      echo "    WARNING: mounts remain below $run_dir; not removing it"
    else
      rm -rf --one-file-system "$run_dir"
      echo "    unmounted and removed the run's root in $(seconds_since "$t") s"
    fi
    phase_done
  fi
  echo
  echo "=== timings"
  printf '%s\n' "${timings[@]}"
  printf '  %-58s %7s s\n' "total" "$(seconds_since "$t_start")"
  if [ ${#security_lines[@]} -gt 0 ]; then
    echo "=== systemd-analyze security (${ct_systemd:-systemd} in the container)"
    printf '  %s\n' "${security_lines[@]}"
  fi
  [ -z "$failed_units" ] || echo "=== units failed at boot: $failed_units"
  if [ "$rc" -eq 0 ]; then echo "PASS: deployment under a real systemd"; else echo "FAIL (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Leftovers of an earlier run that was killed before its cleanup (we hold the lock, so no
# other run is using them).
for old in "$cache"/run.*; do
  [ -d "$old" ] || continue
  echo "removing the leftovers of an earlier run: $old"
  # Its container, if the run was killed (SIGKILL: no trap) while it was up.
  for pid in $(pgrep -x systemd-nspawn || true); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $old/root " || continue
    echo "  stopping its container (systemd-nspawn $pid)"
    for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
    sleep 1
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  done
  for m in $(mounts_below "$old"); do umount "$m" 2>/dev/null || umount -l "$m"; done
  [ -n "$(mounts_below "$old")" ] || rm -rf --one-file-system "$old"
done

# ---------------------------------------------------------------------------------------
phase "host tools"
"$repo/scripts/install-deps.sh" deploy image
for tool in mmdebstrap systemd-nspawn nsenter chroot losetup jq curl openssl; do
  command -v "$tool" >/dev/null || fail "$tool is missing on the host"
done

# ---------------------------------------------------------------------------------------
phase "build the .deb (scripts/build-deb.sh)"
if [ -n "${GPUHOST_DEPLOY_DEB:-}" ]; then
  deb=$(realpath "$GPUHOST_DEPLOY_DEB")
  note "GPUHOST_DEPLOY_DEB: $deb (not rebuilt)"
else
  [ -x "$repo/scripts/build-deb.sh" ] || fail "scripts/build-deb.sh is missing"
  "$repo/scripts/build-deb.sh" >"$cache/build-deb.log" 2>&1 || {
    tail -n 40 "$cache/build-deb.log"
    fail "scripts/build-deb.sh failed (log: $cache/build-deb.log)"
  }
  deb=$(grep -E '\.deb$' "$cache/build-deb.log" | tail -n1 | awk '{ print $NF }')
  case "$deb" in /*) ;; *) deb=$repo/$deb ;; esac
  grep -E '^[EWIXP]: gpuhost' "$cache/build-deb.log" | sed 's/^/    lintian: /' | head -n 20 || true
fi
[ -f "$deb" ] || fail "no .deb: '$deb'"
note "$deb ($(du -h "$deb" | cut -f1))"
note "Depends: $(dpkg-deb -f "$deb" Depends)"

# ---------------------------------------------------------------------------------------
phase "dev image (images/build-dev-image.sh, cached)"
"$repo/images/build-dev-image.sh" | tail -n1
image_dir=$repo/images/cache/debian12
for f in root.qcow2 vmlinuz initrd.img cmdline; do [ -f "$image_dir/$f" ] || fail "no $image_dir/$f"; done

# ---------------------------------------------------------------------------------------
phase "base root: Debian 12 + systemd (build-base.sh, cached)"
"$here/build-base.sh" "$cache/base" | tail -n1

# ---------------------------------------------------------------------------------------
phase "copy the base for this run"
run_dir=$(mktemp -d "$cache/run.XXXXXX")
root=$run_dir/root
mkdir "$root"
# On a tmpfs when memory allows (~2 GiB are used: the root, the pool's copy of the image, the
# guests' overlays): this disk is shared and slow, and removing ~15k files from it took up
# to 45 s here. Nothing in the test depends on the host file system under the root (the
# filesystems' ext4 images are loop-mounted from it either way). GPUHOST_DEPLOY_TMPFS=0: disk.
available_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
if [ "${GPUHOST_DEPLOY_TMPFS:-1}" = 1 ] && [ "$available_kib" -ge $((8 * 1024 * 1024)) ]; then
  mount -t tmpfs -o size=6g,mode=0755 gpuhost-deploy "$root"
  where=tmpfs
else
  where="disk ($((available_kib / 1024)) MiB available)"
fi
cp -a "$cache/base/." "$root/"
rm -f "$root/.built-by"
note "$root ($(du -sh "$root" | cut -f1), on $where)"

# ---------------------------------------------------------------------------------------
phase "apt resolves the .deb's Depends and downloads them"
# The install itself runs later, under the booted systemd, as on an operator's host (the
# maintainer scripts then talk to a real PID 1). The container has no network, so apt
# resolves and downloads here, in a chroot, through the host's sources; the container's apt
# then installs from those downloads (and fails if anything it needs is not among them).
# --no-install-recommends: only Depends: count, so a run-time need that is merely a
# Recommends somewhere (dnsmasq-base is one of libvirt's) fails the test.
deb_in_root=/root/$(basename "$deb")
install -m644 "$deb" "$root$deb_in_root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$cache/apt-archives/partial"
mount -t proc proc "$root/proc" && chroot_mounts+=("$root/proc")
mount --bind /dev "$root/dev" && chroot_mounts+=("$root/dev")
# Downloads are kept between runs (apt still resolves everything every time).
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives" && chroot_mounts+=("$root/var/cache/apt/archives")
in_chroot() {
  chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
in_chroot apt-get update -q >"$run_dir/apt.log" 2>&1 || { tail -n 20 "$run_dir/apt.log"; fail "apt-get update"; }
if ! in_chroot apt-get install -y -q --download-only --no-install-recommends "$deb_in_root" >>"$run_dir/apt.log" 2>&1; then
  tail -n 40 "$run_dir/apt.log"
  fail "apt cannot resolve the .deb's Depends"
fi
note "$(grep -E '^[0-9]+ upgraded, [0-9]+ newly installed' "$run_dir/apt.log" | tail -n1)"
umount_chroot

# ---------------------------------------------------------------------------------------
phase "operator: copy the image in"
# The dev image where QEMU (libvirt-qemu) and gpuhostd can read it (/srv, world-readable).
images=/srv/gpuhost/images/debian12
install -d -m755 "$root$images"
for f in root.qcow2 vmlinuz initrd.img; do install -m644 "$image_dir/$f" "$root$images/$f"; done
cmdline=$(cat "$image_dir/cmdline")

# ---------------------------------------------------------------------------------------
phase "boot systemd in systemd-nspawn"
# The filesystem feature loop-mounts ext4 images (libvirt runs mount -o loop inside the
# container): the container sees only the loop nodes bound in, so make sure there are
# enough of them (the kernel attaches any free one).
for n in $(seq 0 15); do
  [ -e "/dev/loop$n" ] || { mknod -m 660 "/dev/loop$n" b 7 "$n" && chgrp disk "/dev/loop$n"; }
done
loops_before=$(losetup -l -n -O NAME 2>/dev/null | tr '\n' ' ')
binds=(--bind="$cache/apt-archives:/var/cache/apt/archives" --bind=/dev/loop-control)
for l in /dev/loop[0-9]*; do binds+=("--bind=$l"); done
# SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1: cgroup v2 inside (the host is hybrid v1): with v1,
#   every domain start fails ("Failed to create v1 controller cpu ... Read-only file system").
# -b: boot /sbin/init (systemd) as PID 1.
# --keep-unit, --register=no: the host has no systemd/machined to make a scope or register with.
# --private-network: the container's own network namespace; it also gives CAP_NET_ADMIN, which
#   libvirt's NAT network needs (bridge, taps, iptables), and keeps its 192.168.122.0/24
#   and iptables rules away from the host's libvirt.
# --console=passive: no terminal here; the console goes to a log.
# --system-call-filter=bpf: systemd inside enforces IPAddressDeny=/DevicePolicy= with BPF.
# --bind=/dev/loop-control --bind=/dev/loopN: see above.
# --bind=CACHE:/var/cache/apt/archives: the packages apt downloaded in the chroot.
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -b -D "$root" --machine="gpuhost-deploy-$$" \
  --keep-unit --register=no --private-network --console=passive --system-call-filter=bpf \
  "${binds[@]}" >"$run_dir/console.log" 2>&1 </dev/null 9>&- &
nspawn_pid=$!
for i in $(seq 1 200); do
  for child in $(pgrep -P "$nspawn_pid" || true); do
    if grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$child/status" 2>/dev/null; then ct_pid=$child; fi
  done
  [ -z "$ct_pid" ] || break
  alive "$nspawn_pid" || { cat "$run_dir/console.log"; fail "systemd-nspawn exited"; }
  sleep 0.1
done
[ -n "$ct_pid" ] || fail "no PID 1 under systemd-nspawn ($nspawn_pid)"
note "systemd-nspawn $nspawn_pid, the container's PID 1 is $ct_pid on the host"
state=
for i in $(seq 1 120); do
  state=$(in_ct timeout 120 systemctl is-system-running --wait 2>/dev/null) && break
  case "$state" in running | degraded | maintenance | stopping) break ;; esac
  sleep 1
done
ct_systemd=$(in_ct systemctl --version | head -n1)
note "is-system-running: $state ($ct_systemd)"
case "$state" in
  running) ;;
  degraded)
    failed_units=$(in_ct systemctl --failed --no-legend --plain | awk '{ print $1 }' | tr '\n' ' ')
    note "failed units: $failed_units"
    ;;
  *) fail "the container's systemd did not come up: '$state'" ;;
esac

# ---------------------------------------------------------------------------------------
phase "apt-get install ./the.deb under the running systemd"
before=$(in_ct dpkg-query -W -f='${Package}\n' | wc -l)
if ! in_ct DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb_in_root" \
  >"$run_dir/apt-install.log" 2>&1; then
  tail -n 40 "$run_dir/apt-install.log"
  fail "apt-get install of the .deb failed"
fi
after=$(in_ct dpkg-query -W -f='${Package}\n' | wc -l)
note "installed: gpuhost $(in_ct dpkg-query -W -f='${Version}' gpuhost) and $((after - before - 1)) packages it pulled in"
grep -iE '^(W|E):|warning|error|fail' "$run_dir/apt-install.log" | sed 's/^/    apt: /' | head -n 20 || true

# What the package installed for systemd, and the state it left them in.
units=$(in_ct dpkg-query -L gpuhost | grep -E '/systemd/system/[^/]+\.(service|socket)$' | xargs -rn1 basename | sort -u | tr '\n' ' ')
[ -n "$(in_ct dpkg-query -L gpuhost | grep -E '/gpuhostd\.service$')" ] || fail "the package ships no gpuhostd.service"
for unit in $units; do
  note "$(printf '%-28s' "$unit") enabled: $(in_ct systemctl is-enabled "$unit" 2>/dev/null || true), active: $(in_ct systemctl is-active "$unit" 2>/dev/null || true)"
done
note "binary: $(in_ct dpkg-query -L gpuhost | grep -E '/s?bin/gpuhostd$' | head -n1)"
# systemd's own lint of the shipped units, as this systemd sees them (missing executables,
# unknown keys, ...). Reported, not judged: the phases below are the judges.
verify_units=
for unit in $units; do
  case "$unit" in *@.service) verify_units+=" ${unit%@.service}@deploy-test.service" ;; *) verify_units+=" $unit" ;; esac
done
# shellcheck disable=SC2086
# (Documentation=man:... "fails" only because the base has no man-db.)
in_ct systemd-analyze verify $verify_units 2>&1 | grep -v "Command 'man " | sed 's/^/    systemd-analyze verify: /' || true
note "user: $(in_ct id gpuhost)"
[ "$(in_ct systemctl is-active gpuhost-unmount.socket 2>/dev/null || true)" = active ] ||
  note "WARNING: gpuhost-unmount.socket is not active after the install"

# ---------------------------------------------------------------------------------------
phase "operator: /etc/gpuhost/gpuhostd.yaml from the template"
# The packaged template, wherever the package puts it.
config=/etc/gpuhost/gpuhostd.yaml
template=
for candidate in $config $(in_ct dpkg-query -L gpuhost | grep -E 'gpuhostd\.ya?ml(\.example)?(\.gz)?$'); do
  if [ -f "$root$candidate" ]; then template=$candidate; break; fi
done
[ -n "$template" ] || fail "the package ships no configuration template"
note "template: $template"
[ -f "$root$config" ] && note "as installed: $(in_ct stat -c '%A %U:%G' "$config") $config" || note "$config: not installed by the package"
note "as installed: $(in_ct stat -c '%A %U:%G' /etc/gpuhost) /etc/gpuhost"

token=$(openssl rand -hex 32)
token_sha=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
case "$template" in *.gz) zcat "$root$template" ;; *) cat "$root$template" ;; esac >"$run_dir/template.yaml"
"$here/make-config.sh" "$run_dir/template.yaml" "$token_sha" "$images" "$cmdline" >"$run_dir/gpuhostd.yaml" ||
  fail "could not fill in the template"
# Written in place: the file keeps the owner and mode the package gave it.
if [ -f "$root$config" ]; then
  cat "$run_dir/gpuhostd.yaml" >"$root$config"
else
  install -m640 -o root -g "$(stat -c %g "$root/etc/gpuhost")" "$run_dir/gpuhostd.yaml" "$root$config"
fi
note "written: $(in_ct stat -c '%A %U:%G' "$config") $config"
diff -u "$run_dir/template.yaml" "$root$config" | sed -n '3,$p' | grep -E '^[-+]' | sed 's/^/    /' || true
listen=$(awk '/^listen:/ { print $2 }' "$root$config" | tr -d '"')
listen=${listen:-127.0.0.1:8080}
api_base="http://$listen/api/v1alpha1"
# As the unit's ExecStartPre will, as the agent's user.
in_ct setpriv --reuid=gpuhost --regid=gpuhost --init-groups \
  "$(in_ct dpkg-query -L gpuhost | grep -E '/s?bin/gpuhostd$' | head -n1)" --config "$config" --check-config ||
  fail "gpuhostd --check-config refuses the config"

# ---------------------------------------------------------------------------------------
phase "libvirt inside: the instances' network (gpuhostd starts it itself)"
in_ct virsh -c qemu:///system net-list --all | grep -v '^ *$' | sed 's/^/    /'
network_was_active=no
info=$(in_ct virsh -c qemu:///system net-info default)
grep -qE '^Active: +yes' <<<"$info" && network_was_active=yes
note "network 'default' active before gpuhostd: $network_was_active"

# ---------------------------------------------------------------------------------------
phase "systemctl start gpuhostd (Type=notify: returns at READY=1)"
in_ct systemctl start gpuhostd || fail "systemctl start gpuhostd"
[ "$(in_ct systemctl is-active gpuhostd)" = active ] || fail "gpuhostd is not active"
note "$(in_ct systemctl show -p MainPID,User,NRestarts gpuhostd | tr '\n' ' ')"
# systemd's own complaints about the shipped units (unknown keys, clamped limits, ...).
in_ct journalctl -b --no-pager -o cat _PID=1 | grep -E 'gpuhost' | grep -viE 'Start(ing|ed)|Reached|Listening' |
  sed 's/^/    systemd: /' || true

# ---------------------------------------------------------------------------------------
# The API, from inside the container's network namespace.
project=
code=
body=
api() {
  local method=$1 path=$2 data=${3:-}
  local args=(-s -m 30 -o "$run_dir/body" -w '%{http_code}' -X "$method")
  [ -z "$token" ] || args+=(-H "Authorization: Bearer $token")
  [ -z "$project" ] || args+=(-H "X-PROJECT-ID: $project")
  [ -z "$data" ] || args+=(-H 'Content-Type: application/json' --data-binary "$data")
  : >"$run_dir/body"
  code=$(nsenter -t "$ct_pid" -n curl "${args[@]}" "$api_base$path") || code=000
  body=$(cat "$run_dir/body")
}
expect() {  # expect CODE METHOD PATH [BODY]
  local want=$1
  shift
  api "$@"
  [ "$code" = "$want" ] || fail "$1 $2: HTTP $code (wanted $want): $body"
}
# Polls until `api GET $1` answers with jq filter $2 = $3, or $4 seconds pass.
wait_for() {
  local path=$1 filter=$2 want=$3 limit=$4 t got=
  t=$(now_ms)
  while :; do
    api GET "$path"
    if [ "$filter" = code ]; then got=$code; else got=$(jq -r "$filter" <<<"$body" 2>/dev/null || true); fi
    [ "$got" = "$want" ] && return 0
    [ "$(((($(now_ms) - t)) / 1000))" -lt "$limit" ] || fail "GET $path: $filter is '$got' after ${limit}s (wanted $want): $body"
    sleep 2
  done
}

phase "API: project, filesystem"
token_saved=$token
token=
expect 401 GET /projects
token=wrong
expect 401 GET /projects
token=$token_saved
expect 201 POST /projects '{"name": "deploy-test", "tags": {"env": "test"}}'
project=$(jq -r .id <<<"$body")
note "project $project"
# The agent ensures its libvirt network on its first host refresh, under the hardened unit.
# Both: gpuhostd sets autostart just after the start, so "active" alone may be seen between.
for _ in $(seq 1 150); do
  info=$(in_ct virsh -c qemu:///system net-info default)
  grep -qE '^Active: +yes' <<<"$info" && grep -qE '^Autostart: +yes' <<<"$info" && break
  sleep 0.2
done
# Checked on the captured text: under pipefail, `virsh | grep -q` fails when grep's early
# exit gives virsh a SIGPIPE.
grep -qE '^Active: +yes' <<<"$info" || fail "gpuhostd did not start libvirt's default network"
grep -qE '^Autostart: +yes' <<<"$info" ||
  fail "libvirt's default network is not autostarted (a reboot would leave VMs without a network)"
if [ "$network_was_active" = no ]; then
  grep -q 'msg="started libvirt network"' <<<"$(in_ct journalctl -u gpuhostd --no-pager -o cat)" ||
    fail "the network came up, but gpuhostd's journal does not say it started it"
  note "gpuhostd started libvirt's default network and set autostart"
fi

expect 200 GET /capabilities
note "capabilities: $(jq -c . <<<"$body")"
expect 201 POST /filesystems '{"name": "shared", "size": "64Mi"}'
fs=$(jq -r .id <<<"$body")
wait_for "/filesystems/$fs" .state available 120
fs_mount=$(in_ct findmnt -rn -o TARGET,SOURCE | awk -v id="gpuhost-fs-$fs" 'index($1, id) { print $1; exit }')
[ -n "$fs_mount" ] || fail "filesystem $fs is available but not mounted in the container"
note "filesystem $fs available, mounted at $fs_mount ($(in_ct findmnt -rn -o SOURCE,FSTYPE,OPTIONS "$fs_mount"))"

# ---------------------------------------------------------------------------------------
phase "API: two VMs on the filesystem, boot until running with an address"
declare -A vm_id
for vm in vm-a vm-b; do
  # The agent mounts /mnt/shared from bootcmd, before the user's runcmd: the user's write goes
  # straight to the filesystem (a guest-local /mnt/shared would fail the cross-read below).
  userdata=$(printf '%s\n' '#cloud-config' 'runcmd:' \
    "  - [sh, -c, \"echo root-$vm > /root/marker\"]" \
    "  - [sh, -c, \"mountpoint -q /mnt/shared && echo shared-$vm > /mnt/shared/from-$vm\"]" |
    base64 -w0)
  expect 201 POST /instances "{\"name\": \"$vm\", \"type\": \"cpu.small\", \"filesystems\": [\"$fs\"], \"userData\": \"$userdata\"}"
  vm_id[$vm]=$(jq -r .id <<<"$body")
  note "$vm: ${vm_id[$vm]} ($(jq -r .state <<<"$body"))"
done
t_boot=$(now_ms)
for vm in vm-a vm-b; do
  wait_for "/instances/${vm_id[$vm]}" .state running 300
  note "$vm running after $(seconds_since "$t_boot") s"
done
for vm in vm-a vm-b; do
  wait_for "/instances/${vm_id[$vm]}" '.ip != null' true 400
  note "$vm address $(jq -r .ip <<<"$body") after $(seconds_since "$t_boot") s"
done

# Runs a shell line in a guest through the guest agent (from inside the container).
guest_sh() {
  local domain=$1 line=$2 out pid i
  out=$(in_ct virsh -c qemu:///system qemu-agent-command "$domain" \
    "$(jq -cn --arg l "$line" '{execute: "guest-exec", arguments: {path: "/bin/sh", arg: ["-c", $l], "capture-output": true}}')" 2>/dev/null) ||
    return 1
  pid=$(jq -r .return.pid <<<"$out")
  for i in $(seq 1 50); do
    out=$(in_ct virsh -c qemu:///system qemu-agent-command "$domain" \
      "{\"execute\": \"guest-exec-status\", \"arguments\": {\"pid\": $pid}}" 2>/dev/null) || return 1
    if [ "$(jq -r .return.exited <<<"$out")" = true ]; then
      jq -r '.return["out-data"] // ""' <<<"$out" | base64 -d
      return 0
    fi
    sleep 0.2
  done
  return 1
}
guest_sh_until() {  # DOMAIN LINE EXPECT SECONDS
  local t out=
  t=$(now_ms)
  while [ "$((($(now_ms) - t) / 1000))" -lt "$4" ]; do
    out=$(guest_sh "$1" "$2" || true)
    case "$out" in *"$3"*) return 0 ;; esac
    sleep 3
  done
  echo "$out"
  return 1
}

phase "userData ran: markers in /root (guest agent) and on the shared filesystem"
for vm in vm-a vm-b; do
  guest_sh_until "gpuhost-${vm_id[$vm]}" "cat /root/marker" "root-$vm" 300 ||
    fail "$vm: no /root/marker through the guest agent"
  note "$vm: /root/marker = root-$vm (guest agent, $(seconds_since "$t_boot") s after create)"
done
t=$(now_ms)
for vm in vm-a vm-b; do
  until in_ct test -f "$fs_mount/from-$vm"; do
    if [ "$((($(now_ms) - t) / 1000))" -ge 120 ]; then
      guest_sh "gpuhost-${vm_id[$vm]}" "findmnt /mnt/shared; ls -la /mnt/shared; cloud-init status --long; tail -n 20 /var/log/cloud-init-output.log" |
        sed "s/^/    $vm: /"
      fail "no $fs_mount/from-$vm in the container"
    fi
    sleep 2
  done
  note "$fs_mount/from-$vm = $(in_ct cat "$fs_mount/from-$vm") (container side)"
done
# Each guest reads what the other wrote.
out=$(guest_sh "gpuhost-${vm_id[vm-a]}" "cat /mnt/shared/from-vm-b") || true
[ "$out" = shared-vm-b ] || fail "vm-a cannot read vm-b's file on the shared filesystem: '$out'"
note "vm-a reads vm-b's file through virtiofs"
expect 409 DELETE "/filesystems/$fs"
note "DELETE of the attached filesystem: 409"

# ---------------------------------------------------------------------------------------
phase "API: stop/start vm-a (and delete vm-b meanwhile)"
expect 202 POST "/instances/${vm_id[vm-a]}/actions/stop"
expect 204 DELETE "/instances/${vm_id[vm-b]}"
wait_for "/instances/${vm_id[vm-a]}" .state stopped 180
note "vm-a stopped ($(jq -r '.reason // "no reason"' <<<"$body"))"
wait_for "/instances/${vm_id[vm-b]}" code 404 120
note "vm-b deleted: 404"
t=$(now_ms)
expect 202 POST "/instances/${vm_id[vm-a]}/actions/start"
wait_for "/instances/${vm_id[vm-a]}" .state running 180
guest_sh_until "gpuhost-${vm_id[vm-a]}" "cat /root/marker /mnt/shared/from-vm-b" "shared-vm-b" 300 ||
  fail "vm-a after its restart: no marker or no shared filesystem (fstab)"
note "vm-a back after $(seconds_since "$t") s: /root/marker kept, /mnt/shared mounted again from fstab"

# ---------------------------------------------------------------------------------------
phase "API: delete vm-a, then the filesystem to 404"
expect 204 DELETE "/instances/${vm_id[vm-a]}"
wait_for "/instances/${vm_id[vm-a]}" code 404 120
[ -z "$(in_ct virsh -c qemu:///system list --all --name | grep gpuhost- || true)" ] || fail "domains left after the deletes"
t=$(now_ms)
expect 204 DELETE "/filesystems/$fs"
wait_for "/filesystems/$fs" code 404 180
note "filesystem deleted: 404 after $(seconds_since "$t") s"
in_ct journalctl --no-pager -o cat -u 'gpuhost-unmount@*' | grep -vE '^(Started|Starting|Finished|Deactivated)' |
  sed 's/^/    unmount helper: /' || true
[ -z "$(in_ct findmnt -rn -o TARGET | grep "gpuhost-fs-$fs" || true)" ] || fail "the filesystem is still mounted in the container"
note "no mount of it left in the container"

# ---------------------------------------------------------------------------------------
phase "systemctl reload gpuhostd (SIGHUP)"
since=$(in_ct date '+%Y-%m-%d %H:%M:%S')
in_ct systemctl reload gpuhostd || fail "systemctl reload"
for i in $(seq 1 20); do
  grep -q 'reloaded auth.tokens' <<<"$(in_ct journalctl --no-pager -o cat -u gpuhostd --since "$since")" && break
  sleep 0.5
done
line=$(in_ct journalctl --no-pager -o cat -u gpuhostd --since "$since" | grep 'reloaded auth.tokens' | tail -n1)
[ -n "$line" ] || fail "no 'reloaded auth.tokens' in the journal after the reload"
note "journal: $line"
[ "$(in_ct systemctl is-active gpuhostd)" = active ] || fail "gpuhostd not active after the reload"
expect 200 GET /projects
note "still active and answering"

# ---------------------------------------------------------------------------------------
phase "systemctl stop gpuhostd (clean exit)"
in_ct systemctl stop gpuhostd
shown=$(in_ct systemctl show -p ExecMainStatus,Result gpuhostd | tr '\n' ' ')
note "$shown"
case "$shown" in *ExecMainStatus=0*Result=success* | *Result=success*ExecMainStatus=0*) ;; *) fail "unclean stop: $shown" ;; esac
in_ct journalctl --no-pager -o cat -u gpuhostd | grep -iE 'level=(warn|error)' | sed 's/^/    gpuhostd: /' | tail -n 20 || true

# ---------------------------------------------------------------------------------------
phase "systemd-analyze security"
for unit in $units; do
  case "$unit" in
    *@.service) unit=${unit%@.service}@deploy-test.service ;;  # an instance of the template
    *.service) ;;
    *) continue ;;  # systemd-analyze security rates services only
  esac
  score=$(in_ct systemd-analyze security --no-pager "$unit" 2>&1 | tail -n1)
  security_lines+=("$unit: ${score#*: }")
  note "$unit: ${score#*: }"
done

phase_done
exit 0
}
