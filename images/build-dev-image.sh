#!/usr/bin/env bash
# Builds the small Debian 12 image used for development and end-to-end tests here
# (no internet, so no Ubuntu cloud images): cloud-init + qemu-guest-agent from Debian's
# packages, booted with its own kernel and initrd (direct kernel boot, root=/dev/vda).
# Production maps image names to real cloud images instead (see README).
#
#   images/build-dev-image.sh [--slurm|--kubernetes] [OUT_DIR]
#
# Output: OUT_DIR/{root.qcow2, vmlinuz, initrd.img, cmdline}, OUT_DIR by default
# images/cache/debian12, or images/cache/debian12-slurm with --slurm: the same image plus
# Slurm 22.05 (slurmctld, slurmd, slurm-client) and munge, with no munge key (the package
# makes one, which every VM would share: cloud-init writes the cluster's) and slurmctld and
# slurmd disabled (the agent and cloud-init start them); munge stays enabled.
# --kubernetes (images/cache/debian12-kubernetes): the same image plus the e2e test's
# stand-ins for kubeadm, kubectl and the kubelet (tests/e2e/kubernetes-standin/, with the
# kubeadm field maps they check configs against): kubeadm and kubelet are not installable
# here. A test image only; production uses a real image with kubeadm (see README).
# Cached: rebuilt only when this script (which holds the package lists) or the stand-ins
# change; their hash and the variant are kept in OUT_DIR/.built-by. Needs root (mmdebstrap).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
standin=$here/../tests/e2e/kubernetes-standin
field_maps=$here/../tests/fixtures/kubernetes
variant=plain
case "${1:-}" in
  --slurm) variant=slurm; shift ;;
  --kubernetes) variant=kubernetes; shift ;;
esac
default_out=$here/cache/debian12
[ "$variant" = plain ] || default_out=$here/cache/debian12-$variant
out=${1:-$default_out}
stamp="$(sha256sum "$0" | cut -d' ' -f1) $variant"
if [ "$variant" = kubernetes ]; then
  stamp="$(cat "$0" "$standin"/* "$field_maps"/*-fields*.json | sha256sum | cut -d' ' -f1) $variant"
fi
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
variant_hooks=()
if [ "$variant" = slurm ]; then
  # sudo and sshd for the cluster's users (keys and sudo rules the agent writes).
  packages+=,slurmctld,slurmd,slurm-client,munge,sudo,openssh-server
  # The package's key would be every VM's: gone, so munged waits for the cluster's key
  # (cloud-init writes it and restarts munge). Disabled, not masked: `enable --now` works.
  # SSH host keys likewise: cloud-init makes each VM its own at first boot.
  variant_hooks+=(--customize-hook='rm -f "$1/etc/munge/munge.key" "$1"/etc/ssh/ssh_host_*'
                  --customize-hook='chroot "$1" systemctl disable --quiet slurmctld.service slurmd.service'
                  --customize-hook='chroot "$1" systemctl enable --quiet munge.service')
fi
if [ "$variant" = kubernetes ]; then
  # procps: sysctl --system; openssl: the stand-in API server's CA hash; python3-yaml: the
  # stand-ins read kubeadm's YAML. kubelet.service and the API server unit stay disabled:
  # the node part enables kubelet, the stand-in kubeadm init starts the API server.
  packages+=,procps,openssl,python3-yaml
  variant_hooks+=(--customize-hook="install -D -m 0755 -t \"\$1/usr/local/bin\" '$standin/kubeadm' '$standin/kubectl' '$standin/gpuhost-standin-apiserver'"
                  --customize-hook="install -D -m 0644 -t \"\$1/usr/local/lib/gpuhost-standin\" '$standin/standin_state.py'"
                  --customize-hook="install -D -m 0644 -t \"\$1/usr/local/share/gpuhost-standin\" '$field_maps/kubeadm-fields-v1beta3.json' '$field_maps/kubeadm-fields-v1beta4.json' '$field_maps/kubelet-config-fields.json'"
                  --customize-hook="install -D -m 0644 -t \"\$1/etc/systemd/system\" '$standin/kubelet.service' '$standin/gpuhost-standin-apiserver.service'")
fi
mmdebstrap --variant=apt --include="$packages" \
  --customize-hook='echo "datasource_list: [ NoCloud, None ]" > "$1/etc/cloud/cloud.cfg.d/90-gpuhost-nocloud.cfg"' \
  --customize-hook='sed -i "s/^# *en_US.UTF-8/en_US.UTF-8/" "$1/etc/locale.gen" && chroot "$1" locale-gen >/dev/null' \
  --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"' \
  --customize-hook='rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  "${variant_hooks[@]}" \
  bookworm "$work/rootfs" "${mirror[@]}"

if [ "$variant" = slurm ]; then  # what the guests rely on, checked before it is packed
  root=$work/rootfs
  wants=$root/etc/systemd/system/multi-user.target.wants
  for f in usr/sbin/slurmctld usr/sbin/slurmd usr/bin/sinfo usr/sbin/munged usr/sbin/visudo usr/sbin/sshd; do
    [ -x "$root/$f" ] || { echo "slurm image: /$f missing" >&2; exit 1; }
  done
  [ ! -e "$root/etc/munge/munge.key" ] || { echo "slurm image: /etc/munge/munge.key left in" >&2; exit 1; }
  ! compgen -G "$root/etc/ssh/ssh_host_*" >/dev/null || { echo "slurm image: SSH host keys left in" >&2; exit 1; }
  if [ -e "$wants/slurmctld.service" ] || [ -e "$wants/slurmd.service" ]; then
    echo "slurm image: slurmctld or slurmd still enabled" >&2
    exit 1
  fi
  [ -e "$wants/munge.service" ] || { echo "slurm image: munge not enabled" >&2; exit 1; }
fi

if [ "$variant" = kubernetes ]; then
  root=$work/rootfs
  for f in usr/local/bin/kubeadm usr/local/bin/kubectl usr/local/bin/gpuhost-standin-apiserver usr/sbin/sysctl \
           usr/bin/openssl usr/bin/systemd-run; do
    [ -x "$root/$f" ] || { echo "kubernetes image: /$f missing" >&2; exit 1; }
  done
  chroot "$root" python3 -c 'import yaml' || { echo "kubernetes image: python3-yaml missing" >&2; exit 1; }
  [ -f "$root/etc/systemd/system/kubelet.service" ] || { echo "kubernetes image: kubelet.service missing" >&2; exit 1; }
fi

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
