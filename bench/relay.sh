#!/usr/bin/env bash
# Relay benchmark (issue 4): M concurrent real-time sessions through the gateway's tencent engine to a local sink
# that speaks Tencent's protocol at almost no cost (tencent-relay-sink), so that only the relay is measured.
#
#   bench/relay.sh                         M = 100 500 1000, 30 s sessions started over 10 s
#   SESSIONS="1000" SECONDS_PER_SESSION=60 bench/relay.sh
#
# Prints a table; raw numbers go to bench/out/relay-<date>.json.
source "$(dirname "$0")/prelude.sh"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec "$PY" bench/relay_bench.py --sessions "${SESSIONS:-100 500 1000}" --seconds "${SECONDS_PER_SESSION:-30}" --ramp "${RAMP:-10}" \
    --out "$OUT/relay-$(date +%Y%m%d-%H%M%S).json"
