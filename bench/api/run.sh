#!/usr/bin/env bash
# bench/api: wrk against gpuhostd's GET /projects/{id} and GET /projects (1,000 projects stored),
# side by side with nginx serving the very same response bytes as static files on loopback
# (the ceiling of this machine). Prints req/s, p99 and the ratio for each.
#
#   bench/api/run.sh [seconds=10] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
connections=${2:-64}
threads=2

scripts/install-deps.sh build bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOST_TESTS=OFF >/dev/null
cmake --build build >/dev/null

work=$(mktemp -d /tmp/gpuhost-bench-XXXXXX)
cleanup() { kill "${daemon_pid:-}" "${nginx_pid:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. bench/lib.sh
api_port=18080
nginx_port=18081
# log_level warn: no per-request access log line (measured separately below).
bench_config "$api_port" warn > "$work/gpuhostd.yaml"
bench_start "$api_port"

# 1,000 projects over one keep-alive connection (curl -K with "next" between requests).
: > "$work/create.curl"
for i in $(seq 1000); do
  printf 'url = "http://127.0.0.1:%s/api/v1alpha1/projects"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata = "{\\"name\\":\\"bench-%04d\\",\\"tags\\":{\\"team\\":\\"ml\\",\\"env\\":\\"bench\\"}}"\noutput = /dev/null\nnext\n' \
    "$api_port" "$token" "$i" >> "$work/create.curl"
done
sed -i '$d' "$work/create.curl"  # no "next" after the last request
start=$(date +%s.%N)
curl -s -K "$work/create.curl"
end=$(date +%s.%N)
creates_per_s=$(echo "1000 / ($end - $start)" | bc -l)

auth=(-H "Authorization: Bearer $token")
curl -sf "${auth[@]}" "http://127.0.0.1:$api_port/api/v1alpha1/projects" > "$work/projects.json"
id=$(grep -o '"id":"[^"]*"' "$work/projects.json" | sed -n '500p' | cut -d'"' -f4)
curl -sf "${auth[@]}" "http://127.0.0.1:$api_port/api/v1alpha1/projects/$id" > "$work/project.json"
[ "$(grep -o '"id"' "$work/projects.json" | wc -l)" -eq 1000 ] || { echo "expected 1000 projects"; exit 1; }

mkdir -p "$work/www"
chmod 755 "$work"  # nginx workers run as www-data
cp "$work/project.json" "$work/www/project.json"
cp "$work/projects.json" "$work/www/projects.json"
cat > "$work/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$nginx_port; root $work/www; }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/project.json" >/dev/null && break; sleep 0.05; done
cmp -s <(curl -s "http://127.0.0.1:$nginx_port/projects.json") "$work/projects.json"

# wrk's summary → "req/s p99_ms"
measure() {
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency "$@")
  local rps p99 errors
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  [ -z "$errors" ] || echo "  wrk reported: $errors" >&2
  echo "$rps $(to_ms "$p99")"
}
to_ms() {
  case "$1" in
    *us) echo "$1" | sed 's/us//' | awk '{printf "%.3f", $1/1000}' ;;
    *ms) echo "$1" | sed 's/ms//' ;;
    *s) echo "$1" | sed 's/s//' | awk '{printf "%.3f", $1*1000}' ;;
  esac
}

echo "machine: $(nproc) cores, $(uname -r); wrk -t$threads -c$connections -d${duration}s; bodies: project $(wc -c <"$work/project.json") B, list $(wc -c <"$work/projects.json") B"
printf 'creates over one keep-alive connection (fsync each): %.0f/s\n' "$creates_per_s"
printf '%-28s %12s %10s %12s %10s %8s\n' endpoint gpuhostd_rps p99_ms nginx_rps p99_ms ratio
for target in "projects/$id:project.json" "projects:projects.json"; do
  path=${target%%:*}
  file=${target##*:}
  read -r ours ours_p99 < <(measure "${auth[@]}" "http://127.0.0.1:$api_port/api/v1alpha1/$path")
  read -r base base_p99 < <(measure "http://127.0.0.1:$nginx_port/$file")
  label="GET /projects"; [ "$path" = projects ] || label="GET /projects/{id}"
  printf '%-28s %12.0f %10s %12.0f %10s %8.2f\n' "$label" "$ours" "$ours_p99" "$base" "$base_p99" \
    "$(echo "$ours / $base" | bc -l)"
done
