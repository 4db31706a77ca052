#!/usr/bin/env bash
# Audit-chain benchmark: what kura_audit_append adds to a write transaction
# (beside the same write without it, measured in the same run), how fast a
# long chain is built and how fast kura_audit_verify walks it.
#
#   bench/audit.sh                          build (release, build-bench/), run, print
#   BENCH_ROUNDS=5 bench/audit.sh           interleaved rounds (default 3); medians are printed
#   BENCH_AUDIT_WRITES=50000                write transactions per run (the default)
#   BENCH_AUDIT_ENTRIES=1000000             entries in the verified chain (the default; 0 skips)
#   BENCH_BUILD_DIR=/path                   use another build directory
#   BENCH_NO_BUILD=1                        do not run meson/ninja (use what is built)
#
# The work is done by bench/audit_bench (C, linked with the kura library); see
# bench/README.md. It never fails on a number: the exit code is non-zero only
# when something did not run (build, set-up, a store call, or a verify that
# does not find the chain intact).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}

die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------- build
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
	for tool in meson ninja; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install meson ninja-build)"
	done
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$ROOT" -Dbuildtype=release -Dtests=disabled >/dev/null ||
			die "meson setup $BUILD failed"
	else
		meson configure "$BUILD" -Dbuildtype=release >/dev/null || die "meson configure failed"
	fi
	# Only what this benchmark runs: the library and audit_bench.
	ninja -C "$BUILD" bench/audit_bench >/dev/null || die "ninja -C $BUILD bench/audit_bench failed"
fi
BIN=$BUILD/bench/audit_bench
[ -x "$BIN" ] || die "$BIN is not built"

# ---------------------------------------------------------------- run
# audit_bench removes its own data directory; this one also catches what an
# interrupted run leaves behind (the 1M-entry chain is a few hundred MB).
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kura-audit-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

TMPDIR=$TMP "$BIN" || die "audit_bench did not run to the end"
