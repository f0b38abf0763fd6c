#!/usr/bin/env bash
# The whole suite: installs what is missing, builds with ASan+UBSan, runs ctest.
# Tiers (ctest labels): unit, integration. Later issues add e2e (real qemu:///system VMs).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh build test

build_dir=${GPUHOST_TEST_BUILD_DIR:-build-asan}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGPUHOST_SANITIZE=ON -DGPUHOST_WERROR=ON
cmake --build "$build_dir" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
