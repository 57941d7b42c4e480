#!/usr/bin/env bash
# Token-mode validation throughput through the real server on ONE worker (one core), and the
# rate limit under a brute-force burst from one address. With redis-server installed, the same
# runs again with the shared store ([store], a local redis-server started here): the rate limit
# through Redis, then single use too; the store's own latency comes from store_latency_seconds.
# A benchmark, not a test.
# Needs wrk (apt-get install -y wrk) and a release build (cargo build --release).
# Usage: bash bench/token-validate.sh [seconds] [connections, default 16; 1 shows the bare latency]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
bin=./target/release/cec-gateway
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
conns=${2:-16}   # wrk's connections, all on one worker
export CEC_TOKEN_KEY=bench-token-key-0123456789-0123456789-abcdef
export CEC_MINT_KEY=bench-mint-key-0123456789-0123456789-abcdefg

config() { # $1 = extra [token] lines, $2 = https port, $3 = admin port, $4 = more tables
  cat > "$dir/gw.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
hostnames = ["localhost", "127.0.0.1"]
workers = 1
[tls]
cert = "gw.crt"
key = "gw.key"
self_signed = true
[token]
secret_env = "CEC_TOKEN_KEY"
mint_key_env = "CEC_MINT_KEY"
$1
${4:-}
TOML
}

run() { # $1 = title, $2 = extra [token] lines, $3 = more tables
  config "$2" 18643 19643 "${3:-}"
  "$bin" --config "$dir/gw.toml" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 50); do curl -s "http://127.0.0.1:19643/readyz" >/dev/null && break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null || { echo "the gateway did not start:" >&2; cat "$dir/log" >&2; exit 1; }
  TOKEN=$(curl -s http://127.0.0.1:19643/tokens -H "Authorization: Bearer $CEC_MINT_KEY" -d '{"userId":"10010001","userName":"Tom","tenantSpaceId":"202007159031"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  export TOKEN
  local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "== $1"
  wrk -t1 -c"$conns" -d"${secs}s" --latency -s bench/token-validate.lua https://127.0.0.1:18643/rest/cc-messaging/v1/thirdparty/chatThirdPartyValidate | grep -E "Requests/sec|Latency|  50%|  99%|answers"
  local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "gateway CPU: $(( (t1 - t0) * 100 / ( $(getconf CLK_TCK) * secs ) ))% of one core"
  [ -z "${3:-}" ] || curl -s http://127.0.0.1:19643/metrics | store_latency
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

store_latency() { # p50/p99 of each op's store_latency_seconds (upper bucket bounds) from /metrics
  python3 -c '
import re, sys
ops = {}
for line in sys.stdin:
    m = re.match(r"cec_gateway_store_latency_seconds_bucket\{le=\"([^\"]+)\",op=\"(\w+)\"\} (\d+)", line)
    if m:
        ops.setdefault(m[2], []).append((float(m[1]), int(m[3])))
for op, buckets in ops.items():
    total = buckets[-1][1]
    if op == "ping" or total == 0:
        continue
    q = lambda p: next(le for le, n in buckets if n >= p * total) * 1e3
    print(f"store {op}: {total} calls, p50 <= {q(0.5):.3g} ms, p99 <= {q(0.99):.3g} ms")
'
}

run "validations/s, 1 worker, rate limit out of the way" 'rate_limit = "1000000/s"
rate_burst = 1000000'
run "brute force from one address, default limit (20/s, burst 40)" ''

command -v redis-server >/dev/null || { echo "(no redis-server: the store runs are skipped)"; exit 0; }
export CEC_REDIS_PASSWORD=bench-redis-password-0123456789
redis-server --bind 127.0.0.1 --port 16379 --requirepass "$CEC_REDIS_PASSWORD" --save '' --appendonly no --dir "$dir" >/dev/null &
for _ in $(seq 50); do REDISCLI_AUTH=$CEC_REDIS_PASSWORD redis-cli -p 16379 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
store='[store]
redis_url = "redis://127.0.0.1:16379/0"
password_env = "CEC_REDIS_PASSWORD"'
run "validations/s, 1 worker, single use in this process (no store)" 'rate_limit = "1000000/s"
rate_burst = 1000000
single_use = true'
run "validations/s, 1 worker, with the store: rate limit in Redis" 'rate_limit = "1000000/s"
rate_burst = 1000000' "$store"
run "validations/s, 1 worker, with the store: rate limit and single use in Redis (answers: replayed)" 'rate_limit = "1000000/s"
rate_burst = 1000000
single_use = true' "$store"
run "brute force from one address through the store, default limit (20/s, burst 40)" '' "$store"
