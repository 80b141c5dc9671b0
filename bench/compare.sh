#!/usr/bin/env bash
# The gateway against the seed's stack, Node + Express + ws (bench/node/server.js), on the WebSocket echo: the server
# under test alone on core 0, the load generator (bench/ws_loadgen.c, C and epoll) on core 1, both servers in one run.
#
#   bench/compare.sh             ~10 min: N = 1000 and 2000 connections × 3200 B every 100 ms, saturation, 10 000 idle
#                                connections; two rounds, servers in ABBA order
#   bench/compare.sh --quick     ~2-3 min smoke run: shorter windows, one round
#   bench/compare.sh --only idle (or rate, saturate; repeatable)
#   NICE=0 bench/compare.sh      servers and load generator at niceness 0 (default -10: the machine is shared, and
#                                other processes' threads on the two cores otherwise take up to half of a core)
#
# Does not build: uses $REALTIME_VOICE_BINARY, else .build/release/realtime-voice (make bench-compare builds it).
# Needs node with Debian's node-express and node-ws (make bench-node) and gcc. Prints tables and ratios, writes them
# to bench/BENCHMARKS.md (a run with options: to bench/out/compare-<date>.md, so that a smoke run does not replace the
# full one); raw numbers go to bench/out/compare-<date>.json, server logs to bench/out/compare-<date>/.
source "$(dirname "$0")/common.sh"

BIN=${REALTIME_VOICE_BINARY:-.build/release/realtime-voice}
[ -x "$BIN" ] || { echo "no realtime-voice binary at $BIN: run 'make build-release' or set REALTIME_VOICE_BINARY" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores (server on core 0, load generator on core 1)" >&2; exit 1; }
NODE_PATH=/usr/share/nodejs node -e "require('express'); require('ws')" 2>/dev/null \
    || { echo "node with Debian's node-express and node-ws is needed: make bench-node" >&2; exit 1; }

LOADGEN="$OUT/ws_loadgen"
if [ ! -x "$LOADGEN" ] || [ bench/ws_loadgen.c -nt "$LOADGEN" ]; then
    gcc -O2 -Wall -o "$LOADGEN" bench/ws_loadgen.c
fi
# 10 000 connections: one descriptor each in the server and in the load generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10100 ] || echo "warning: ulimit -n is $(ulimit -n); the 10 000 idle connections will not all fit" >&2

# The Python driver starts every server and load generator itself and stops them when it ends (and they get SIGTERM
# if it dies: PR_SET_PDEATHSIG). It runs in the background so that this trap runs at once on Ctrl-C or kill.
stamp=$(date +%Y%m%d-%H%M%S)
markdown=bench/BENCHMARKS.md
[ $# -eq 0 ] || markdown="$OUT/compare-$stamp.md"
driver=""
cleanup() { set +e; [ -n "$driver" ] && kill -TERM "$driver" 2>/dev/null && wait "$driver" 2>/dev/null; exit 130; }
trap cleanup INT TERM HUP
NICE=${NICE:--10}
"$PY" bench/compare_bench.py --binary "$BIN" --loadgen "$LOADGEN" --nice "$NICE" --command "NICE=$NICE bench/compare.sh${*:+ $*}" \
    --out "$OUT/compare-$stamp.json" --markdown "$markdown" "$@" &
driver=$!
wait "$driver"
