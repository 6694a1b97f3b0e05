#!/usr/bin/env bash
# The main command: installs what calgate needs (Debian 12), builds it and runs
# it on the embedded demo configuration (conf/demo.toml) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build calgate >/dev/null
listen=$(sed -n 's/^listen *= *"\(.*\)"/\1/p' conf/demo.toml | head -1)
cat <<MSG
calgate is starting on http://${listen} (configuration: conf/demo.toml). Try:
  curl -s http://${listen}/healthz
  curl -s http://${listen}/readyz
  curl -s http://${listen}/metrics
Stop it with Ctrl-C (SIGINT) or SIGTERM: requests in flight get the configured grace period.
MSG
exec ./build/src/calgate serve --config conf/demo.toml
