#!/usr/bin/env bash
# Makes sure libvirtd answers on qemu:///system: through systemd where it is PID 1,
# by hand elsewhere (containers, CI machines without systemd).
set -euo pipefail
if ! virsh -c qemu:///system uri >/dev/null 2>&1; then
  if [ "$(ps -o comm= -p 1)" = "systemd" ]; then
    systemctl start libvirtd
  else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    # Started even when a libvirtd process exists: one just killed may not have gone yet,
    # and a second start while one runs only fails on its pid file.
    libvirtd -d 2>/dev/null || true
  fi
  # After a crash it first reattaches to the QEMU processes still running: allow 30 s.
  for _ in $(seq 300); do virsh -c qemu:///system uri >/dev/null 2>&1 && break; sleep 0.1; done
fi
virsh -c qemu:///system uri >/dev/null 2>&1
