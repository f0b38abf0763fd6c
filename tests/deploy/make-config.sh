#!/usr/bin/env bash
# Fills in the packaged /etc/gpuhost/gpuhostd.yaml template the way an operator would for
# this test (tests/deploy/run.sh), keeping its layout and comments: the token's hash, TCG,
# the dev image, two small instance types. Prints the result.
#
#   make-config.sh TEMPLATE TOKEN_SHA256 IMAGE_DIR KERNEL_CMDLINE
set -euo pipefail
template=$1 sha=$2 images=$3 cmdline=$4

grep -qE '^ *virt_type:' "$template" || { echo "make-config: no libvirt.virt_type in the template" >&2; exit 1; }
grep -qE '^ *tokens: *\[\]' "$template" || { echo "make-config: no 'tokens: []' in the template" >&2; exit 1; }

awk -v sha="$sha" -v images="$images" -v cmdline="$cmdline" '
  # TCG (no usable KVM in the test container), a small translation cache, a short ACPI
  # grace (the dev image ignores the power button, so stop waits for it in full).
  /^ *virt_type:/ {
    indent = $0; sub(/[^ ].*/, "", indent)
    print indent "virt_type: qemu                         # TCG: no KVM in the test container"
    print indent "tcg_cache_mib: 128"
    print indent "shutdown_timeout_s: 15"
    next
  }
  /^ *tokens: *\[\]/ {
    indent = $0; sub(/[^ ].*/, "", indent)
    print indent "tokens:"
    print indent "  - name: operator"
    print indent "    sha256: " sha
    print indent "    projects: [\"*\"]"
    next
  }
  # The commented examples become the real thing.
  /^# images:/ {
    print "images:"
    print "  ubuntu22.04:"
    print "    path: " images "/root.qcow2"
    print "    kernel: " images "/vmlinuz"
    print "    initrd: " images "/initrd.img"
    print "    cmdline: \"" cmdline "\""
    skip = 1; next
  }
  /^# instance_types:/ {
    print "instance_types:"
    print "  - {name: cpu.small, cpu: 1, memory: 1Gi}"
    print "  - {name: cpu.medium, cpu: 2, memory: 2Gi}"
    skip = 1; next
  }
  skip && /^#   / { next }
  { skip = 0; print }
' "$template"
