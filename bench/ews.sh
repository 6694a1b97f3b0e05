#!/usr/bin/env bash
# EWS benchmarks, side by side in one run:
#  1. the parse rate (MB/s) of a large GetUserAvailability answer: calgate's
#     streaming reader, its tree, tree + availability model; Python's
#     ElementTree and bare pyexpat (both C expat) on the same bytes as references;
#  2. GetUserAvailability round trips per second through calgate's EWS client
#     against the Exchange simulator (no added latency), next to the bare HTTP
#     client posting the same envelope (the simulator's ceiling).
#   bash bench/ews.sh [seconds=5] [concurrency=16] [mailboxes-per-call=1]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init
need_cores
bash "$REPO_DIR/scripts/install-deps.sh" --test >/dev/null
build_release
ninja -C "$BUILD_DIR" bench/ews_bench tests/sim/exchange_sim >"$BENCH_TMP/ninja-ews.log" 2>&1 ||
  { tail -50 "$BENCH_TMP/ninja-ews.log" >&2; die "build failed"; }
BENCH_BIN="$BUILD_DIR/bench/ews_bench"
SIM_BIN="$BUILD_DIR/tests/sim/exchange_sim"

log "parse: 100 mailboxes x 200 detailed events"
taskset -c 1 "$BENCH_BIN" parse 100 200 "$BENCH_TMP/answer.xml"
taskset -c 1 python3 - "$BENCH_TMP/answer.xml" <<'PY'
import sys, time, xml.etree.ElementTree as ET, xml.parsers.expat as expat
data = open(sys.argv[1], 'rb').read()
def rate(fn):
    best = 0.0
    for _ in range(3):
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 1.0:
            fn(); n += 1
        best = max(best, len(data) * n / (time.perf_counter() - t) / 1e6)
    return best
def bare():
    p = expat.ParserCreate(namespace_separator=' ')
    p.Parse(data, True)
print("%-44s %8.1f MB/s" % ("python ElementTree.fromstring (C expat)", rate(lambda: ET.fromstring(data))))
print("%-44s %8.1f MB/s" % ("python pyexpat, no handlers (floor of expat)", rate(bare)))
PY

port="$(free_port)"
log "starting exchange_sim on 127.0.0.1:$port (core 0, 5000 generated mailboxes)"
taskset -c 0 "$SIM_BIN" --config "$REPO_DIR/tests/fixtures/exchange/sim.toml" --http-port "$port" \
  --generate 5000 >"$BENCH_TMP/sim.log" 2>&1 &
track $!
for _ in $(seq 1 100); do
  grep -q "exchange_sim ready" "$BENCH_TMP/sim.log" && break
  sleep 0.1
done
grep -q "exchange_sim ready" "$BENCH_TMP/sim.log" || { cat "$BENCH_TMP/sim.log" >&2; die "the simulator did not start"; }
log "round trips (client on core 1)"
taskset -c 1 "$BENCH_BIN" roundtrip "http://127.0.0.1:$port/EWS/Exchange.asmx" "${1:-5}" "${2:-16}" "${3:-1}"
