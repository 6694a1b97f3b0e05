#!/usr/bin/env bash
# Resident memory of calgate holding N (10,000) idle keep-alive connections, with
# Debian's nginx-light under the same load in the same run as a reference.
#
# For each server in turn: start it (pinned to core 0), read its VmRSS, open N
# connections from bench/idle_client.py (python3 asyncio, pinned to core 1) that
# each send one GET /healthz, read the answer and then stay open and idle;
# check that all N are established (ss, and calgate's calgate_http_open_connections
# gauge), read VmRSS again, then close the client and read VmRSS once more.
# Goal: calgate's VmRSS with N idle connections <= 64 MiB.
#
# Settings (environment): BENCH_IDLE_CONNECTIONS (10000), BENCH_SETTLE seconds to
# wait with all connections idle before reading RSS (3), BENCH_STRICT=1 to exit
# with status 3 when the goal is missed, BENCH_BUILD_DIR (build-release).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N="${BENCH_IDLE_CONNECTIONS:-10000}"
SETTLE="${BENCH_SETTLE:-3}"
STRICT="${BENCH_STRICT:-0}"
GOAL_KIB=$((64 * 1024))
MARGIN=1000
CLIENT="$BENCH_DIR/idle_client.py"
BODY='{"status":"ok"}'

bench_init
need_cores
ensure_deps
build_release

# Descriptors: the server holds N sockets plus a few; so does the client.
raise_nofile $((N + MARGIN + 1024))
NOFILE="$(ulimit -Sn)"
((NOFILE >= N + 256)) ||
  die "open-files limit is $NOFILE (hard $(ulimit -Hn)); need at least $((N + 256)) for $N connections"
read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
((hi - lo + 1 >= N + 256)) || die "ephemeral port range $lo-$hi is too small for $N connections"
log "open-files limit $NOFILE, ephemeral ports $lo-$hi, $N connections per server"

RESULTS="$BENCH_TMP/results.txt"
: >"$RESULTS"

# Polls until COUNT established connections are on PORT (server side), ~30 s at most.
wait_established() {
  local port="$1" want="$2" i have=0
  for ((i = 0; i < 300; i++)); do
    have="$(established_on "$port")"
    ((have == want)) && return 0
    sleep 0.1
  done
  die "expected $want established connections on port $port, found $have"
}

# Runs the idle client against PORT; returns once all N connections are answered
# and idle. Sets CLIENT_PID.
open_idle() {
  local name="$1" port="$2" ready clog i
  ready="$BENCH_TMP/$name.ready"
  clog="$BENCH_TMP/$name.client.log"
  rm -f "$ready"
  taskset -c 1 python3 "$CLIENT" 127.0.0.1 "$port" "$N" "$ready" /healthz "$BODY" >"$clog" 2>&1 &
  CLIENT_PID=$!
  track "$CLIENT_PID"
  for ((i = 0; i < 1200; i++)); do  # 120 s
    [[ -s "$ready" ]] && break
    if ! kill -0 "$CLIENT_PID" 2>/dev/null; then
      cat "$clog" >&2
      die "idle client failed against $name"
    fi
    sleep 0.1
  done
  [[ -s "$ready" ]] || { cat "$clog" >&2; die "idle client did not finish opening $N connections to $name in 120 s"; }
  log "$name: $(awk '{printf "%d connections opened and answered in %s s", $2, $3}' "$ready")"
}

close_idle() {
  local name="$1" port="$2" i
  stop_pid "$CLIENT_PID"
  for ((i = 0; i < 200; i++)); do
    (($(established_on "$port") == 0)) && return 0
    sleep 0.1
  done
  log "warning: $name still has $(established_on "$port") established connections 20 s after the client closed"
}

# calgate's open-connections gauge (the scrape's own connection included).
calgate_gauge() {
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk '$1 == "calgate_http_open_connections" { printf "%d\n", $2 }'
}

# ---------------------------------------------------------------- calgate
CG_PORT="$(free_port)"
write_calgate_config "$BENCH_TMP/calgate.toml" $((N + MARGIN)) \
  'idle_timeout = "10m"' 'header_timeout = "2m"'
start_calgate "$BENCH_TMP/calgate.toml" "$CG_PORT" "$BENCH_TMP/calgate.log"
log "calgate pid $CALGATE_PID on 127.0.0.1:$CG_PORT (core 0), max_connections $((N + MARGIN)), idle_timeout 10m"
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$CG_PORT/metrics"  # route and metrics warmed before "before"
sleep 1
cg_before="$(rss_kib "$CALGATE_PID")"
log "calgate RSS before: $cg_before KiB"

open_idle calgate "$CG_PORT"
wait_established "$CG_PORT" "$N"
sleep "$SETTLE"
kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$BENCH_TMP/calgate.client.log" >&2; die "idle client exited early"; }
est="$(established_on "$CG_PORT")"
((est == N)) || die "calgate: $est established connections, expected $N"
cg_after="$(rss_kib "$CALGATE_PID")"
cg_pss="$(pss_kib "$CALGATE_PID")"
gauge="$(calgate_gauge "$CG_PORT")"
((gauge == N + 1)) || die "calgate_http_open_connections = $gauge, expected $N (+1 for the scrape itself)"
log "calgate: $est established (ss), gauge $gauge (incl. the scrape); RSS $cg_after KiB (Pss $cg_pss KiB)"
close_idle calgate "$CG_PORT"
sleep 1
cg_closed="$(rss_kib "$CALGATE_PID")"
grep -E 'level=(warn|error)' "$BENCH_TMP/calgate.log" >&2 && die "calgate logged warnings/errors (above)"
stop_pid "$CALGATE_PID"
echo "calgate $cg_before $cg_after $cg_closed $cg_pss" >>"$RESULTS"

# ---------------------------------------------------------------- nginx
NG_PORT="$(free_port)"
NG_DIR="$BENCH_TMP/nginx"
mkdir -p "$NG_DIR"
write_nginx_config "$NG_DIR" "$NG_PORT" $((N + MARGIN)) "$NOFILE"
start_nginx "$NG_DIR" "$NG_PORT"
log "nginx master $NGINX_PID, worker $NGINX_WORKER_PID on 127.0.0.1:$NG_PORT (core 0), worker_connections $((N + MARGIN))"
sleep 1
ngw_before="$(rss_kib "$NGINX_WORKER_PID")"
ngm_before="$(rss_kib "$NGINX_PID")"
log "nginx RSS before: worker $ngw_before KiB, master $ngm_before KiB"

open_idle nginx "$NG_PORT"
wait_established "$NG_PORT" "$N"
sleep "$SETTLE"
kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$BENCH_TMP/nginx.client.log" >&2; die "idle client exited early"; }
est="$(established_on "$NG_PORT")"
((est == N)) || die "nginx: $est established connections, expected $N"
ngw_after="$(rss_kib "$NGINX_WORKER_PID")"
ngm_after="$(rss_kib "$NGINX_PID")"
ngw_pss="$(pss_kib "$NGINX_WORKER_PID")"
log "nginx: $est established (ss); RSS worker $ngw_after KiB (Pss $ngw_pss KiB), master $ngm_after KiB"
close_idle nginx "$NG_PORT"
sleep 1
ngw_closed="$(rss_kib "$NGINX_WORKER_PID")"
ngm_closed="$(rss_kib "$NGINX_PID")"
echo "nginx-worker $ngw_before $ngw_after $ngw_closed $ngw_pss" >>"$RESULTS"
echo "nginx-total $((ngw_before + ngm_before)) $((ngw_after + ngm_after)) $((ngw_closed + ngm_closed)) -" >>"$RESULTS"

# ---------------------------------------------------------------- summary
echo
echo "== idle_memory: $N idle keep-alive connections (one GET /healthz answered on each), VmRSS =="
echo "   server on core 0, client (python3 asyncio) on core 1; $(nproc) CPUs: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "   calgate $("$CALGATE_BIN" version 2>&1 | head -1) ($BUILD_DIR), $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //') ($(dpkg-query -W -f='${Package} ${Version}' nginx-light 2>/dev/null || echo '?'))"
python3 - "$RESULTS" "$N" "$GOAL_KIB" $((N + MARGIN)) <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
n, goal = int(sys.argv[2]), int(sys.argv[3])
print()
print("%-14s %12s %12s %12s %14s %14s %10s" % ("process", "RSS before", "RSS idle", "after−before", "per connection",
                                               "after close", "Pss idle"))
for name, before, after, closed, pss in rows:
    b, a, c = int(before), int(after), int(closed)
    print("%-14s %8.1f MiB %8.1f MiB %8.1f MiB %11.0f B %10.1f MiB %10s" % (
        name, b / 1024, a / 1024, (a - b) / 1024, (a - b) * 1024 / n, c / 1024,
        ("%.1f MiB" % (int(pss) / 1024)) if pss != "-" else "-"))
cg = next(r for r in rows if r[0] == "calgate")
ng = next(r for r in rows if r[0] == "nginx-worker")
cg_delta, ng_delta = int(cg[2]) - int(cg[1]), int(ng[2]) - int(ng[1])
print()
print("calgate/nginx-worker ratio: per connection (after-before) %s, RSS with the connections idle %.2f" % (
    ("%.2f" % (cg_delta / ng_delta)) if ng_delta > 0 else "n/a", int(cg[2]) / int(ng[2])))
print("(nginx allocates its worker_connections slots, %d here, at start: part of its per-connection cost is in\n"
      " its RSS before, so its after-before figure understates it; compare the idle RSS too.)" % int(sys.argv[4]))
met = int(cg[2]) <= goal
print("goal: calgate VmRSS with %d idle connections <= %d MiB: %.1f MiB -> %s" % (
    n, goal // 1024, int(cg[2]) / 1024, "MET" if met else "NOT MET"))
open(sys.argv[1] + ".met", "w").write("1" if met else "0")
PY

if [[ "$STRICT" == 1 && "$(cat "$RESULTS.met")" != 1 ]]; then
  exit 3
fi
