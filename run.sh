#!/usr/bin/env bash
# Installs what is missing, builds, makes sure libvirtd runs, and serves the API on
# 127.0.0.1:8080 in the foreground with examples/dev.yaml (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh build run image
# The dev image that examples/dev.yaml maps image://ubuntu22.04 to (cached after the first run).
images/build-dev-image.sh
images/build-dev-image.sh --slurm   # Slurm clusters' image (slurm.image in the dev config)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOST_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)"

# libvirtd and the instances' NAT network ("default"): without them every VM would fail,
# so stop here with the reason rather than serve an API whose creates all end in error.
if ! scripts/ensure-libvirtd.sh --network default; then
  echo "run.sh: libvirtd or its 'default' network is not usable (see above); not starting gpuhostd" >&2
  exit 1
fi
echo "libvirtd: running, network 'default' active"

cat <<'TXT'

gpuhostd on http://127.0.0.1:8080 (dev config: examples/dev.yaml, state in .dev-state/)
dev token: gpuhost-dev-token   (loopback only; see README "Tokens" for real ones)
try:
  curl -s -X POST http://127.0.0.1:8080/api/v1alpha1/projects \
       -H 'Authorization: Bearer gpuhost-dev-token' -H 'Content-Type: application/json' \
       -d '{"name": "my-first-project"}'
then an instance in it (README, "A first VM"): image://ubuntu22.04 is the Debian 12 dev image here.

TXT
exec build/gpuhostd --config examples/dev.yaml
