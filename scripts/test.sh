#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian 12), builds calgate twice
# (debugoptimized, and with AddressSanitizer + UndefinedBehaviorSanitizer), runs
# every test binary of both builds and ends with the line "N passed, N failed".
# Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
# The official Google API client (npm) that the freeBusy tests drive.
bash scripts/npm-test-deps.sh build-npm || { echo "npm test dependencies failed"; echo "0 passed, 1 failed"; exit 1; }

setup() {  # dir, meson options...
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -50 "$dir.ninja.log"; return 1; }
}

builds=(build build-asan)
setup build -Dbuildtype=debugoptimized || { echo "0 passed, 1 failed"; exit 1; }
setup build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false ||
  { echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
results=()
overall=0
for b in "${builds[@]}"; do
  mkdir -p "$b/test-results"
  for t in unit_tests integration_tests; do
    exe="$b/tests/$t"
    xml="$b/test-results/$t.xml"
    log="$b/test-results/$t.log"
    rm -f "$xml"
    start=$(date +%s)
    timeout 1500 "$exe" --reporter junit --out "$xml" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    results+=("$b|$t|$rc|$xml|$log|$secs")
    [ $rc -eq 0 ] || overall=1
  done
done

# The main command end to end: scripts/demo.sh (slapd, the simulator, calgate on
# conf/demo.toml) answering both lookup protocols, then stopping everything it started.
mkdir -p build/test-results
dlog=build/test-results/demo-check.log
dxml=build/test-results/demo-check.xml
start=$(date +%s)
CALGATE_DEMO_NO_INSTALL=1 CALGATE_BUILD_DIR=build CALGATE_DEMO_CHECK_TIMEOUT=600 \
  timeout 900 bash scripts/demo-check.sh >"$dlog" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
if [ $rc -eq 0 ]; then
  verdict='/>'
else
  verdict='><failure>scripts/demo-check.sh failed</failure></testcase>'
  overall=1
fi
printf '<testsuites><testsuite name="demo"><testcase classname="demo" name="scripts/demo-check.sh"%s</testsuite></testsuites>\n' \
  "$verdict" >"$dxml"
results+=("build|demo-check|$rc|$dxml|$dlog|$secs")

python3 - "${results[@]}" <<'PY'
import sys, xml.etree.ElementTree as ET
passed = failed = 0
for item in sys.argv[1:]:
    build, name, rc, xml, log, secs = item.split("|")
    rc = int(rc)
    p = f = 0
    failures = []
    try:
        root = ET.parse(xml).getroot()
        for case in root.iter("testcase"):
            bad = [c for c in case if c.tag in ("failure", "error")]
            if bad:
                f += 1
                failures.append((case.get("classname", "") + " / " + case.get("name", ""), bad[0].text or ""))
            else:
                p += 1
    except Exception as e:
        failures.append(("(no readable results)", str(e)))
    if rc != 0 and f == 0:
        f += 1
        failures.append((f"{name} exited with status {rc}", ""))
    print(f"{build}/{name}: {p} passed, {f} failed ({secs} s)")
    for title, text in failures:
        print(f"  FAILED: {title}")
        for line in text.strip().splitlines()[:12]:
            print(f"    {line}")
    if failures:
        print(f"  log: {log} (last lines follow)")
        try:
            lines = open(log, errors="replace").read().splitlines()[-25:]
            for line in lines:
                print(f"    | {line}")
        except OSError:
            pass
    passed += p
    failed += f
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
status=$?
[ $overall -eq 0 ] || status=1
exit $status
