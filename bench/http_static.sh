#!/usr/bin/env bash
# calgate vs nginx-light on a tiny static answer: GET /healthz -> {"status":"ok"}.
#
# Builds a release calgate (build-release/), starts it and Debian's nginx-light
# (one worker, generated config) side by side, both pinned to core 0, and drives
# each in turn with wrk pinned to core 1 over keep-alive connections: one warm-up
# per server, then ROUNDS measured rounds alternating the order (ABBA) to spread
# the drift of a shared machine evenly. Reports, per server, the median req/s and
# p99 latency, and the calgate/nginx throughput ratio. Goal: ratio >= 0.9.
#
# Short runs alternated many times track the machine's other load better than a
# few long ones: each calgate run has an nginx run right next to it in time.
#
# Settings (environment): BENCH_ROUNDS (8), BENCH_DURATION seconds per run (5),
# BENCH_WARMUP seconds (3), BENCH_CONNECTIONS wrk -c (64), BENCH_STRICT=1 to exit
# with status 3 when the goal is missed, BENCH_BUILD_DIR (build-release).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${BENCH_ROUNDS:-8}"
DURATION="${BENCH_DURATION:-5}"
WARMUP="${BENCH_WARMUP:-3}"
CONNS="${BENCH_CONNECTIONS:-64}"
STRICT="${BENCH_STRICT:-0}"
GOAL=0.9
PATH_="/healthz"

bench_init
need_cores
ensure_deps
build_release
raise_nofile 65536
NOFILE="$(ulimit -Sn)"

CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- servers
CG_PORT="$(free_port)"
write_calgate_config "$BENCH_TMP/calgate.toml" 100000
start_calgate "$BENCH_TMP/calgate.toml" "$CG_PORT" "$BENCH_TMP/calgate.log"
log "calgate pid $CALGATE_PID on 127.0.0.1:$CG_PORT (core 0)"

NG_PORT="$(free_port)"
while [[ "$NG_PORT" == "$CG_PORT" ]]; do NG_PORT="$(free_port)"; done
NG_DIR="$BENCH_TMP/nginx"
mkdir -p "$NG_DIR"
write_nginx_config "$NG_DIR" "$NG_PORT" 4096 "$NOFILE"
start_nginx "$NG_DIR" "$NG_PORT"
log "nginx master $NGINX_PID, worker $NGINX_WORKER_PID on 127.0.0.1:$NG_PORT (core 0)"

# ---------------------------------------------------------------- same answer?
for name in calgate nginx; do
  if [[ $name == calgate ]]; then port=$CG_PORT; else port=$NG_PORT; fi
  code="$(curl -s --max-time 5 -o "$BENCH_TMP/$name.body" -D "$BENCH_TMP/$name.head" \
    -w '%{http_code} %{content_type}' "http://127.0.0.1:$port$PATH_")"
  echo "$code" >"$BENCH_TMP/$name.meta"
  log "$name: $code, body $(cat "$BENCH_TMP/$name.body")"
done
cmp -s "$BENCH_TMP/calgate.body" "$BENCH_TMP/nginx.body" ||
  die "bodies differ: calgate '$(cat "$BENCH_TMP/calgate.body")' vs nginx '$(cat "$BENCH_TMP/nginx.body")'"
cmp -s "$BENCH_TMP/calgate.meta" "$BENCH_TMP/nginx.meta" ||
  die "status/Content-Type differ: calgate '$(cat "$BENCH_TMP/calgate.meta")' vs nginx '$(cat "$BENCH_TMP/nginx.meta")'"
[[ "$(cat "$BENCH_TMP/calgate.meta")" == "200 application/json; charset=utf-8" ]] ||
  die "unexpected answer: $(cat "$BENCH_TMP/calgate.meta")"
for name in calgate nginx; do
  grep -qi '^connection: close' "$BENCH_TMP/$name.head" && die "$name closes the connection (no keep-alive)"
done
log "both answer 200 with the same Content-Type and the same $(stat -c %s "$BENCH_TMP/calgate.body")-byte body"
log "response heads: calgate $(stat -c %s "$BENCH_TMP/calgate.head") B, nginx $(stat -c %s "$BENCH_TMP/nginx.head") B"

# ---------------------------------------------------------------- wrk runs
# Parses one wrk output; prints "rps p50_us p99_us requests" or fails loudly.
parse_wrk() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def fail(msg):
    sys.stderr.write("wrk output problem: %s\n---- wrk output ----\n%s" % (msg, text))
    sys.exit(1)
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m and any(int(x) for x in m.groups()):
    fail("socket errors: " + m.group(0))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m and int(m.group(1)):
    fail(m.group(0))
m = re.search(r"Requests/sec:\s+([\d.]+)", text)
if not m:
    fail("no Requests/sec line")
rps = float(m.group(1))
m = re.search(r"(\d+) requests in", text)
reqs = int(m.group(1)) if m else 0
if reqs == 0:
    fail("no requests completed")
unit = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}
def pct(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % p, text, re.M)
    if not m:
        fail("no %s%% line in the latency distribution" % p)
    return float(m.group(1)) * unit[m.group(2)]
print("%.2f %.1f %.1f %d" % (rps, pct(50), pct(99), reqs))
PY
}

server_ticks() {
  if [[ $1 == calgate ]]; then
    cpu_ticks "$CALGATE_PID"
  else
    echo $(($(cpu_ticks "$NGINX_PID") + $(cpu_ticks "$NGINX_WORKER_PID")))
  fi
}

RESULTS="$BENCH_TMP/results.txt"
: >"$RESULTS"

# run_wrk NAME SECONDS LABEL -> appends "LABEL NAME rps p50 p99 reqs srv_cpu% wrk_cpu%" to RESULTS
run_wrk() {
  local name="$1" secs="$2" label="$3" port out t0 t1 c0 c1 w0 w1 parsed srv wrkc k0 k1 core0
  if [[ $name == calgate ]]; then port=$CG_PORT; else port=$NG_PORT; fi
  kill -0 "$CALGATE_PID" 2>/dev/null || die "calgate died"
  kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died"
  out="$BENCH_TMP/wrk-$label-$name.txt"
  c0="$(server_ticks "$name")"
  k0="$(core_jiffies 0)"
  children_cpu_into w0
  t0="$(date +%s.%N)"
  taskset -c 1 wrk -t1 "-c$CONNS" "-d${secs}s" --latency "http://127.0.0.1:$port$PATH_" >"$out" 2>&1 &
  local wpid=$!
  track "$wpid"
  wait "$wpid" || { untrack "$wpid"; cat "$out" >&2; die "wrk failed against $name"; }
  untrack "$wpid"
  t1="$(date +%s.%N)"
  children_cpu_into w1
  k1="$(core_jiffies 0)"
  c1="$(server_ticks "$name")"
  parsed="$(parse_wrk "$out")" || die "wrk against $name ($label) did not run cleanly"
  srv="$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (t1 - t0) }')"
  wrkc="$(awk -v a="$w0" -v b="$w1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 100 * (b - a) / (t1 - t0) }')"
  core0="$(echo "$k0 $k1" | awk '{ d = $4 - $2; printf "%.0f", (d > 0 ? 100 * ($3 - $1) / d : 0) }')"
  echo "$label $name $parsed $srv $wrkc $core0" >>"$RESULTS"
  read -r rps p50 p99 _ <<<"$parsed"
  log "$(printf '%-8s %-7s %8.0f req/s  p50 %6.0f us  p99 %6.0f us  server CPU %3s%%  core0 busy %3s%%  wrk CPU %3s%%' \
    "$label" "$name" "$rps" "$p50" "$p99" "$srv" "$core0" "$wrkc")"
}

log "wrk -t1 -c$CONNS, ${WARMUP}s warm-up each, then $ROUNDS rounds of ${DURATION}s per server"
run_wrk nginx "$WARMUP" warmup
run_wrk calgate "$WARMUP" warmup
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then order=(nginx calgate); else order=(calgate nginx); fi
  for name in "${order[@]}"; do
    run_wrk "$name" "$DURATION" "round$r"
  done
done

# Servers must still be healthy and calgate must not have logged errors.
kill -0 "$CALGATE_PID" 2>/dev/null || die "calgate died during the benchmark"
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx died during the benchmark"
if grep -E 'level=(warn|error)' "$BENCH_TMP/calgate.log" >&2; then
  die "calgate logged warnings/errors during the benchmark (above)"
fi

# ---------------------------------------------------------------- summary
echo
echo "== http_static: GET $PATH_, wrk -t1 -c$CONNS -d${DURATION}s --latency, $ROUNDS rounds (ABBA order) =="
echo "   servers pinned to core 0, wrk to core 1; $(nproc) CPUs: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "   calgate $("$CALGATE_BIN" version 2>&1 | head -1) ($BUILD_DIR), $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //') ($(dpkg-query -W -f='${Package} ${Version}' nginx-light 2>/dev/null || echo '?'))"
python3 - "$RESULTS" "$GOAL" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith("warmup")]
goal = float(sys.argv[2])
by = {}
for label, name, rps, p50, p99, reqs, srv, wrk, core0 in rows:
    by.setdefault(name, []).append((label, float(rps), float(p50), float(p99), int(srv), int(wrk), int(core0),
                                    float(rps) / max(int(srv), 1) * 100))
def med(xs): return statistics.median(xs)
print()
print("%-8s %10s %20s %9s %9s %11s %11s %8s %12s" % ("server", "req/s med", "req/s [min .. max]", "p50 med",
      "p99 med", "server CPU", "core0 busy", "wrk CPU", "req/CPU-s"))
for name in ("nginx", "calgate"):
    v = by[name]
    rps = [x[1] for x in v]
    print("%-8s %10.0f %20s %7.0fus %7.0fus %10.0f%% %10.0f%% %7.0f%% %12.0f" % (
        name, med(rps), "[%.0f .. %.0f]" % (min(rps), max(rps)),
        med([x[2] for x in v]), med([x[3] for x in v]),
        med([x[4] for x in v]), med([x[6] for x in v]), med([x[5] for x in v]), med([x[7] for x in v])))
print()
print("per round (req/s, p99):")
ratios = []
for (ln, rn, p99n, *_), (lc, rc, p99c, *_) in zip(
        [(x[0], x[1], x[3]) for x in by["nginx"]], [(x[0], x[1], x[3]) for x in by["calgate"]]):
    ratios.append(rc / rn)
    print("  %-7s nginx %9.0f (p99 %6.0fus)   calgate %9.0f (p99 %6.0fus)   ratio %.3f" % (ln, rn, p99n, rc, p99c, rc / rn))
ratio = med([x[1] for x in by["calgate"]]) / med([x[1] for x in by["nginx"]])
print()
print("calgate/nginx throughput ratio (median req/s): %.3f" % ratio)
print("per-round calgate/nginx ratios: median %.3f, range %.3f .. %.3f" % (med(ratios), min(ratios), max(ratios)))
print("calgate/nginx p99 ratio (median p99):          %.2f" % (
    med([x[3] for x in by["calgate"]]) / med([x[3] for x in by["nginx"]])))
print("calgate/nginx requests per server CPU-second:   %.3f   (secondary: less sensitive to other load on core 0)" % (
    med([x[7] for x in by["calgate"]]) / med([x[7] for x in by["nginx"]])))
met = ratio >= goal
print("goal: calgate >= %.1fx nginx req/s -> %s" % (goal, "MET" if met else "NOT MET"))
if (med(ratios) >= goal) != met or (min(ratios) < goal <= max(ratios)):
    print("note: the per-round ratios fall on both sides of the goal; this run alone does not settle it")
quiet = {n: [x for x in by[n] if x[4] >= 85] for n in by}
if quiet["nginx"] and quiet["calgate"] and (len(quiet["nginx"]) < len(by["nginx"]) or len(quiet["calgate"]) < len(by["calgate"])):
    qn, qc = med([x[1] for x in quiet["nginx"]]), med([x[1] for x in quiet["calgate"]])
    print("runs in which the server got >= 85%% of core 0: nginx %.0f req/s (%d runs), calgate %.0f req/s (%d runs), ratio %.3f" % (
        qn, len(quiet["nginx"]), qc, len(quiet["calgate"]), qc / qn))
for name in ("nginx", "calgate"):
    rps = [x[1] for x in by[name]]
    if max(rps) > 1.2 * min(rps):
        print("note: %s req/s varied %.0f%% between rounds (other load on the machine); compare paired rounds" % (
            name, 100 * (max(rps) / min(rps) - 1)))
for name in ("nginx", "calgate"):
    v = by[name]
    if med([x[5] for x in v]) >= 90:
        print("note: wrk used >= 90%% of core 1 against %s; those runs may be client-bound" % name)
    srv, core0 = med([x[4] for x in v]), med([x[6] for x in v])
    if srv < 85:
        print("note: %s got %.0f%% of core 0 while core 0 was %.0f%% busy: other processes took ~%.0f%% of it" % (
            name, srv, core0, max(core0 - srv, 0)))
open(sys.argv[1] + ".met", "w").write("1" if met else "0")
PY

if [[ "$STRICT" == 1 && "$(cat "$RESULTS.met")" != 1 ]]; then
  exit 3
fi
