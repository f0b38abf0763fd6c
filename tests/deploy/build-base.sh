#!/usr/bin/env bash
# The base root file system of the real-systemd deployment test (tests/deploy/run.sh):
# a plain Debian 12 that boots systemd, with nothing of gpuhost's in it. Everything
# gpuhost needs at run time must come from the .deb's Depends: (libvirt and QEMU are
# deliberately NOT here).
#
#   tests/deploy/build-base.sh OUT_DIR
#
# Cached: OUT_DIR is kept while OUT_DIR/.built-by holds this script's hash and the host's
# apt sources' hash; it is rebuilt otherwise. Needs root (mmdebstrap).
set -euo pipefail
out=${1:?usage: build-base.sh OUT_DIR}

# The host's own apt sources (its mirror or proxy): the only network this test uses.
sources=
for candidate in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
  if [ -s "$candidate" ]; then sources=$candidate; break; fi
done
stamp=$( (sha256sum "$0" | cut -d' ' -f1; [ -z "$sources" ] || sha256sum "$sources" | cut -d' ' -f1) | sha256sum | cut -d' ' -f1)
if [ -f "$out/.built-by" ] && [ "$(cat "$out/.built-by")" = "$stamp" ]; then
  echo "deploy base up to date: $out"
  exit 0
fi

# systemd-sysv: systemd as PID 1. dbus: the system bus (logind, and polkitd, which libvirt uses
# for its socket), as on any Debian host. curl, ca-certificates: the operator's client. iproute2: `ip`,
# for looking at libvirt's bridge. /etc/hosts names the host, as the installer would write it
# (libvirtd resolves its own host name). No udev: it does not run in a container (/sys is
# read-only there), and nothing below needs it.
packages=systemd-sysv,dbus,curl,ca-certificates,iproute2
tmp="$out.tmp.$$"
rm -rf --one-file-system "$tmp"
trap 'rm -rf --one-file-system "$tmp"' EXIT
mmdebstrap --variant=apt --include="$packages" \
  --customize-hook='echo gpuhost-deploy > "$1/etc/hostname"' \
  --customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\tgpuhost-deploy\n::1\t\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
  --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  --customize-hook='chroot "$1" apt-get clean' \
  bookworm "$tmp" ${sources:+"$sources"}
echo "$stamp" > "$tmp/.built-by"
rm -rf --one-file-system "$out"
mv "$tmp" "$out"
trap - EXIT
echo "deploy base built: $out ($(du -sh "$out" | cut -f1))"
