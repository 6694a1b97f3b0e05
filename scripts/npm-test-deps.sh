#!/usr/bin/env bash
# Installs into DIR the official Google npm clients that the freeBusy fidelity
# test drives (tests/fidelity/google_freebusy.js): use them with
#   NODE_PATH=DIR/node_modules node tests/fidelity/google_freebusy.js ...
#
# Versions are pinned to the ones reference/google.md §4 was captured with, so
# the test proves compatibility with a known client, not with whatever npm
# publishes on the day. googleapis-common is pinned as well: @googleapis/calendar
# only asks for ^8.0.0, and 8.0.3 in turn pins gaxios 7.1.3 and
# google-auth-library 10.5.0 exactly (the auth library's own gaxios/gtoken
# still float within their ^7/^8 ranges).
#
# Safe to run again: it does nothing when DIR already holds these versions.
# Needs node and npm (Debian packages nodejs npm: scripts/install-deps.sh --test)
# and access to the npm registry.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (e.g. $0 build/npm)" >&2
  exit 2
fi
dir=$1

pins=(
  "@googleapis/calendar@16.0.0"
  "googleapis-common@8.0.3"
  "google-auth-library@10.5.0"
)

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: '$tool' not found; install Debian's nodejs and npm (scripts/install-deps.sh --test)" >&2
    exit 1
  fi
done

# The version of package NAME installed in DIR, or nothing.
installed_version() {
  local pj="$dir/node_modules/$1/package.json"
  [ -f "$pj" ] || return 0
  node -e 'process.stdout.write(String(require(process.argv[1]).version || ""))' "$(realpath "$pj")" 2>/dev/null || true
}

all_installed() {
  local pin name want
  for pin in "${pins[@]}"; do
    name=${pin%@*}
    want=${pin##*@}
    [ "$(installed_version "$name")" = "$want" ] || return 1
  done
}

if all_installed; then
  echo "npm test deps already installed in $dir: ${pins[*]}"
  exit 0
fi

mkdir -p "$dir"
# A package.json of its own keeps npm from treating an enclosing directory
# (the source tree) as the project, and records what was installed.
if [ ! -f "$dir/package.json" ]; then
  printf '{\n  "name": "calgate-npm-test-deps",\n  "private": true,\n  "description": "installed by scripts/npm-test-deps.sh"\n}\n' \
    >"$dir/package.json"
fi

echo "installing into $dir: ${pins[*]}"
if ! npm install --prefix "$dir" --no-audit --no-fund --save-exact "${pins[@]}"; then
  echo "error: npm install failed for ${pins[*]} into $dir." >&2
  echo "  npm needs access to the npm registry ($(npm config get registry 2>/dev/null || echo 'registry unknown'));" >&2
  echo "  check the network/proxy settings (npm config get proxy / https-proxy) and the output above." >&2
  exit 1
fi

if ! all_installed; then
  echo "error: npm finished but $dir/node_modules does not hold ${pins[*]}:" >&2
  for pin in "${pins[@]}"; do
    echo "  ${pin%@*}: $(installed_version "${pin%@*}")" >&2
  done
  exit 1
fi
echo "npm test deps installed in $dir: ${pins[*]}"
