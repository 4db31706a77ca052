#!/usr/bin/env bash
# Installs what Kura needs to build, run and test on Debian (bookworm or newer).
# Idempotent: packages already present are skipped, so a warm machine pays nothing.
set -euo pipefail

PKGS=(
  build-essential pkg-config meson ninja-build
  libmicrohttpd-dev libgnutls28-dev gnutls-bin libjansson-dev libsqlite3-dev sqlite3
  libsodium-dev libcmocka-dev libcsv-dev libcurl4-openssl-dev libunistring-dev
  liboath-dev libqrencode-dev
  python3 python3-pytest python3-requests
  openssl wrk curl ca-certificates
  john-data
  chromium
)
# Node.js drives the browser tests; the machine image may already have a newer one.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# playwright-core for the browser tests (it uses Debian's chromium, downloads no browser).
cd "$(dirname "$0")/../tests/browser"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
