#!/usr/bin/env bash
# Allocations per proxied request (S1's GET of the 8 KiB file, HTTP/1.1 + TLS keep-alive), counted
# by the `count-allocations` build's global allocator. Two runs of different lengths on the same
# 16 connections: their difference divided by the difference of their requests is what one request
# costs, without the start-up and the TLS handshakes. A measurement, not a test.
# Needs nginx and wrk, and a run dir of ../shared/bench/run.sh (its certs, fake CEC and
# candidate.toml; any run makes one).
# Usage: bash bench/allocations.sh [RUN_DIR, default ../shared/bench/.run]
set -euo pipefail
cd "$(dirname "$0")/.."
run=$(cd "${1:-../shared/bench/.run}" && pwd)
[ -f "$run/candidate.toml" ] || { echo "no $run/candidate.toml: run ../shared/bench/run.sh --quick once" >&2; exit 1; }
cargo build --release --locked --features count-allocations --target-dir target/count
bin=target/count/release/cec-gateway
path=/service-cloud/webclient/chat_client/js/thirdPartyClient.js
url=$(awk -F'"' '/^listen/{print "https://" $2; exit}' "$run/candidate.toml")$path
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$dir/up.pid" ] && kill "$(cat "$dir/up.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
sed "s|^pid .*|pid $dir/up.pid;|" "$run/upstream.conf" > "$dir/upstream.conf"
nginx -c "$dir/upstream.conf" -p "$run" 2>/dev/null
once() { # $1 = seconds of load; prints "requests allocations bytes"
  CEC_SECRET_KEY=benchSecretKey0123456789 "$bin" --config "$run/candidate.toml" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 50); do curl -sk -o /dev/null "$url" && break; sleep 0.1; done
  local n
  n=$(wrk -t1 -c16 -d"$1s" "$url" | awk '/requests in/{print $1}')
  kill "$pid"; wait "$pid" || true
  local a
  a=$(grep -o 'allocations: [0-9]* ([0-9]* bytes)' "$dir/log" | tr -d '()' | awk '{print $2, $3}')
  echo "$((n + 1)) $a"   # +1: the readiness probe
}
read -r n1 a1 b1 < <(once 1)
read -r n2 a2 b2 < <(once 4)
python3 -c "
n = $n2 - $n1; a = $a2 - $a1; b = $b2 - $b1
print(f'{n} requests more: {a / n:.1f} allocations and {b / n / 1024:.1f} KiB allocated per request')"
