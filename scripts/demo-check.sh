#!/usr/bin/env bash
# Checks the main command end to end: runs scripts/demo.sh (without apt:
# CALGATE_DEMO_NO_INSTALL=1) in the background, waits for its ready lines, runs the
# curl commands it printed and checks the answers (free/busy in both protocols,
# health, readiness with the directory, directory search, metrics), then stops it
# with SIGINT as Ctrl-C would and checks that no slapd, exchange_sim or calgate
# of its own is left and that its temporary directory is gone.
# Exit status 0 when everything holds; otherwise 1 with a message saying what failed.
#
# Environment: CALGATE_BUILD_DIR (passed on to demo.sh), CALGATE_DEMO_CHECK_TIMEOUT
# (seconds to wait for the demo to be ready, the build included; default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."

timeout_s=${CALGATE_DEMO_CHECK_TIMEOUT:-1800}
out=$(mktemp -d "${TMPDIR:-/tmp}/calgate-demo-check.XXXXXX")
demo_pid="" demo_status="" work=""
component_pids=()

say() { printf 'demo-check: %s\n' "$*"; }

fail() {
  printf 'demo-check: FAIL: %s\n' "$1" >&2
  if [ -n "${2:-}" ] && [ -s "$2" ]; then
    printf -- '--- %s ---\n' "$2" >&2
    tail -n 60 "$2" >&2
    printf -- '---\n' >&2
  fi
  if [ -s "$out/demo.err" ]; then
    printf -- '--- last lines of scripts/demo.sh stderr ---\n' >&2
    tail -n 40 "$out/demo.err" >&2
    printf -- '---\n' >&2
  fi
  exit 1
}

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# Processes whose command line names the demo's temporary directory: its slapd
# (-f DIR/slapd/slapd.conf), exchange_sim (--config DIR/calendars.toml) and calgate
# (--config DIR/calgate.toml), plus its log follower. Prints "pid command" lines.
processes_of_demo() {
  local p cmd
  [ -n "$work" ] || return 0
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *"$work/"* ]] || continue
    [ "${p#/proc/}" != "$$" ] || continue
    printf '%s %s\n' "${p#/proc/}" "$cmd"
  done
}

# Waits up to $1 seconds for demo.sh to end; sets demo_status.
wait_demo() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    alive "$demo_pid" || break
    sleep 0.1
  done
  if alive "$demo_pid"; then return 1; fi
  demo_status=0
  wait "$demo_pid" || demo_status=$?
  demo_pid=""
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM HUP
  if [ -n "$demo_pid" ] && alive "$demo_pid"; then
    kill -INT -- "-$demo_pid" 2>/dev/null || true
    wait_demo 60 || { kill -KILL -- "-$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; }
  fi
  # Anything of the demo still there is ours to end.
  for pid in "${component_pids[@]}" $(processes_of_demo | cut -d' ' -f1); do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  done
  [ -z "$work" ] || [ ! -d "$work" ] || rm -rf "$work"
  rm -rf "$out"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- start the demo
say "starting scripts/demo.sh (CALGATE_DEMO_NO_INSTALL=1${CALGATE_BUILD_DIR:+, CALGATE_BUILD_DIR=$CALGATE_BUILD_DIR})"
# Job control: demo.sh gets its own process group (SIGINT is not ignored, as it
# would be for a background job without it), which receives SIGINT as from Ctrl-C.
: >"$out/demo.out"
: >"$out/demo.err"
set -m
CALGATE_DEMO_NO_INSTALL=1 bash scripts/demo.sh </dev/null >"$out/demo.out" 2>"$out/demo.err" &
demo_pid=$!
set +m

for ((i = 0; ; i++)); do
  grep -q '^Press Ctrl-C' "$out/demo.out" && break
  alive "$demo_pid" || { wait_demo 1 || true; fail "scripts/demo.sh ended (status $demo_status) before it was ready"; }
  ((i < timeout_s * 5)) || fail "scripts/demo.sh was not ready within $timeout_s s"
  sleep 0.2
done
base_url=$(sed -n 's/^calgate demo ready on \(http[^ ]*\)$/\1/p' "$out/demo.out")
work=$(sed -n 's/^  files: *\([^ ]*\) (removed on exit)$/\1/p' "$out/demo.out")
[ -n "$base_url" ] || fail "no 'calgate demo ready on URL' line" "$out/demo.out"
[ -n "$work" ] && [ -d "$work" ] || fail "no 'files: DIR' line naming an existing directory" "$out/demo.out"
say "the demo is ready on $base_url (files in $work)"

# The printed command whose line ends with $1.
command_for() {
  local line
  while IFS= read -r line; do
    if [[ $line == "  curl "*"$1" ]]; then
      echo "$line"
      return
    fi
  done <"$out/demo.out"
  fail "the demo printed no curl command ending with $1" "$out/demo.out"
}

# run NAME COMMAND: runs a printed command as a user would paste it; the answer goes to $out/NAME.
run() {
  local rc=0
  timeout 60 bash -c "$2" >"$out/$1" 2>"$out/$1.err" || rc=$?
  ((rc == 0)) || fail "the printed $1 command failed (exit status $rc): $2" "$out/$1.err"
}

# ---------------------------------------------------------------- health, readiness, directory, metrics
cmd=$(command_for "/healthz")
run healthz "$cmd"
grep -q '"status":"ok"' "$out/healthz" || fail "/healthz did not answer {\"status\":\"ok\"}" "$out/healthz"
say "ok: /healthz"

cmd=$(command_for "/readyz")
run readyz "$cmd"
python3 - "$out/readyz" <<'EOF' || fail "/readyz is not ready with a working directory check" "$out/readyz"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "ready", r
assert r["checks"]["directory"]["ok"] is True, r
EOF
say "ok: /readyz (directory: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checks"]["directory"]["detail"])' "$out/readyz"))"

cmd=$(command_for "/v1/directory/search?q=a'")
run search "$cmd"
python3 - "$out/search" <<'EOF' || fail "the directory search for 'a' did not find Alice" "$out/search"
import json, sys
r = json.load(open(sys.argv[1]))
emails = [x["email"] for x in r["results"]]
assert "alice@corp.example" in emails, emails
EOF
say "ok: /v1/directory/search?q=a finds alice@corp.example"

cmd=$(command_for "/metrics")
run metrics "$cmd"
grep -q '^calgate_build_info' "$out/metrics" || fail "/metrics has no calgate_build_info" "$out/metrics"
say "ok: /metrics"

# ---------------------------------------------------------------- free/busy lookups
freebusy_cmd=$(command_for "/calendar/v3/freeBusy")
run freebusy "$freebusy_cmd"
counts=$(python3 - "$out/freebusy" <<'EOF'
import json, sys
from datetime import datetime
r = json.load(open(sys.argv[1]))
def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))
lo, hi = t(r["timeMin"]), t(r["timeMax"])
cal = r["calendars"]
for who, at_least in (("alice@corp.example", 5), ("bob@corp.example", 2)):
    c = cal[who]
    assert not c.get("errors"), (who, c)
    assert len(c["busy"]) >= at_least, (who, c)
    for b in c["busy"]:
        assert lo <= t(b["start"]) < t(b["end"]) <= hi, (who, b)
nobody = cal["nobody@corp.example"]
assert [e["reason"] for e in nobody["errors"]] == ["notFound"], nobody
assert nobody.get("busy", []) == [], nobody
print("%d and %d" % (len(cal["alice@corp.example"]["busy"]), len(cal["bob@corp.example"]["busy"])))
EOF
) || fail "the freeBusy answer lacks busy times for the demo users or notFound for nobody@corp.example" "$out/freebusy"
say "ok: freeBusy: busy times for alice@ and bob@ ($counts intervals), notFound for nobody@corp.example"

legacy_cmd=$(command_for "/GCalExchangeLookup/ExchangeQuerier.aspx")
run legacy "$legacy_cmd"
python3 - "$out/legacy" "$legacy_cmd" <<'EOF' || fail "the legacy lookup page is not an auto-posting form to the mailslot with Alice's and Bob's busy times (and without nobody@)" "$out/legacy"
import ast, html, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
form = re.search(r'<form[^>]*\baction="([^"]*)"', page)
assert form, "no <form action=...>"
assert html.unescape(form.group(1)) == "https://www.google.com/calendar/hosted/corp.example/mailslot", form.group(1)
assert re.search(r"\.submit\(\)", page), "the page does not post itself"
value = re.search(r'<input[^>]*\bname="text"[^>]*\bvalue="([^"]*)"', page) or re.search(
    r'<input[^>]*\bvalue="([^"]*)"[^>]*\bname="text"', page)
assert value, "no <input name=\"text\" value=...>"
# The expression is a JavaScript-like array literal with single-quoted strings whose
# escapes (\100, \u00fc) Python's literal syntax reads the same way.
expr = ast.literal_eval(html.unescape(value.group(1)))
version, message_id, data = expr
assert (version, message_id) == ("1", "demo-1"), expr[:2]
assert data[0] == "_ME_AddData", data[0]
window = re.search(r",([0-9]{8})/([0-9]{8}),", sys.argv[2])
assert data[1] == window.group(1) + "/" + window.group(2), data[1]
users = data[3]
entries = {users[i + 1].lower(): users[i + 3] for i in range(0, len(users), 4)}
for who in ("alice@corp.example", "bob@corp.example"):
    assert who in entries, (who, list(entries))
    assert entries[who], (who, "no entries")
    for e in entries[who]:
        assert window.group(1) <= e[1][:8] and e[2][:8] <= window.group(2) and e[1] < e[2], e
        assert e[5] in (1, 3), e
assert "nobody@corp.example" not in entries, list(entries)
EOF
say "ok: legacy lookup: an auto-posting page to the mailslot, Alice's and Bob's busy times, nobody@ left out"

# ---------------------------------------------------------------- stop with SIGINT
while read -r pid cmd; do
  case "$cmd" in
    *slapd*|*exchange_sim*|*calgate\ serve*) component_pids+=("$pid") ;;
  esac
done < <(processes_of_demo)
((${#component_pids[@]} == 3)) || fail "expected the demo's slapd, exchange_sim and calgate, found: $(processes_of_demo | tr '\n' ';')"

say "sending SIGINT to scripts/demo.sh (as Ctrl-C does)"
kill -INT -- "-$demo_pid"
wait_demo 60 || fail "scripts/demo.sh did not end within 60 s of SIGINT"
((demo_status == 130)) || fail "scripts/demo.sh ended with status $demo_status after SIGINT (expected 130)"
left=()
for pid in "${component_pids[@]}"; do
  alive "$pid" && left+=("$pid $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")")
done
while read -r line; do left+=("$line"); done < <(processes_of_demo)
((${#left[@]} == 0)) || fail "processes of the demo are still running: ${left[*]}"
[ ! -e "$work" ] || fail "the demo's directory $work is still there"
grep -q 'msg="shutting down" signal=SIGTERM' "$out/demo.err" ||
  fail "calgate did not log a shutdown on SIGTERM" "$out/demo.err"
grep -q 'msg="calgate stopped" exit_code=0' "$out/demo.err" ||
  fail "calgate did not log a clean stop (exit_code=0)" "$out/demo.err"
say "ok: SIGINT stopped calgate (SIGTERM, clean exit), the simulator and slapd; nothing left, $work removed"
say "PASS"
