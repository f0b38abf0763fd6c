#!/usr/bin/env bash
# Builds the small Debian 12 image used for development and end-to-end tests here
# (no internet, so no Ubuntu cloud images): cloud-init + qemu-guest-agent from Debian's
# packages, booted with its own kernel and initrd (direct kernel boot, root=/dev/vda).
# Production maps image names to real cloud images instead (see README).
#
#   images/build-dev-image.sh [OUT_DIR=images/cache/debian12]
#
# Output: OUT_DIR/{root.qcow2, vmlinuz, initrd.img, cmdline}. Cached: rebuilt only when
# this script changes (its hash is kept in OUT_DIR/.built-by). Needs root (mmdebstrap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/cache/debian12}
stamp=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$out/.built-by" ] && [ "$(cat "$out/.built-by")" = "$stamp" ] && [ -f "$out/root.qcow2" ]; then
  echo "dev image up to date: $out"
  exit 0
fi

"$here/../scripts/install-deps.sh" image
work=$(mktemp -d /tmp/gpuhost-image-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Use the host's own apt sources (its mirror or proxy), falling back to mmdebstrap's default.
mirror=()
for sources in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  if [ -s "$sources" ]; then mirror=("$sources"); break; fi
done

# dbus + libpam-systemd bring systemd-logind, which powers off on the ACPI power button
# (HandlePowerKey=poweroff by default): without it the guest ignores `virsh shutdown --mode
# acpi` and every stop waits for shutdown_timeout_s before a destroy.
packages=systemd-sysv,udev,dbus,libpam-systemd,cloud-init,qemu-guest-agent,linux-image-cloud-amd64,e2fsprogs,isc-dhcp-client,ifupdown,locales,netbase
mmdebstrap --variant=apt --include="$packages" \
  --customize-hook='echo "datasource_list: [ NoCloud, None ]" > "$1/etc/cloud/cloud.cfg.d/90-gpuhost-nocloud.cfg"' \
  --customize-hook='sed -i "s/^# *en_US.UTF-8/en_US.UTF-8/" "$1/etc/locale.gen" && chroot "$1" locale-gen >/dev/null' \
  --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"' \
  --customize-hook='rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  bookworm "$work/rootfs" "${mirror[@]}"

mkdir -p "$out"
cp "$(ls "$work"/rootfs/boot/vmlinuz-* | tail -1)" "$out/vmlinuz.new"
cp "$(ls "$work"/rootfs/boot/initrd.img-* | tail -1)" "$out/initrd.img.new"
truncate -s 2G "$work/root.raw"
mkfs.ext4 -q -L root -d "$work/rootfs" "$work/root.raw"
qemu-img convert -O qcow2 "$work/root.raw" "$out/root.qcow2.new"
for f in root.qcow2 vmlinuz initrd.img; do mv "$out/$f.new" "$out/$f"; done
echo "root=/dev/vda rw console=ttyS0" > "$out/cmdline"
echo "$stamp" > "$out/.built-by"
echo "dev image built: $out ($(du -h --apparent-size "$out/root.qcow2" | cut -f1) qcow2)"
