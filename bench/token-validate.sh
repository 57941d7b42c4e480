#!/usr/bin/env bash
# Token-mode validation throughput through the real server on ONE worker (one core), and the
# rate limit under a brute-force burst from one address. A benchmark, not a test.
# Needs wrk (apt-get install -y wrk) and a release build (cargo build --release).
# Usage: bash bench/token-validate.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
bin=./target/release/cec-gateway
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
export CEC_TOKEN_KEY=bench-token-key-0123456789-0123456789-abcdef
export CEC_MINT_KEY=bench-mint-key-0123456789-0123456789-abcdefg

config() { # $1 = extra [token] lines, $2 = https port, $3 = admin port
  cat > "$dir/gw.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
workers = 1
[tls]
cert = "gw.crt"
key = "gw.key"
self_signed = true
[token]
secret_env = "CEC_TOKEN_KEY"
mint_key_env = "CEC_MINT_KEY"
$1
TOML
}

run() { # $1 = title, $2 = extra [token] lines
  config "$2" 18643 19643
  "$bin" --config "$dir/gw.toml" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 50); do curl -s "http://127.0.0.1:19643/readyz" >/dev/null && break; sleep 0.1; done
  TOKEN=$(curl -s http://127.0.0.1:19643/tokens -H "Authorization: Bearer $CEC_MINT_KEY" -d '{"userId":"10010001","userName":"Tom","tenantSpaceId":"202007159031"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  export TOKEN
  local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "== $1"
  wrk -t1 -c16 -d"${secs}s" -s bench/token-validate.lua https://127.0.0.1:18643/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate | grep -E "Requests/sec|Latency|answers"
  local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "gateway CPU: $(( (t1 - t0) * 100 / ( $(getconf CLK_TCK) * secs ) ))% of one core"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run "validations/s, 1 worker, rate limit out of the way" 'rate_limit = "1000000/s"
rate_burst = 1000000'
run "brute force from one address, default limit (20/s, burst 40)" ''
