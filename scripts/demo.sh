#!/usr/bin/env bash
# Installs what is missing, builds, prepares ./demo-data with a demo tenant
# and its admin, and runs kurad in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

DATA=${KURA_DATA:-./demo-data}
./build/tools/kura/kura --data "$DATA" demo
echo
echo "Starting kurad (Ctrl-C to stop)..."
exec ./build/kurad --data "$DATA"
