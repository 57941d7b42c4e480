#!/usr/bin/env bash
# Syscalls per proxied request: `strace -c -f` attached to a running proxy's processes while
# `wrk -t1 -c8` sends GETs of the bench's 8 KiB file for 6 s; the counts divided by wrk's
# requests. strace slows the proxy down; the counts per request are what matter. A measurement,
# not a test. Needs strace and wrk.
# Usage: bash bench/syscalls.sh URL PID [PID...]   (e.g. https://127.0.0.1:18443/service-cloud/webclient/chat_client/js/thirdPartyClient.js)
set -euo pipefail
url=$1; shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
wrk -t1 -c8 -d1s "$url" >/dev/null
attach=(); for p in "$@"; do attach+=(-p "$p"); done
timeout 9 strace -c -f "${attach[@]}" -o "$out" 2>/dev/null &
sleep 1
n=$(wrk -t1 -c8 -d6s "$url" | awk '/requests in/{print $1}')
wait || true
python3 - "$n" "$out" <<'PY'
import sys
n, total, parts = int(sys.argv[1]), 0, []
for line in open(sys.argv[2]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        calls = int(f[3]); total += calls
        if calls / n > 0.05:
            parts.append(f"{f[-1]} {calls / n:.2f}")
print(f"{n} requests: {total / n:.2f} syscalls per request ({', '.join(parts)})")
PY
