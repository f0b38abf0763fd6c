#!/usr/bin/env bash
# The whole suite: installs what is missing, builds with ASan+UBSan, runs ctest.
# Tiers (ctest labels): unit, integration, and e2e (real qemu:///system VMs from the dev
# images under TCG, a Slurm and a Kubernetes cluster among them, needs root; GPUHOST_E2E=0 skips it). Then a fuzz smoke
# (tests/fuzz/run.sh, ~45 s plus a clang build). Extra arguments go to ctest (e.g. -L unit)
# and skip the fuzz smoke.
set -euo pipefail
cd "$(dirname "$0")"

e2e=OFF
groups=(build test slurm)
if [ "${GPUHOST_E2E:-1}" = 1 ]; then
  e2e=ON
  groups+=(run image deb deploy)  # deb + deploy: the real-systemd deployment test
fi
scripts/install-deps.sh "${groups[@]}"
# The crash tests run against the test driver inside libvirtd (test+unix:///default);
# the e2e VMs also need libvirt's NAT network.
if [ "$e2e" = ON ]; then
  scripts/ensure-libvirtd.sh --network default
  images/build-dev-image.sh  # cached after the first run
  images/build-dev-image.sh --slurm  # the Slurm e2e test's image, cached likewise
  images/build-dev-image.sh --kubernetes  # the Kubernetes e2e test's (stand-in kubeadm), likewise
else
  scripts/ensure-libvirtd.sh
fi

build_dir=${GPUHOST_TEST_BUILD_DIR:-build-asan}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGPUHOST_SANITIZE=ON -DGPUHOST_WERROR=ON \
  -DGPUHOST_E2E=$e2e
cmake --build "$build_dir" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@" | tee "$summary"
total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$summary" | tail -1)
failed=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$summary" | tail -1)
[ "${failed:-1}" = 0 ] || exit 1

# Fuzz smoke: each libFuzzer target for a few seconds (GPUHOST_FUZZ_SECONDS, 0 skips).
fuzz_seconds=${GPUHOST_FUZZ_SECONDS:-15}
fuzzed=0
if [ "$fuzz_seconds" != 0 ] && [ $# -eq 0 ]; then
  tests/fuzz/run.sh "$fuzz_seconds"
  fuzzed=3
fi
echo "tests: $((total + fuzzed)) passed, 0 failed"
