#!/usr/bin/env bash
# Installs the Debian bookworm packages gpuhost needs, only when some are missing.
# Usage: scripts/install-deps.sh [build|test|slurm|run|bench|image|fuzz|deb|deploy]...   (default: build test)
set -euo pipefail

build=(cmake ninja-build g++ pkg-config libboost1.81-all-dev libvirt-dev libyaml-cpp-dev nlohmann-json3-dev
       doctest-dev libsqlite3-dev libssl-dev libsystemd-dev)
# libvirtd: the crash tests drive test+unix:///default, the test driver inside libvirtd.
# cloud-init: `cloud-init schema` validates the cloud-config parts the agent writes.
test=(openssl curl procps libvirt-clients libvirt-daemon-system xorriso cloud-init)
# dnsmasq-base is only a Recommends of libvirt-daemon-system, and --no-install-recommends
# drops it: libvirt's NAT network ("default") cannot start without it.
# Slurm 22.05 and munge for tests/slurm/real_slurm.sh (the generated configs on loopback).
# Where systemd runs, the packages start munged on its default socket: the test runs its
# own in a private mount namespace, on its own ports, so the two never meet.
slurm=(slurmctld slurmd slurm-client munge)
run=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils curl xorriso dnsmasq-base e2fsprogs)
bench=(wrk nginx-light curl)
image=(mmdebstrap e2fsprogs qemu-utils)
fuzz=(clang-14 libclang-rt-14-dev)
# The Debian package (scripts/build-deb.sh) and the real-systemd deployment test.
deb=(debhelper dpkg-dev fakeroot lintian)
deploy=(systemd-container mmdebstrap util-linux)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build test)
wanted=()
for group in "${groups[@]}"; do
  case "$group" in
    build) wanted+=("${build[@]}") ;;
    # kubectl reads the kubeconfigs gpuhostd hands out (tests/integration/kubectl_test.cpp);
    # Debian's kubernetes-client unless a kubectl is already installed (e.g. Google Cloud
    # SDK's, whose package would conflict with it).
    test) wanted+=("${test[@]}"); command -v kubectl >/dev/null || wanted+=(kubernetes-client) ;;
    slurm) wanted+=("${slurm[@]}") ;;
    run) wanted+=("${run[@]}") ;;
    bench) wanted+=("${bench[@]}") ;;
    image) wanted+=("${image[@]}") ;;
    fuzz) wanted+=("${fuzz[@]}") ;;
    deb) wanted+=("${deb[@]}") ;;
    deploy) wanted+=("${deploy[@]}") ;;
    *) echo "unknown group: $group" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
