#!/usr/bin/env bash
# Soak (issue 10): about half the measured maximum for SECONDS (default 600) through the
# release gateway, mixed GETs, signing POSTs and WebSocket sessions, sampling its RSS and
# open file descriptors every 10 s. Fails on any failed request, RSS growth over 10% after
# the warm-up (a tenth of the run), or fd growth. On demand, not part of the test command;
# loopback only, bounded in time (SECONDS + about 15 s).
# Usage: bash bench/soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
cargo build --release --locked --bin cec-gateway --example soak
exec ./target/release/examples/soak "$secs" ./target/release/cec-gateway
