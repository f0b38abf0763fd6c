#!/usr/bin/env bash
# Makes sure libvirtd answers on qemu:///system: through systemd where it is PID 1,
# by hand elsewhere (containers, CI machines without systemd).
set -euo pipefail
if ! virsh -c qemu:///system uri >/dev/null 2>&1; then
  if [ "$(ps -o comm= -p 1)" = "systemd" ]; then
    systemctl start libvirtd
  else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    pgrep -x libvirtd >/dev/null || libvirtd -d
  fi
  for _ in $(seq 50); do virsh -c qemu:///system uri >/dev/null 2>&1 && break; sleep 0.1; done
fi
virsh -c qemu:///system uri >/dev/null 2>&1
