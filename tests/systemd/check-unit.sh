#!/usr/bin/env bash
# Scores a shipped unit with `systemd-analyze security --offline` and fails above its goal:
# gpuhostd.service <= 2.5 (next to Debian's libvirtd.service, for scale); the unmount helper
# (root with CAP_SYS_ADMIN, in the host's mount namespace by design) <= 3.0, and the helper
# must not carry any option that would give it a mount namespace of its own, or its umount2
# would miss libvirtd's mount. Skips where systemd-analyze is absent (exit 77, ctest's
# SKIP_RETURN_CODE).
set -euo pipefail
unit=${1:?unit file}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
score() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'; }
name=$(basename "$unit")
goal=2.5
if [ "$name" = "gpuhost-unmount@.service" ]; then
  goal=3.0
  # What makes systemd (252 and later) set up a mount namespace for a service.
  forbidden='^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|ExecPaths|NoExecPaths|BindPaths|BindReadOnlyPaths|TemporaryFileSystem|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|PrivateIPC|IPCNamespacePath|NetworkNamespacePath|RootDirectory|RootImage|MountFlags|PrivateUsers|MountAPIVFS|LogNamespace)='
  if grep -E "$forbidden" "$unit"; then
    echo "$name: the options above give it a private mount namespace (or user namespace)"; exit 1
  fi
  # PrivateNetwork= implies a mount namespace on newer systemd unless PrivateMounts=no is explicit.
  if grep -q '^PrivateNetwork=yes' "$unit" && ! grep -q '^PrivateMounts=no' "$unit"; then
    echo "$name: PrivateNetwork=yes needs an explicit PrivateMounts=no"; exit 1
  fi
  grep -q '^CapabilityBoundingSet=CAP_SYS_ADMIN$' "$unit" || { echo "$name: CAP_SYS_ADMIN only"; exit 1; }
fi
ours=$(score "$unit")
[ -n "$ours" ] || { echo "could not score $unit"; exit 1; }
theirs="n/a"
[ -f /lib/systemd/system/libvirtd.service ] && theirs=$(score /lib/systemd/system/libvirtd.service)
printf 'systemd-analyze security: %s %s   libvirtd.service (Debian) %s   goal <= %s\n' "$name" "$ours" "$theirs" "$goal"
awk -v s="$ours" -v g="$goal" 'BEGIN { exit !(s <= g) }'
