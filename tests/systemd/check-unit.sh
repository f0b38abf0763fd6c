#!/usr/bin/env bash
# Scores systemd/gpuhostd.service with `systemd-analyze security --offline` (goal ≤ 2.5)
# next to Debian's libvirtd.service, and fails above the goal. Skips where systemd-analyze
# is absent (exit 77, ctest's SKIP_RETURN_CODE).
set -euo pipefail
unit=${1:?unit file}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not installed: skipped"; exit 77; }
score() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'; }
ours=$(score "$unit")
[ -n "$ours" ] || { echo "could not score $unit"; exit 1; }
theirs="n/a"
[ -f /lib/systemd/system/libvirtd.service ] && theirs=$(score /lib/systemd/system/libvirtd.service)
printf 'systemd-analyze security: gpuhostd.service %s   libvirtd.service (Debian) %s   goal <= 2.5\n' "$ours" "$theirs"
awk -v s="$ours" 'BEGIN { exit !(s <= 2.5) }'
