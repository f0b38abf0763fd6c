# Shared by bench/*/run.sh (sourced after `work` is set): the bench token, the daemon's
# config and its start-up.
token=bench-token

# bench_config PORT LOG_LEVEL [YAML SECTION...]: a gpuhostd config on stdout, its state
# under $work/state, the bench token allowed everywhere.
bench_config() {
  local port=$1 level=$2
  shift 2
  printf 'listen: 127.0.0.1:%s\nstate_dir: %s/state\nlog_level: %s\n' "$port" "$work" "$level"
  [ $# -eq 0 ] || printf '%s\n' "$@"
  printf 'auth:\n  tokens:\n    - {name: bench, sha256: %s, projects: ["*"]}\n' \
    "$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
}

# bench_start PORT: build/gpuhostd (or $GPUHOST_BENCH_DAEMON) with $work/gpuhostd.yaml in the background (its pid in
# daemon_pid, its log in $work/gpuhostd.log); returns once /healthz answers.
bench_start() {
  "${GPUHOST_BENCH_DAEMON:-build/gpuhostd}" --config "$work/gpuhostd.yaml" 2>"$work/gpuhostd.log" &
  daemon_pid=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
    sleep 0.05
  done
  echo "gpuhostd did not answer /healthz on port $1; its log:" >&2
  cat "$work/gpuhostd.log" >&2
  return 1
}
