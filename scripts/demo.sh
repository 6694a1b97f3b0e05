#!/usr/bin/env bash
# The main command. On Debian 12 it installs what the demo needs
# (scripts/install-deps.sh --demo), builds calgate and the Exchange simulator, and
# runs calgate's real job on loopback until Ctrl-C or SIGTERM:
#   - a slapd holding the demo directory (conf/demo/directory.ldif),
#   - the Exchange simulator with demo calendars for this week and the next
#     (conf/demo/calendars.toml, its dates moved to the current week),
#   - calgate on conf/demo.toml, answering free/busy lookups for the demo people.
# Once everything answers it prints ready-to-paste curl commands. Everything it
# writes lives in one temporary directory, removed when it stops.
#
# Environment:
#   CALGATE_BUILD_DIR        build directory (default: build)
#   CALGATE_DEMO_NO_INSTALL  1: do not run scripts/install-deps.sh (no apt)
#   CALGATE_DEMO_PORT, CALGATE_DEMO_LDAP_PORT, CALGATE_DEMO_EWS_PORT
#                            ports of calgate, slapd and the simulator (default
#                            8080, 3389, 8081; a taken default is replaced by the
#                            next free port above it)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${CALGATE_BUILD_DIR:-build}
template=conf/demo.toml
base_dn="dc=corp,dc=example"
token="demo-token-0123456789abcdef"

work="" slapd_pid="" sim_pid="" calgate_pid="" tail_pid=""

note() { printf 'demo: %s\n' "$*" >&2; }

# Shows the end of a component's log (it is deleted with the temp dir on exit).
show_log() {
  [ -s "$2" ] || return 0
  printf -- '--- last lines of the %s log (%s) ---\n' "$1" "$2" >&2
  # Not the access-log lines of this script's own /readyz polling.
  grep -v '^ts=.* msg=request .* path=/readyz ' "$2" | tail -n 40 >&2 || true
  printf -- '--- end of the %s log ---\n' "$1" >&2
}

die() {
  note "error: $1"
  [ -z "${2:-}" ] || show_log "$2" "$3"
  exit 1
}

# True while pid runs (a child that exited but was not reaped yet is a zombie: not running).
running() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# stop NAME PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS.
stop() {
  local name=$1 pid=$2 limit=$(($3 * 10)) i=0
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    while running "$pid" && ((i < limit)); do
      sleep 0.1
      i=$((i + 1))
    done
    if running "$pid"; then
      note "$name did not stop within $3 s of SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  trap '' INT TERM HUP # a second Ctrl-C must not cut the clean-up short
  local names=""
  [ -z "$calgate_pid" ] || names="calgate"
  [ -z "$sim_pid" ] || names="${names:+$names, }the Exchange simulator"
  [ -z "$slapd_pid" ] || names="${names:+$names, }slapd"
  [ -z "$names" ] || note "stopping $names"
  # calgate first (SIGTERM: it finishes requests in flight within server.shutdown_grace),
  # then what it talks to.
  [ -z "$calgate_pid" ] || stop calgate "$calgate_pid" 30
  [ -z "$tail_pid" ] || stop "log follower" "$tail_pid" 2
  [ -z "$sim_pid" ] || stop exchange_sim "$sim_pid" 10
  [ -z "$slapd_pid" ] || stop slapd "$slapd_pid" 15
  [ -z "$work" ] || rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Starts a long-running component in its own process group, so that Ctrl-C on the
# terminal reaches only this script, which stops the components in order (calgate
# gets one SIGTERM and its grace period, not a SIGINT and then a SIGTERM).
spawn() {
  local log=$1
  shift
  set -m
  "$@" </dev/null >"$log" 2>&1 &
  set +m
}

port_free() {
  python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

# pick_port WHAT DEFAULT EXPLICIT [USED...]: an explicitly asked port must be free;
# a default that is taken (or USED by another component) is replaced by the next
# free port above it.
pick_port() {
  local what=$1 port=$2 explicit=$3 i p
  shift 3
  if [ -n "$explicit" ]; then
    if ! [[ $explicit =~ ^[0-9]+$ ]] || ((explicit < 1 || explicit > 65535)); then
      die "$what port '$explicit' is not a port number"
    fi
    port_free "$explicit" || die "$what port $explicit (asked for in the environment) is taken on 127.0.0.1"
    echo "$explicit"
    return
  fi
  for ((i = 0; i < 100; i++)); do
    p=$((port + i))
    [[ " $* " == *" $p "* ]] && continue
    if port_free "$p"; then
      ((i == 0)) || note "port $port is taken: $what uses $p"
      echo "$p"
      return
    fi
  done
  die "no free port for $what in $port-$((port + 99)) on 127.0.0.1"
}

# A string value of the demo template, e.g. toml_value bind_dn.
toml_value() {
  local v
  v=$(sed -n "s/^$1 *= *\"\\(.*\\)\".*/\\1/p" "$template" | head -1)
  [ -n "$v" ] || die "$template has no $1 = \"...\" line"
  echo "$v"
}

sbin() { if [ -x "/usr/sbin/$1" ]; then echo "/usr/sbin/$1"; else command -v "$1" || die "$1 is not installed (scripts/install-deps.sh --demo installs it)"; fi; }

# ---------------------------------------------------------------- install, build
if [ "${CALGATE_DEMO_NO_INSTALL:-0}" != 1 ]; then
  bash scripts/install-deps.sh --demo
fi
for tool in meson ninja python3 curl ldapsearch; do
  command -v "$tool" >/dev/null || die "$tool is not installed (run scripts/install-deps.sh --demo)"
done
slapd_bin=$(sbin slapd)
slapadd_bin=$(sbin slapadd)
slappasswd_bin=$(sbin slappasswd)

work=$(mktemp -d "${TMPDIR:-/tmp}/calgate-demo.XXXXXX")

if [ ! -f "$build/build.ninja" ]; then
  note "configuring $build (meson setup)"
  meson setup "$build" >"$work/build.log" 2>&1 || die "meson setup $build failed" "build" "$work/build.log"
fi
if ! ninja -C "$build" -t query tests/sim/exchange_sim >/dev/null 2>&1; then
  # The simulator is built in tests/, which a build configured with -Dtests=false leaves out.
  note "enabling tests/ in $build (the Exchange simulator is built there)"
  meson configure "$build" -Dtests=true >"$work/build.log" 2>&1 || die "meson configure $build -Dtests=true failed" "build" "$work/build.log"
fi
note "building calgate and the Exchange simulator in $build (the first time takes a few minutes)"
ninja -C "$build" -j "$(nproc)" src/calgate tests/sim/exchange_sim >"$work/build.log" 2>&1 ||
  die "the build failed" "build" "$work/build.log"
calgate_bin=$build/src/calgate
sim_bin=$build/tests/sim/exchange_sim

# ---------------------------------------------------------------- ports, dates
http_port=$(pick_port calgate 8080 "${CALGATE_DEMO_PORT:-}")
ldap_port=$(pick_port slapd 3389 "${CALGATE_DEMO_LDAP_PORT:-}" "$http_port")
ews_port=$(pick_port "the Exchange simulator" 8081 "${CALGATE_DEMO_EWS_PORT:-}" "$http_port" "$ldap_port")
[ "$http_port" != "$ldap_port" ] && [ "$http_port" != "$ews_port" ] && [ "$ldap_port" != "$ews_port" ] ||
  die "calgate, slapd and the simulator need three different ports (got $http_port, $ldap_port, $ews_port)"

# The calendars: conf/demo/calendars.toml with every date moved by whole weeks, so
# that its first week (Monday 2024-01-01) becomes the current one (Monday to Sunday,
# this machine's local date). Prints the current Monday and the Monday two weeks on.
read -r monday end_monday < <(python3 - conf/demo/calendars.toml "$work/calendars.toml" <<'EOF'
import datetime, re, sys
template_monday = datetime.date(2024, 1, 1)
today = datetime.date.today()
monday = today - datetime.timedelta(days=today.weekday())
shift = monday - template_monday
def moved(m):
    return (datetime.date.fromisoformat(m.group(0)) + shift).isoformat()
text = open(sys.argv[1], encoding="utf-8").read()
text = re.sub(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])", moved, text)
header = "# Generated by scripts/demo.sh from conf/demo/calendars.toml: dates moved by %d days.\n" % shift.days
open(sys.argv[2], "w", encoding="utf-8").write(header + text)
print(monday.isoformat(), (monday + datetime.timedelta(days=14)).isoformat())
EOF
) || true
[ -n "${end_monday:-}" ] || die "could not write the demo calendars"

# ---------------------------------------------------------------- slapd
bind_dn=$(toml_value bind_dn)
bind_password=$(toml_value bind_password)
mkdir -p "$work/slapd/db"
hash=$("$slappasswd_bin" -h '{SSHA}' -s "$bind_password") || die "slappasswd failed"
# The service account's password goes right after its dn line.
awk -v dn="dn: $bind_dn" -v pw="userPassword: $hash" '{ print } $0 == dn { print pw }' \
  conf/demo/directory.ldif >"$work/slapd/data.ldif"
grep -q '^userPassword: ' "$work/slapd/data.ldif" || die "conf/demo/directory.ldif has no entry '$bind_dn' (the bind_dn of $template)"
cat >"$work/slapd/slapd.conf" <<EOF
# Generated by scripts/demo.sh (the approach of tests/support/slapd.cpp).
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include "$PWD/tests/fixtures/ldap/calgate-ad.schema"
pidfile "$work/slapd/slapd.pid"
argsfile "$work/slapd/slapd.args"
modulepath /usr/lib/ldap
moduleload back_mdb

database mdb
maxsize 104857600
dbnosync
suffix "$base_dn"
rootdn "cn=admin,$base_dn"
rootpw $(head -c 18 /dev/urandom | base64 | tr -d '/+=')
directory "$work/slapd/db"
index objectClass eq
index uid eq
index mail,proxyAddresses eq,sub
index displayName,cn,givenName,sn sub
access to attrs=userPassword
  by anonymous auth
  by self write
  by * none
access to *
  by dn.exact="$bind_dn" read
  by users read
  by * none
EOF
"$slapadd_bin" -q -f "$work/slapd/slapd.conf" -l "$work/slapd/data.ldif" >"$work/slapd/slapadd.log" 2>&1 ||
  die "slapadd could not load conf/demo/directory.ldif" slapadd "$work/slapd/slapadd.log"
# -d: stay in the foreground (stats: log connections and operations).
spawn "$work/slapd.log" "$slapd_bin" -d stats -f "$work/slapd/slapd.conf" -h "ldap://127.0.0.1:$ldap_port/"
slapd_pid=$!
for ((i = 0; ; i++)); do
  running "$slapd_pid" || die "slapd exited at start" slapd "$work/slapd.log"
  timeout 5 ldapsearch -x -LLL -o nettimeout=2 -H "ldap://127.0.0.1:$ldap_port" -D "$bind_dn" -w "$bind_password" \
    -b "$base_dn" -s base dn >/dev/null 2>&1 && break
  ((i < 150)) || die "slapd did not answer an LDAP bind as $bind_dn within 30 s" slapd "$work/slapd.log"
  sleep 0.2
done

# ---------------------------------------------------------------- Exchange simulator
spawn "$work/exchange_sim.log" "$sim_bin" --config "$work/calendars.toml" --http-port "$ews_port" --access-log
sim_pid=$!
for ((i = 0; ; i++)); do
  running "$sim_pid" || die "the Exchange simulator exited at start" exchange_sim "$work/exchange_sim.log"
  grep -q '^exchange_sim ready' "$work/exchange_sim.log" && break
  ((i < 150)) || die "the Exchange simulator was not ready within 30 s" exchange_sim "$work/exchange_sim.log"
  sleep 0.2
done
ews_url="http://127.0.0.1:$ews_port/EWS/Exchange.asmx"

# ---------------------------------------------------------------- calgate
sed -e "s#\"ldap://127.0.0.1:3389\"#\"ldap://127.0.0.1:$ldap_port\"#" \
  -e "s#\"http://127.0.0.1:8081/EWS/Exchange.asmx\"#\"$ews_url\"#" "$template" >"$work/calgate.toml"
if ! grep -q "\"ldap://127.0.0.1:$ldap_port\"" "$work/calgate.toml" || ! grep -q "\"$ews_url\"" "$work/calgate.toml"; then
  die "$template no longer has url = \"ldap://127.0.0.1:3389\" and url = \"http://127.0.0.1:8081/EWS/Exchange.asmx\" for the script to replace"
fi
"$calgate_bin" check-config "$work/calgate.toml" >"$work/check-config.log" 2>&1 ||
  die "calgate rejects the demo configuration" check-config "$work/check-config.log"
base_url="http://127.0.0.1:$http_port"
spawn "$work/calgate.log" "$calgate_bin" serve --config "$work/calgate.toml" --listen "127.0.0.1:$http_port"
calgate_pid=$!
for ((i = 0; ; i++)); do
  running "$calgate_pid" || die "calgate exited at start" calgate "$work/calgate.log"
  code=$(curl -s -o "$work/readyz.json" -w '%{http_code}' --max-time 2 "$base_url/readyz" 2>/dev/null) || code=000
  [ "$code" = 200 ] && break
  if ((i >= 150)); then
    [ ! -s "$work/readyz.json" ] || note "/readyz answers $code: $(cat "$work/readyz.json")"
    die "calgate was not ready within 30 s" calgate "$work/calgate.log"
  fi
  sleep 0.2
done

# ---------------------------------------------------------------- ready
d0=${monday//-/}
d1=${end_monday//-/}
freebusy_body="{\"timeMin\":\"${monday}T00:00:00Z\",\"timeMax\":\"${end_monday}T00:00:00Z\",\"timeZone\":\"Europe/Berlin\",\"items\":[{\"id\":\"alice@corp.example\"},{\"id\":\"bob@corp.example\"},{\"id\":\"nobody@corp.example\"}]}"
cat >&2 <<EOF
demo: calgate's start-up log:
$(sed 's/^/  /' "$work/calgate.log")
EOF
cat <<EOF

calgate demo ready on $base_url
  directory:  slapd at ldap://127.0.0.1:$ldap_port ($base_dn, conf/demo/directory.ldif)
  Exchange:   simulator at $ews_url (conf/demo/calendars.toml, weeks of $monday and the next)
  people:     alice@corp.example (alias a.example@corp.example), bob@, carol@, dave@, erin@,
              juergen.mueller@corp.example and the room room.alpha@corp.example
  files:      $work (removed on exit)

Free/busy in the Google Calendar API v3 format (this week and the next; nobody@ is unknown):
  curl -s -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '$freebusy_body' $base_url/calendar/v3/freeBusy

Free/busy in the Calendar Connector's legacy protocol (an HTML page that posts the answer to Google's mailslot):
  curl -s --data-urlencode 'text=[1,demo-1,[alice@corp.example,bob@corp.example,nobody@corp.example],$d0/$d1,${d0}T000000,Europe/Berlin]' $base_url/GCalExchangeLookup/ExchangeQuerier.aspx

Directory search, health, readiness and metrics:
  curl -s '$base_url/v1/directory/search?q=a'
  curl -s $base_url/healthz
  curl -s $base_url/readyz
  curl -s $base_url/metrics

Press Ctrl-C (or send SIGTERM) to stop calgate, the simulator and slapd. calgate's log follows.
EOF

# Follow calgate's log from where the start-up log above ended.
offset=$(($(stat -c %s "$work/calgate.log") + 1))
tail -c "+$offset" -f --pid="$calgate_pid" "$work/calgate.log" >&2 &
tail_pid=$!

# Serve until a signal (the traps above) or until a component stops by itself.
while :; do
  died=""
  wait -n -p died "$calgate_pid" "$sim_pid" "$slapd_pid" || true
  case "$died" in
    "$calgate_pid") calgate_pid=""; die "calgate stopped by itself" calgate "$work/calgate.log" ;;
    "$sim_pid") sim_pid=""; die "the Exchange simulator stopped by itself" exchange_sim "$work/exchange_sim.log" ;;
    "$slapd_pid") slapd_pid=""; die "slapd stopped by itself" slapd "$work/slapd.log" ;;
  esac
done
