#!/usr/bin/env bash
# Installs from Debian 12's packages what calgate needs to build and run
# (and, with --test / --bench, to run the test suite / the benchmarks; with
# --demo, to run scripts/demo.sh: slapd, the Exchange simulator and calgate).
# Safe to run again: it only installs what is missing.
set -euo pipefail

build_pkgs=(g++ meson ninja-build pkgconf ca-certificates
  libuv1-dev libssl-dev libldap-dev libsimdjson-dev libexpat1-dev node-llhttp
  libtomlplusplus-dev libhowardhinnant-date-dev tzdata)
test_pkgs=(catch2 openssl python3 curl tinyproxy slapd ldap-utils python3-ntlm-auth python3-exchangelib davmail-server libxml2-utils nodejs npm)
bench_pkgs=(wrk nginx-light curl python3 util-linux procps)
# catch2: meson configures tests/ (where the Exchange simulator is built) only with it.
demo_pkgs=(catch2 slapd ldap-utils python3 curl)

want=("${build_pkgs[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${test_pkgs[@]}") ;;
    --bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
    --demo) want+=("${demo_pkgs[@]}") ;;
    *) echo "usage: $0 [--test] [--bench] [--demo]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  # A newer Node.js from elsewhere (e.g. nodesource, which bundles npm and conflicts
  # with Debian's npm package) serves as well as Debian's.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  # Services packaged with a daemon (nginx, tinyproxy) must not be started by the
  # install itself: tests and benchmarks start their own instances.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
