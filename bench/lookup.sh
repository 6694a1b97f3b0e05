#!/usr/bin/env bash
# The free/busy load test: calgate's POST /calendar/v3/freeBusy against a real slapd
# (the test harness's generated population) and the Exchange simulator with an added
# latency per EWS request, side by side in one run with
#   - calgate with its free/busy cache off ("cold": every lookup goes to Exchange),
#   - calgate with the cache on, after a warm-up pass ("warm"),
#   - DavMail (EWS mode) answering CalDAV free/busy for the same users, against the
#     same simulator: one user per request, as CalDAV free/busy asks,
#   - nginx-light returning a static body of the size of calgate's mean answer (the
#     ceiling of an HTTP server on this machine for these requests and answers).
#
#   bash bench/lookup.sh [ews_latency_ms=10] [users=5000]
#
# Servers under test (calgate, DavMail, nginx) run on core 0; wrk and the upstreams
# (slapd, the simulator) on core 1. Each target gets a warm-up, then BENCH_ROUNDS
# rounds of BENCH_DURATION seconds in rotating order, so drift on a shared machine
# hits all of them. Prints per-target medians and the ratios the goals are judged on:
#   warm calgate req/s / nginx req/s                  >= 0.75
#   calgate users/s / DavMail users/s                 >= 20
#   EWS requests per calgate request (cold)           < 1
#
# Settings (environment): BENCH_ROUNDS (6), BENCH_DURATION s (5), BENCH_WARMUP s (3),
# BENCH_DAVMAIL_WARMUP s (10: JIT), BENCH_CONNECTIONS wrk -c (64), BENCH_REQUESTS
# prepared requests (20000), BENCH_ZIPF_S (1.0), BENCH_SEED (20310512),
# BENCH_WARM_TTL ("10m": the warm instance's cache_ttl, longer than the run),
# BENCH_STRICT=1 (exit 3 when a goal is missed), BENCH_BUILD_DIR (build-release),
# BENCH_SKIP_CALGATE=1 (check the rest of the harness without calgate: DavMail and
# nginx only, nginx answering a 900-byte body).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LATENCY_MS="${1:-10}"
USERS="${2:-5000}"
ROUNDS="${BENCH_ROUNDS:-6}"
DURATION="${BENCH_DURATION:-5}"
WARMUP="${BENCH_WARMUP:-3}"
DM_WARMUP="${BENCH_DAVMAIL_WARMUP:-10}"
CONNS="${BENCH_CONNECTIONS:-64}"
NREQ="${BENCH_REQUESTS:-20000}"
ZIPF_S="${BENCH_ZIPF_S:-1.0}"
SEED="${BENCH_SEED:-20310512}"
WARM_TTL="${BENCH_WARM_TTL:-10m}"
STRICT="${BENCH_STRICT:-0}"
SKIP_CALGATE="${BENCH_SKIP_CALGATE:-0}"

[[ "$LATENCY_MS" =~ ^[0-9]+$ ]] || die "usage: bench/lookup.sh [ews_latency_ms=10] [users=5000]"
[[ "$USERS" =~ ^[0-9]+$ ]] && ((USERS >= 10 && USERS <= 99999)) || die "users must be 10..99999 (5-digit user numbers)"

TOKEN="bench-token-0123456789abcdef"
ORGANIZER="alice@corp.example"  # a sim fixture login (tests/fixtures/exchange/sim.toml)
ORGANIZER_PASSWORD="Alice-Pass-1"
TIME_MIN="2031-05-12T00:00:00Z" TIME_MAX="2031-05-19T00:00:00Z"
ICAL_START="20310512T000000Z" ICAL_END="20310519T000000Z"
DAVMAIL_JAR=/usr/share/davmail/davmail.jar
JAVA_BIN=/usr/bin/java
SIM_BIN="$BUILD_DIR/tests/sim/exchange_sim"
HOLDER_BIN="$BUILD_DIR/bench/lookup_bench"
LUA_DIR="$BENCH_DIR/lookup"

bench_init
need_cores
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
# scripts/install-deps.sh --bench installs what is missing. If it fails (e.g. a
# package this benchmark does not use cannot be installed), go on when everything
# this benchmark needs is there, and say so.
if ! bash "$REPO_DIR/scripts/install-deps.sh" --bench >"$BENCH_TMP/install-deps.log" 2>&1; then
  log "warning: scripts/install-deps.sh --bench failed; checking what this benchmark needs ($(tail -1 "$BENCH_TMP/install-deps.log"))"
fi
for f in wrk "$NGINX_BIN" curl python3 taskset ps meson ninja base64 /usr/sbin/slapd /usr/sbin/slapadd \
  /usr/sbin/slappasswd "$JAVA_BIN" "$DAVMAIL_JAR"; do
  [[ -e "$f" ]] || command -v "$f" >/dev/null 2>&1 ||
    die "$f is missing (scripts/install-deps.sh --bench installs wrk, nginx-light, slapd, davmail-server, ...)"
done
raise_nofile 65536
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- build
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  log "meson setup $BUILD_DIR -Dbuildtype=release"
  meson setup "$BUILD_DIR" "$REPO_DIR" -Dbuildtype=release >"$BENCH_TMP/meson-setup.log" 2>&1 ||
    { cat "$BENCH_TMP/meson-setup.log" >&2; die "meson setup failed"; }
fi
bt="$(meson introspect "$BUILD_DIR" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')"
[[ "$bt" == release ]] || die "$BUILD_DIR has buildtype=$bt, expected release"
targets=(tests/sim/exchange_sim bench/lookup_bench)
((SKIP_CALGATE)) || targets+=(src/calgate)
log "ninja -C $BUILD_DIR ${targets[*]}"
ninja -C "$BUILD_DIR" "${targets[@]}" >"$BENCH_TMP/ninja.log" 2>&1 ||
  { tail -50 "$BENCH_TMP/ninja.log" >&2; die "build failed (tests must be enabled in $BUILD_DIR: -Dtests=true)"; }

# ---------------------------------------------------------------- the request mix
MIX="$BENCH_TMP/mix.txt"
python3 "$LUA_DIR/mix.py" "$MIX" "$USERS" "$NREQ" "$ZIPF_S" "$SEED" 2>"$BENCH_TMP/mix.log" ||
  { cat "$BENCH_TMP/mix.log" >&2; die "mix.py failed"; }
MIX_NOTE="$(cat "$BENCH_TMP/mix.log")"
log "$MIX_NOTE"
export LOOKUP_MIX="$MIX" LOOKUP_TOKEN="$TOKEN" LOOKUP_TIME_MIN="$TIME_MIN" LOOKUP_TIME_MAX="$TIME_MAX"
export LOOKUP_ORGANIZER="$ORGANIZER" LOOKUP_ICAL_START="$ICAL_START" LOOKUP_ICAL_END="$ICAL_END"
LOOKUP_BASIC="$(printf '%s:%s' "$ORGANIZER" "$ORGANIZER_PASSWORD" | base64 -w0)"
export LOOKUP_BASIC

# Waits (bounded) until FILE contains PATTERN; fails with the file if PID exits or time runs out.
wait_for_line() {
  local name="$1" pid="$2" file="$3" pattern="$4" secs="$5" i
  for ((i = 0; i < secs * 10; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "---- $name output ($file) ----" >&2
      cat "$file" >&2 || true
      die "$name exited during start-up"
    fi
    sleep 0.1
  done
  echo "---- $name output ($file) ----" >&2
  cat "$file" >&2 || true
  die "$name was not ready within ${secs} s"
}

# ---------------------------------------------------------------- slapd (core 1)
log "slapd with $USERS generated users (tests/support/slapd via bench/lookup_bench, core 1)"
taskset -c 1 "$HOLDER_BIN" "$USERS" >"$BENCH_TMP/slapd-holder.log" 2>&1 &
HOLDER_PID=$!
track "$HOLDER_PID"
wait_for_line "slapd (lookup_bench)" "$HOLDER_PID" "$BENCH_TMP/slapd-holder.log" "slapd-ready" 180
ready_line="$(grep slapd-ready "$BENCH_TMP/slapd-holder.log")"
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$ready_line"; }
LDAP_URL="$(kv url)" LDAP_BASE="$(kv base_dn)" LDAP_BIND="$(kv bind_dn)" LDAP_PW="$(kv bind_password)"
SLAPD_PID="$(ps -o pid= --ppid "$HOLDER_PID" | tr -d ' ' | head -1)"
[[ -n "$SLAPD_PID" ]] || die "slapd's process not found under lookup_bench ($HOLDER_PID)"
log "slapd pid $SLAPD_PID at $LDAP_URL"

# ---------------------------------------------------------------- Exchange simulator (core 1)
log "exchange_sim with $USERS generated mailboxes (core 1)"
taskset -c 1 "$SIM_BIN" --config "$REPO_DIR/tests/fixtures/exchange/sim.toml" --http-port 0 \
  --generate "$USERS" >"$BENCH_TMP/sim.log" 2>&1 &
SIM_PID=$!
track "$SIM_PID"
wait_for_line exchange_sim "$SIM_PID" "$BENCH_TMP/sim.log" "exchange_sim ready" 30
SIM_PORT="$(sed -n 's|^exchange_sim listening http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$BENCH_TMP/sim.log" | head -1)"
[[ -n "$SIM_PORT" ]] || { cat "$BENCH_TMP/sim.log" >&2; die "no http port in the simulator's output"; }
SIM_BASE="http://127.0.0.1:$SIM_PORT"
EWS_URL="$SIM_BASE/EWS/Exchange.asmx"
if ((LATENCY_MS > 0)); then
  curl -sf --max-time 5 -H 'Content-Type: application/json' \
    -d "{\"kind\":\"latency\",\"operation\":\"*\",\"ms\":$LATENCY_MS,\"count\":0}" \
    "$SIM_BASE/sim/faults" >"$BENCH_TMP/faults.json" || die "POST /sim/faults (latency) failed"
  log "simulator: +$LATENCY_MS ms on every EWS request ($(cat "$BENCH_TMP/faults.json"))"
fi
# GetUserAvailability requests the simulator has answered, and all EWS POSTs (401s included).
sim_counters() {
  curl -sf --max-time 5 "$SIM_BASE/sim/counters" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["operations"].get("GetUserAvailability",0), d["requests"])'
}
sim_counters >/dev/null || die "GET /sim/counters failed"

# ---------------------------------------------------------------- DavMail (core 0)
# Started like Debian's /usr/bin/davmail (plain `java -jar`, default JVM settings; the
# test harness's start-up-tuned flags would handicap it), headless, with a properties
# file like tests/support/davmail.cpp writes, but logging at WARN as in production.
DM_DIR="$BENCH_TMP/davmail"
mkdir -p "$DM_DIR/home"
start_davmail() {
  DM_PORT="$(free_port)"
  cat >"$DM_DIR/davmail.properties" <<EOF
davmail.server=true
davmail.mode=EWS
davmail.url=$EWS_URL
davmail.bindAddress=127.0.0.1
davmail.allowRemote=false
davmail.caldavPort=$DM_PORT
davmail.imapPort=
davmail.ldapPort=
davmail.popPort=
davmail.smtpPort=
davmail.disableUpdateCheck=true
davmail.enableProxy=false
davmail.useSystemProxies=false
davmail.enableKerberos=false
davmail.logFilePath=$DM_DIR/davmail.log
log4j.rootLogger=WARN
log4j.logger.davmail=WARN
log4j.logger.org.apache.http.wire=WARN
EOF
  HOME="$DM_DIR/home" taskset -c 0 "$JAVA_BIN" -Djava.awt.headless=true -Duser.home="$DM_DIR/home" \
    -Djava.io.tmpdir="$DM_DIR/home" -jar "$DAVMAIL_JAR" -server "$DM_DIR/davmail.properties" \
    >"$DM_DIR/console.log" 2>&1 &
  DM_PID=$!
  track "$DM_PID"
  local i code
  for ((i = 0; i < 600; i++)); do
    kill -0 "$DM_PID" 2>/dev/null || return 1
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$DM_PORT/" 2>/dev/null || true)"
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]] && return 0
    sleep 0.1
  done
  return 2
}
log "DavMail (EWS mode, $DAVMAIL_JAR, core 0)"
dm_ok=0
for _ in 1 2 3; do
  rc=0
  start_davmail || rc=$?
  if ((rc == 0)); then dm_ok=1; break; fi
  if ((rc == 1)) && grep -q "Unable to bind server socket" "$DM_DIR/console.log" "$DM_DIR/davmail.log" 2>/dev/null; then
    untrack "$DM_PID"
    continue  # the port was taken since free_port(): try another
  fi
  cat "$DM_DIR/console.log" "$DM_DIR/davmail.log" >&2 2>/dev/null || true
  die "DavMail did not answer on 127.0.0.1:$DM_PORT within 60 s"
done
((dm_ok)) || die "DavMail: no free CalDAV port after 3 attempts"
log "DavMail pid $DM_PID, CalDAV on 127.0.0.1:$DM_PORT"

# ---------------------------------------------------------------- calgate, two instances (core 0)
# cold: [lookup] cache_ttl = "0s": every lookup asks Exchange (the directory cache is on,
#       as in production). A fresh calgate would warm up within seconds under a Zipf mix,
#       so its figure would depend on how long the run is; the cache off is a steady state.
# warm: [lookup] cache_ttl = BENCH_WARM_TTL (longer than the run, so nothing expires
#       between the warm-up pass and the last round).
write_lookup_config() {
  local file="$1" port="$2" ttl="$3"
  cat >"$file" <<EOF
[server]
listen = "127.0.0.1:$port"
max_connections = 100000

[log]
level = "warn"
access = false

[ldap]
url = "$LDAP_URL"
bind_dn = "$LDAP_BIND"
bind_password = "$LDAP_PW"

[directory]
profile = "active_directory"
base_dn = "$LDAP_BASE"

[exchange.default]
url = "$EWS_URL"

[[exchange.default.account]]
name = "svc"
auth = "basic"
user = "CORP\\\\svc-calgate"
password = "Gateway-Pass-1"

[lookup]
deadline = "20s"
cache_ttl = "$ttl"
cache_max_bytes = "256MiB"

[freebusy_api]
tokens = ["$TOKEN"]
EOF
}

# Polls /readyz until 200 (~20 s).
wait_ready() {
  local name="$1" pid="$2" port="$3" logfile="$4" i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$name exited during start-up"; }
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null)" == 200 ]] && return 0
    sleep 0.1
  done
  curl -s --max-time 2 "http://127.0.0.1:$port/readyz" >&2 || true
  cat "$logfile" >&2
  die "$name: /readyz did not answer 200 within 20 s"
}

CG_COLD_PORT="" CG_WARM_PORT="" CG_COLD_PID="" CG_WARM_PID=""
if ((!SKIP_CALGATE)); then
  for which in cold warm; do
    port="$(free_port)"
    ttl=0s
    [[ $which == warm ]] && ttl="$WARM_TTL"
    write_lookup_config "$BENCH_TMP/calgate-$which.toml" "$port" "$ttl"
    "$CALGATE_BIN" check-config "$BENCH_TMP/calgate-$which.toml" >"$BENCH_TMP/check-$which.log" 2>&1 ||
      { cat "$BENCH_TMP/check-$which.log" >&2; die "calgate rejects the benchmark's configuration (above)"; }
    start_calgate "$BENCH_TMP/calgate-$which.toml" "$port" "$BENCH_TMP/calgate-$which.log"
    wait_ready "calgate ($which)" "$CALGATE_PID" "$port" "$BENCH_TMP/calgate-$which.log"
    if [[ $which == cold ]]; then CG_COLD_PORT=$port CG_COLD_PID=$CALGATE_PID; else CG_WARM_PORT=$port CG_WARM_PID=$CALGATE_PID; fi
    log "calgate ($which, cache_ttl $ttl) pid $CALGATE_PID on 127.0.0.1:$port (core 0)"
  done
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $TOKEN" -d '{}' "http://127.0.0.1:$CG_COLD_PORT/calendar/v3/freeBusy")"
  [[ "$code" == 404 || "$code" == 405 ]] && die "calgate has no POST /calendar/v3/freeBusy yet (answered $code)"
fi

# ---------------------------------------------------------------- answers checked before the load
CHECK_N=300
if ((!SKIP_CALGATE)); then
  log "checking calgate's answers to the first $CHECK_N requests of the mix (cold instance)"
  size_line="$(taskset -c 1 python3 "$LUA_DIR/check.py" calgate "$CG_COLD_PORT" "$TOKEN" "$MIX" "$CHECK_N" \
    "$BENCH_TMP/static-body.json" "$TIME_MIN" "$TIME_MAX")" || die "calgate's answers failed the check (above)"
  read -r _ BODY_MEAN BODY_MIN BODY_MAX _ PERIODS <<<"$size_line"
  log "calgate answers: mean $BODY_MEAN B (min $BODY_MIN, max $BODY_MAX) over $CHECK_N requests, $PERIODS busy periods"
else
  BODY_MEAN=900 BODY_MIN=900 BODY_MAX=900
  python3 -c 'import sys; h = "{\"kind\":\"calendar#freeBusy\""; sys.stdout.write(h + " " * (899 - len(h)) + "}")' >"$BENCH_TMP/static-body.json"
fi
log "checking DavMail's answers for the users of the first 10 requests"
dm_line="$(taskset -c 1 python3 "$LUA_DIR/check.py" davmail "$DM_PORT" "$LOOKUP_BASIC" "$ORGANIZER" "$MIX" 10 \
  "$BENCH_TMP/davmail-check.json" "$ICAL_START" "$ICAL_END")" ||
  { tail -50 "$DM_DIR/davmail.log" >&2 2>/dev/null; die "DavMail's answers failed the check (above)"; }
log "DavMail: $dm_line"
CROSS_NOTE=""
if ((!SKIP_CALGATE)); then
  CROSS_NOTE="$(python3 "$LUA_DIR/check.py" compare "$BENCH_TMP/static-body.json.json" "$BENCH_TMP/davmail-check.json")"
  log "$CROSS_NOTE"
fi

# ---------------------------------------------------------------- nginx (core 0)
NG_PORT="$(free_port)"
NG_DIR="$BENCH_TMP/nginx"
STATIC_BODY="$(cat "$BENCH_TMP/static-body.json")"
write_nginx_config "$NG_DIR" "$NG_PORT" 4096 "$(ulimit -Sn)" "        location = /calendar/v3/freeBusy {
            client_body_buffer_size 64k;
            default_type \"application/json; charset=utf-8\";
            return 200 '$STATIC_BODY';
        }"
"$NGINX_BIN" -t -p "$NG_DIR" -c "$NG_DIR/nginx.conf" -e "$NG_DIR/error.log" >"$NG_DIR/nginx-t.log" 2>&1 ||
  { cat "$NG_DIR/nginx-t.log" >&2; die "nginx -t rejected the generated config"; }
taskset -c 0 "$NGINX_BIN" -p "$NG_DIR" -c "$NG_DIR/nginx.conf" -e "$NG_DIR/error.log" >"$NG_DIR/stdout.log" 2>&1 &
NGINX_PID=$!
track "$NGINX_PID"
wait_up nginx "$NGINX_PID" "$NG_PORT" "$NG_DIR/error.log"
NGINX_WORKER_PID="$(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ' | head -1)"
[[ -n "$NGINX_WORKER_PID" ]] || die "nginx worker process not found"
track "$NGINX_WORKER_PID"
ng_size="$(curl -s --max-time 5 -o /dev/null -w '%{size_download}' -X POST -H 'Content-Type: application/json' \
  --data-binary "@$BENCH_TMP/static-body.json" "http://127.0.0.1:$NG_PORT/calendar/v3/freeBusy")"
[[ "$ng_size" == "$BODY_MEAN" ]] || die "nginx answers $ng_size bytes, expected $BODY_MEAN"
log "nginx master $NGINX_PID, worker $NGINX_WORKER_PID on 127.0.0.1:$NG_PORT: static $BODY_MEAN-byte body (core 0)"

# ---------------------------------------------------------------- wrk runs
server_ticks() {
  case "$1" in
    nginx) echo $(($(cpu_ticks "$NGINX_PID") + $(cpu_ticks "$NGINX_WORKER_PID"))) ;;
    warm) cpu_ticks "$CG_WARM_PID" ;;
    cold) cpu_ticks "$CG_COLD_PID" ;;
    davmail) cpu_ticks "$DM_PID" ;;
  esac
}
upstream_ticks() { echo $(($(cpu_ticks "$SIM_PID") + $(cpu_ticks "$SLAPD_PID"))); }
# CPU of the other servers on core 0 (idle ones should use none: a JVM may not be).
others_ticks() {
  local t sum=0
  for t in "${TARGETS[@]}"; do
    [[ $t == "$1" ]] || sum=$((sum + $(server_ticks "$t")))
  done
  echo "$sum"
}
alive_all() {
  local p
  for p in "$HOLDER_PID" "$SLAPD_PID" "$SIM_PID" "$DM_PID" "$NGINX_PID" $CG_COLD_PID $CG_WARM_PID; do
    kill -0 "$p" 2>/dev/null || die "process $p ($(ps -o args= -p "$p" 2>/dev/null || echo gone)) died during the benchmark"
  done
}

RESULTS="$BENCH_TMP/results.txt"
: >"$RESULTS"

# run_wrk TARGET SECONDS LABEL -> appends one line to RESULTS:
#   LABEL TARGET rps p50_us p99_us requests users server_cpu% upstream_cpu% wrk_cpu% core0% gua_delta ews_posts_delta others_cpu%
run_wrk() {
  local name="$1" secs="$2" label="$3" url script out c0 c1 u0 u1 o0 o1 w0 w1 k0 k1 t0 t1 s0 s1 parsed
  case "$name" in
    nginx) url="http://127.0.0.1:$NG_PORT" script=freebusy.lua ;;
    warm) url="http://127.0.0.1:$CG_WARM_PORT" script=freebusy.lua ;;
    cold) url="http://127.0.0.1:$CG_COLD_PORT" script=freebusy.lua ;;
    davmail) url="http://127.0.0.1:$DM_PORT" script=caldav.lua ;;
  esac
  alive_all
  out="$BENCH_TMP/wrk-$label-$name.txt"
  s0="$(sim_counters)" || die "GET /sim/counters failed"
  c0="$(server_ticks "$name")" u0="$(upstream_ticks)" k0="$(core_jiffies 0)" o0="$(others_ticks "$name")"
  children_cpu_into w0
  t0="$(date +%s.%N)"
  taskset -c 1 wrk -t1 "-c$CONNS" "-d${secs}s" --timeout 30s --latency -s "$LUA_DIR/$script" "$url" >"$out" 2>&1 &
  local wpid=$!
  track "$wpid"
  wait "$wpid" || { untrack "$wpid"; cat "$out" >&2; die "wrk failed against $name"; }
  untrack "$wpid"
  t1="$(date +%s.%N)"
  children_cpu_into w1
  c1="$(server_ticks "$name")" u1="$(upstream_ticks)" k1="$(core_jiffies 0)" o1="$(others_ticks "$name")"
  # Requests still queued in the server when wrk stopped (DavMail can have a second's
  # worth) still reach the simulator: wait until its counters stop moving (bounded),
  # so they are counted with this run and do not run into the next one.
  s1="$(sim_counters)" || die "GET /sim/counters failed"
  local i prev=""
  for ((i = 0; i < 60; i++)); do
    [[ "$s1" == "$prev" ]] && break
    prev="$s1"
    sleep 0.25
    s1="$(sim_counters)" || die "GET /sim/counters failed"
  done
  parsed="$(python3 "$LUA_DIR/parse_wrk.py" "$out")" || die "wrk against $name ($label) did not run cleanly"
  awk -v label="$label" -v name="$name" -v p="$parsed" -v c0="$c0" -v c1="$c1" -v u0="$u0" -v u1="$u1" \
    -v w0="$w0" -v w1="$w1" -v o0="$o0" -v o1="$o1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v k="$k0 $k1" -v s="$s0 $s1" 'BEGIN {
      split(k, kk, " "); split(s, ss, " "); d = kk[4] - kk[2]; el = t1 - t0
      printf "%s %s %s %.0f %.0f %.0f %.0f %d %d %.0f\n", label, name, p,
        100 * (c1 - c0) / hz / el, 100 * (u1 - u0) / hz / el, 100 * (w1 - w0) / el,
        (d > 0 ? 100 * (kk[3] - kk[1]) / d : 0), ss[3] - ss[1], ss[4] - ss[2], 100 * (o1 - o0) / hz / el }' >>"$RESULTS"
  log "$(tail -1 "$RESULTS" | awk '{ printf "%-8s %-8s %8.0f req/s %9.0f users/s  p50 %7.0f us  p99 %7.0f us  server CPU %3s%%  sim+slapd CPU %3s%%  wrk CPU %3s%%  EWS GetUserAvailability %d", $1, $2, $3, $3 * $7 / $6, $4, $5, $8, $9, $10, $12 }')"
}

TARGETS=(nginx davmail)
((SKIP_CALGATE)) || TARGETS=(nginx warm cold davmail)
log "wrk -t1 -c$CONNS: warm-up ${WARMUP}s each (DavMail ${DM_WARMUP}s), then $ROUNDS rounds of ${DURATION}s per target"
for name in "${TARGETS[@]}"; do
  secs="$WARMUP"
  [[ $name == davmail ]] && secs="$DM_WARMUP"
  # The warm instance's warm-up is its first pass: a fresh calgate filling its cache.
  # Every wrk run starts at the mix's first request, so once one warm-up run has sent
  # the whole mix, no round can ask for a user the cache has not seen: repeat (longer)
  # until one has (bounded).
  for ((try = 1; try <= 4; try++)); do
    run_wrk "$name" "$secs" warmup
    [[ $name == warm ]] || break
    sent="$(tail -1 "$RESULTS" | awk '{ print $6 }')"
    ((sent >= NREQ)) && break
    ((try < 4)) || { log "note: the warm-up sent $sent of the $NREQ prepared requests; some users are not cached"; break; }
    secs=$((secs * 5 / 2 + 1))
  done
done
for ((r = 1; r <= ROUNDS; r++)); do
  n=${#TARGETS[@]}
  for ((i = 0; i < n; i++)); do
    run_wrk "${TARGETS[$(((i + r - 1) % n))]}" "$DURATION" "round$r"
  done
done
# Optional: where calgate's time goes, one extra run per instance under perf (not in the summary).
if [[ -n "${BENCH_PERF_OUT:-}" ]] && ((!SKIP_CALGATE)); then
  command -v perf >/dev/null || die "BENCH_PERF_OUT is set but perf is not installed"
  : >"$BENCH_PERF_OUT"
  for which in warm cold; do
    pid="$CG_WARM_PID"
    [[ $which == cold ]] && pid="$CG_COLD_PID"
    perf record -F 999 -p "$pid" -o "$BENCH_TMP/perf-$which.data" >"$BENCH_TMP/perf-$which.log" 2>&1 &
    perf_pid=$!
    track "$perf_pid"
    sleep 0.5
    run_wrk "$which" "$DURATION" perf
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    untrack "$perf_pid"
    perf report -i "$BENCH_TMP/perf-$which.data" --stdio --sort dso,symbol --percent-limit 0.5 \
      >"$BENCH_TMP/perf-$which.sym" 2>/dev/null || true
    perf report -i "$BENCH_TMP/perf-$which.data" --stdio --sort dso >"$BENCH_TMP/perf-$which.dso" 2>/dev/null || true
    {
      echo "==== calgate $which: perf record -F 999, ${DURATION}s under load: self time by symbol (>= 0.5%) ===="
      grep -E '^ +[0-9]' "$BENCH_TMP/perf-$which.sym" || true
      echo "==== calgate $which: by shared object ===="
      grep -E '^ +[0-9]' "$BENCH_TMP/perf-$which.dso" || true
    } >>"$BENCH_PERF_OUT"
  done
  log "perf profiles written to $BENCH_PERF_OUT"
  sed -i '/^perf /d' "$RESULTS"
fi
alive_all
for which in cold warm; do
  f="$BENCH_TMP/calgate-$which.log"
  [[ -f "$f" ]] || continue
  if grep -E 'level=(warn|error)' "$f" | head -20 >&2; then
    log "note: calgate ($which) logged warnings/errors (above)"
  fi
done

# ---------------------------------------------------------------- summary
{
  echo "== lookup: free/busy load test, $USERS users, EWS latency +${LATENCY_MS} ms, wrk -t1 -c$CONNS, $ROUNDS rounds x ${DURATION}s =="
  echo "   servers on core 0 (calgate, DavMail, nginx), wrk + slapd + exchange_sim on core 1; $(nproc) CPUs: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "   $("$CALGATE_BIN" version 2>&1 | head -1 || echo 'calgate ?') ($BUILD_DIR); $("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //'); DavMail $(dpkg-query -W -f='${Version}' davmail-server 2>/dev/null || echo '?') on $("$JAVA_BIN" -version 2>&1 | head -1)"
  echo "   load average before the run: $LOADAVG_START (other work on the machine shows up as 'core0' above 'srv CPU')"
  echo "   $MIX_NOTE"
  echo "   window $TIME_MIN .. $TIME_MAX; calgate answers: mean $BODY_MEAN B (min $BODY_MIN, max $BODY_MAX); nginx serves $BODY_MEAN B"
  [[ -n "$CROSS_NOTE" ]] && echo "   $CROSS_NOTE"
} >"$BENCH_TMP/header.txt"
cat "$BENCH_TMP/header.txt"
python3 "$LUA_DIR/summary.py" "$RESULTS" "$SKIP_CALGATE" "$CONNS"

if [[ "$STRICT" == 1 && -f "$RESULTS.met" && "$(cat "$RESULTS.met")" != 1 ]]; then
  exit 3
fi
