#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan) and runs each for SECONDS (default 15:
# the smoke ./test.sh runs). Long campaigns: tests/fuzz/run.sh 3600, or run one target by
# hand: build-fuzz/tests/fuzz/fuzz_request -max_len=4096 WORKDIR tests/fuzz/corpus/request
# Findings (crash-*, leak-*, timeout-*) are left in build-fuzz/findings/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}

scripts/install-deps.sh build fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Release \
  -DGPUHOST_FUZZ=ON -DGPUHOST_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_request fuzz_config fuzz_parsers

findings=build-fuzz/findings
mkdir -p "$findings"
status=0
for target in request config parsers; do
  work=build-fuzz/corpus-work/$target
  mkdir -p "$work"
  log=build-fuzz/fuzz_$target.log
  dict=
  if [[ -f tests/fuzz/$target.dict ]]; then
    dict=-dict=tests/fuzz/$target.dict
  fi
  if ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/fuzz_$target -max_total_time="$seconds" -max_len=4096 \
      -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$findings/${target}-" -print_final_stats=1 $dict \
      "$work" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$target: ${runs:-?} executions in ${seconds}s, no findings"
  else
    echo "fuzz_$target: FINDING (see $log and $findings/)"
    tail -30 "$log"
    status=1
  fi
done
exit $status
