#!/usr/bin/env bash
# A load run through the gateway with a SIGHUP every half second: no request may fail and no
# socket may break while the configuration is reloaded over and over. A benchmark-style check
# run on demand, not a test. Loopback only; bounded in time.
# Needs wrk and nginx (apt-get install -y wrk nginx-light) and a release build.
# Usage: bash bench/reload-under-load.sh [seconds] [hup interval]   (default 15 and 0.5;
#        an interval of 0 sends no SIGHUP: the same run as a baseline)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
every=${2:-0.5}
bin=./target/release/cec-gateway
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"' EXIT

# The upstream: nginx serving 1 KiB over plain HTTP on loopback.
mkdir -p "$dir/www/service-cloud"
head -c 1024 /dev/zero | tr '\0' x > "$dir/www/service-cloud/file"
chmod -R a+rX "$dir"  # nginx's workers run as nobody
cat > "$dir/nginx.conf" <<NGINX
daemon on; pid $dir/nginx.pid; error_log $dir/nginx.err; worker_processes 1;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:19580; root $dir/www; } }
NGINX
nginx -c "$dir/nginx.conf" -p "$dir"

cat > "$dir/gw.toml" <<TOML
[server]
listen = "127.0.0.1:18743"
admin_listen = "127.0.0.1:19743"
workers = 2
[tls]
cert = "gw.crt"
key = "gw.key"
self_signed = true
[upstreams.cec]
url = "http://127.0.0.1:19580"
[[routes]]
prefix = "/service-cloud/"
upstream = "cec"
TOML
"$bin" --config "$dir/gw.toml" 2>"$dir/log" &
pid=$!
for _ in $(seq 50); do curl -s http://127.0.0.1:19743/readyz >/dev/null && break; sleep 0.1; done

( end=$((SECONDS + secs)); n=0
  if [ "$every" != 0 ]; then
    while [ $SECONDS -lt $end ]; do kill -HUP "$pid"; n=$((n + 1)); sleep "$every"; done
  fi
  echo "$n" > "$dir/hups" ) &
wrk -t2 -c64 -d"${secs}s" -s bench/reload-under-load.lua https://127.0.0.1:18743/service-cloud/file \
  | grep -E "Requests/sec|requests |latency"
wait %2 2>/dev/null || true
sleep 1
kill -0 "$pid" || { echo "the gateway died" >&2; exit 1; }
echo "SIGHUPs sent: $(cat "$dir/hups")"
echo "reloads logged: $(grep -c 'configuration reloaded' "$dir/log")"
curl -s http://127.0.0.1:19743/metrics | grep -E '^cec_gateway_config_reloads_total'
kill "$pid"; wait "$pid" 2>/dev/null || true
