# Shared helpers for the bench/*.sh scripts. Source it; do not run it.
#
# Provides: the repo/build paths, dependency install, the release build,
# free-port selection, process tracking with cleanup on EXIT, bounded
# "is the server up" polling, and config writers for calgate and nginx.
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# The release build lives in its own directory (never build/ or build-asan/,
# which other work uses).
BUILD_DIR="${BENCH_BUILD_DIR:-$REPO_DIR/build-release}"
CALGATE_BIN="$BUILD_DIR/src/calgate"
NGINX_BIN="${BENCH_NGINX:-/usr/sbin/nginx}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- processes
# Every process we start is recorded here and ended by bench_cleanup (EXIT trap).
BENCH_PIDS=()
BENCH_TMP=""

track() { BENCH_PIDS+=("$1"); }

# Forgets a process once it is gone, so its id, if reused, is never signalled.
untrack() {
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do
    [[ "$p" == "$1" ]] || keep+=("$p")
  done
  BENCH_PIDS=("${keep[@]}")
}

# Ends one process we started: SIGTERM, a bounded wait, then SIGKILL.
stop_pid() {
  local pid="$1" i
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    untrack "$pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  untrack "$pid"
}

bench_cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  # In start order: an nginx master is ended before its worker (which it
  # takes down itself; the worker entry only matters if the master died).
  for pid in "${BENCH_PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then
    rm -rf -- "$BENCH_TMP"
  fi
  exit "$rc"
}

bench_init() {
  BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/calgate-bench.XXXXXX")"
  chmod 755 "$BENCH_TMP"  # nginx workers may run as another user
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# ---------------------------------------------------------------- setup
ensure_deps() {
  local need=0 c
  for c in wrk "$NGINX_BIN" curl python3 taskset ss ps meson ninja; do
    command -v "$c" >/dev/null 2>&1 || need=1
  done
  # scripts/install-deps.sh only installs what is missing (dpkg-query check).
  if ((need)); then
    log "installing missing dependencies (scripts/install-deps.sh --bench)"
    bash "$REPO_DIR/scripts/install-deps.sh" --bench
  else
    bash "$REPO_DIR/scripts/install-deps.sh" --bench >/dev/null
  fi
  for c in wrk "$NGINX_BIN" curl python3 taskset ss ps; do
    command -v "$c" >/dev/null 2>&1 || die "$c is still missing after install-deps"
  done
}

build_release() {
  if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
    log "meson setup $BUILD_DIR -Dbuildtype=release"
    meson setup "$BUILD_DIR" "$REPO_DIR" -Dbuildtype=release >"$BENCH_TMP/meson-setup.log" 2>&1 ||
      { cat "$BENCH_TMP/meson-setup.log" >&2; die "meson setup failed"; }
  fi
  local bt
  bt="$(meson introspect "$BUILD_DIR" --buildoptions |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')"
  [[ "$bt" == release ]] || die "$BUILD_DIR has buildtype=$bt, expected release"
  log "ninja -C $BUILD_DIR src/calgate"
  # The executable's ninja target is src/calgate (it is defined in src/meson.build).
  ninja -C "$BUILD_DIR" src/calgate >"$BENCH_TMP/ninja.log" 2>&1 ||
    { tail -50 "$BENCH_TMP/ninja.log" >&2; die "build failed"; }
  [[ -x "$CALGATE_BIN" ]] || die "no binary at $CALGATE_BIN"
  log "build: $(tail -1 "$BENCH_TMP/ninja.log")"
}

need_cores() {
  local n
  n="$(nproc)"
  ((n >= 2)) || die "need at least 2 CPUs (servers on core 0, client on core 1); nproc=$n"
}

# A free loopback TCP port, chosen now (the kernel picks it; we release it at once).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Raises the soft open-files limit of this shell to $1, or to the hard limit if
# that is lower (call it directly, not in $(...), or the change is lost).
raise_nofile() {
  local want="$1" hard
  ulimit -Hn "$want" 2>/dev/null || true  # succeeds only with CAP_SYS_RESOURCE
  hard="$(ulimit -Hn)"
  if [[ "$hard" == unlimited ]]; then hard="$want"; fi
  if ((hard < want)); then want="$hard"; fi
  ulimit -Sn "$want"
}

# ---------------------------------------------------------------- servers
# write_calgate_config FILE MAX_CONNECTIONS [extra TOML lines for [server]...]
write_calgate_config() {
  local file="$1" maxc="$2"
  shift 2
  {
    echo '[server]'
    echo "max_connections = $maxc"
    local l
    for l in "$@"; do echo "$l"; done
    echo
    echo '[log]'
    echo 'access = false'
  } >"$file"
}

# write_nginx_config DIR PORT WORKER_CONNECTIONS NOFILE [EXTRA_LOCATIONS]
# One worker, no access log, foreground, everything under DIR, keep-alive on,
# and GET /healthz answered with calgate's exact body and Content-Type;
# EXTRA_LOCATIONS (nginx location blocks) are added to the server.
write_nginx_config() {
  local dir="$1" port="$2" wconn="$3" nofile="$4" extra="${5:-}"
  mkdir -p "$dir/temp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $nofile;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections $wconn;
}

http {
    access_log off;
    client_body_temp_path $dir/temp/client_body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;

    keepalive_timeout 600s;
    keepalive_requests 1000000000;
    client_header_timeout 600s;

    server {
        listen 127.0.0.1:$port;
        location = /healthz {
            default_type "application/json; charset=utf-8";
            return 200 '{"status":"ok"}';
        }
$extra
    }
}
EOF
}

# Polls http://127.0.0.1:PORT/healthz until it answers 200 (~10 s at most).
# On failure shows the server's log and exits.
wait_up() {
  local name="$1" pid="$2" port="$3" logfile="$4" i
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "---- $name log ($logfile) ----" >&2
      cat "$logfile" >&2 || true
      die "$name exited during start-up"
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null)" == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "---- $name log ($logfile) ----" >&2
  cat "$logfile" >&2 || true
  die "$name did not answer on 127.0.0.1:$port within 10 s"
}

# start_calgate CONFIG PORT LOGFILE -> sets CALGATE_PID
start_calgate() {
  local cfg="$1" port="$2" logfile="$3"
  taskset -c 0 "$CALGATE_BIN" serve --config "$cfg" --listen "127.0.0.1:$port" >"$logfile" 2>&1 &
  CALGATE_PID=$!
  track "$CALGATE_PID"
  wait_up calgate "$CALGATE_PID" "$port" "$logfile"
}

# start_nginx DIR PORT -> sets NGINX_PID (master) and NGINX_WORKER_PID
start_nginx() {
  local dir="$1" port="$2"
  "$NGINX_BIN" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/nginx-t.log" 2>&1 ||
    { cat "$dir/nginx-t.log" >&2; die "nginx -t rejected the generated config"; }
  taskset -c 0 "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  track "$NGINX_PID"
  wait_up nginx "$NGINX_PID" "$port" "$dir/error.log"
  NGINX_WORKER_PID="$(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ' | head -1)"
  [[ -n "$NGINX_WORKER_PID" ]] || die "nginx worker process not found"
  track "$NGINX_WORKER_PID"  # normally ended by its master; recorded in case the master dies
}

# Resident set size of a process in KiB (VmRSS from /proc/PID/status).
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Proportional set size in KiB (shared pages split between sharers), for reference.
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo "?"; }

# CPU time (user+system) of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Number of established TCP connections whose local port is PORT (server side).
established_on() {
  ss -Htn state established "( sport = :$1 )" | wc -l
}

# ---------------------------------------------------------------- CPU accounting
# Sets variable $1 to the user+sys CPU seconds of this shell's reaped children
# (second line of the `times` builtin; it must run in this shell, not a subshell,
# whose own child accounting starts at zero).
children_cpu_into() {
  times >"$BENCH_TMP/times.txt"
  local v
  v="$(awk 'NR == 2 {
    n = split($0, f, " "); s = 0
    for (i = 1; i <= n; i++) { split(f[i], a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
    printf "%.3f\n", s }' "$BENCH_TMP/times.txt")"
  printf -v "$1" '%s' "$v"
}

# "busy total" jiffies of one CPU from /proc/stat (busy counts everything but idle/iowait).
core_jiffies() {
  awk -v c="cpu$1" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}
