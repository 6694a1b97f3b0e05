#!/usr/bin/env bash
# Directory resolutions per second, cold (through LDAP) and warm (from the cache),
# against a real slapd with a generated population. One run, side by side.
#   bash bench/directory.sh [users=5000] [concurrency=200]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test >/dev/null
[ -f build-release/build.ninja ] || meson setup build-release -Dbuildtype=release >/dev/null
ninja -C build-release bench/directory_bench >/dev/null
exec ./build-release/bench/directory_bench "${1:-5000}" "${2:-200}"
