#!/usr/bin/env bash
# Placement decisions per second: bench/placement/run.sh [hosts=1000] [decisions=100000]
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target placement_bench >/dev/null
exec build/bench/placement_bench "${1:-1000}" "${2:-100000}"
