#!/usr/bin/env bash
# Runs the search-request fuzzer (tests/fuzz/fuzz_search.c) with ASan and UBSan.
#
#   tests/fuzz/run.sh [seconds]    fuzz for that long (default 60) on a copy of
#                                  the seeds and kept crashes; new inputs stay in
#                                  that copy (build-fuzz/fuzz-out/corpus)
#   tests/fuzz/run.sh regress      run each seed and each kept crash once
#
# Installs clang and libFuzzer (libclang-rt-14-dev) when missing, sets up
# build-fuzz, and fails on any crash, leak or sanitizer report. A crash is
# saved under build-fuzz/fuzz-out/: fix it with a unit test first, then move
# the input to tests/fuzz/crashes/ so that every build replays it.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$ROOT/build-fuzz"
SEEDS="$ROOT/tests/fuzz/corpus/search"
CRASHES="$ROOT/tests/fuzz/crashes"
MODE="${1:-60}"

if [ "$MODE" != "regress" ] && ! [[ "$MODE" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [seconds | regress]" >&2
  exit 2
fi

missing=()
for p in clang libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang meson setup "$BUILD" "$ROOT" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null
fi
ninja -C "$BUILD" -j2 tests/fuzz/fuzz_search >/dev/null

FUZZER="$BUILD/tests/fuzz/fuzz_search"
# UBSan reports are errors here, not warnings.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"

if [ "$MODE" = "regress" ]; then
  inputs=("$SEEDS"/*)
  if [ -d "$CRASHES" ]; then
    inputs+=("$CRASHES"/*)
  fi
  # With files as arguments, libFuzzer runs each once and stops at the first failure.
  if ! "$FUZZER" -runs=1 "${inputs[@]}" >"$BUILD/fuzz-regress.log" 2>&1; then
    tail -n 60 "$BUILD/fuzz-regress.log" >&2
    echo "fuzz: FAILED (log: $BUILD/fuzz-regress.log)" >&2
    exit 1
  fi
  echo "fuzz: ${#inputs[@]} inputs replayed, no failure"
  exit 0
fi

OUT="$BUILD/fuzz-out"
rm -rf "$OUT/corpus"
mkdir -p "$OUT/corpus" "$OUT/artifacts"
cp "$SEEDS"/* "$OUT/corpus/"
if [ -d "$CRASHES" ]; then
  cp "$CRASHES"/* "$OUT/corpus/"
fi
echo "fuzz: $MODE s on a copy of the seed corpus in $OUT/corpus" >&2
"$FUZZER" -max_total_time="$MODE" -dict="$ROOT/tests/fuzz/search.dict" \
  -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 "$OUT/corpus" \
  >"$OUT/fuzz.log" 2>&1 || {
  tail -n 60 "$OUT/fuzz.log" >&2
  echo "fuzz: FAILED; input saved under $OUT/artifacts/" >&2
  exit 1
}
grep -E '^stat::number_of_executed_units|^Done' "$OUT/fuzz.log" || true
echo "fuzz: no crash in $MODE s"
