#!/usr/bin/env bash
# Makes sure libvirtd answers on qemu:///system: through systemd where it is PID 1,
# by hand elsewhere (containers, CI machines without systemd).
#
#   scripts/ensure-libvirtd.sh [--network NAME]
#
# --network NAME also makes sure libvirt's network NAME (the instances' NAT network,
# "default") is active, and fails loudly when it cannot start (e.g. no dnsmasq).
set -euo pipefail
network=""
if [ "${1:-}" = "--network" ]; then
  network=${2:?--network needs a name}
fi

# Where no udev runs (containers, some CI machines) /dev/kvm stays 0600 root:root. libvirt
# probes QEMU as root (KVM on) but then finds KVM unusable for libvirt-qemu, throws its
# capabilities cache away on every lookup, and each define or capabilities call takes
# 25-45 s. Do what udev's rule does: group kvm, mode 0660.
fix_kvm_node() {
  [ -c /dev/kvm ] && [ "$(id -u)" -eq 0 ] && getent group kvm >/dev/null || return 0
  if [ "$(stat -c %G:%a /dev/kvm)" != "kvm:660" ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
    # Capabilities probed while KVM looked different are stale: let libvirt probe again.
    rm -f /var/cache/libvirt/qemu/capabilities/*.xml
    echo "ensure-libvirtd: /dev/kvm was not group kvm 0660 (no udev?); fixed as udev would" >&2
    return 1  # tells the caller that a running libvirtd must re-probe
  fi
}

answers() { virsh -c qemu:///system uri >/dev/null 2>&1; }

start_libvirtd() {
  if [ "$(ps -o comm= -p 1)" = "systemd" ]; then
    systemctl start libvirtd
  else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    # Started even when a libvirtd process exists: one just killed may not have gone yet,
    # and a second start while one runs only fails on its pid file.
    libvirtd -d 2>/dev/null || true
  fi
  # After a crash it first reattaches to the QEMU processes still running: allow 30 s.
  for _ in $(seq 300); do answers && break; sleep 0.1; done
}

restart_needed=0
fix_kvm_node || restart_needed=1
if answers && [ "$restart_needed" = 1 ] && [ "$(ps -o comm= -p 1)" != "systemd" ]; then
  # A libvirtd started before the fix keeps its bad view of KVM until it restarts.
  pkill -x libvirtd || true
  for _ in $(seq 100); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
fi
answers || start_libvirtd
if ! answers; then
  echo "ensure-libvirtd: libvirtd does not answer on qemu:///system" >&2
  exit 1
fi

if [ -n "$network" ]; then
  if ! virsh -c qemu:///system net-info "$network" >/dev/null 2>&1; then
    echo "ensure-libvirtd: libvirt has no network '$network' (virsh net-define it)" >&2
    exit 1
  fi
  state=$(virsh -c qemu:///system net-info "$network" 2>/dev/null | awk '/^Active:/ {print $2}' || true)
  if [ "$state" != "yes" ]; then
    if ! out=$(virsh -c qemu:///system net-start "$network" 2>&1); then
      echo "ensure-libvirtd: libvirt network '$network' cannot start: $out" >&2
      command -v dnsmasq >/dev/null || echo "ensure-libvirtd: dnsmasq is missing (apt install dnsmasq-base)" >&2
      exit 1
    fi
  fi
  virsh -c qemu:///system net-autostart "$network" >/dev/null 2>&1 || true
fi
