#!/usr/bin/env bash
# Installs what is missing, builds Kura twice (normal, and with
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole suite
# in both: cmocka unit tests and the black-box pytest suite against a real
# kurad. Ends with one line "N passed, N failed".
#
#   KURA_TEST_SKIP_ASAN=1   run only the normal build (quicker, for local work)
#   KURA_WERROR=1           treat compiler warnings as errors (CI sets it)
#   PYTEST_ARGS="-k login"  extra pytest arguments
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

./scripts/install-deps.sh || { echo "dependency installation failed"; exit 1; }

PY=/usr/bin/python3
WERROR=false
if [ "${KURA_WERROR:-}" = 1 ] || [ "${CI:-}" = true ]; then WERROR=true; fi
RESULTS=$(mktemp -d)
trap 'rm -rf "$RESULTS"' EXIT

build() { # dir, extra meson args...
	local dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" -Dwerror=$WERROR "$@" >"$RESULTS/setup-$dir.log" 2>&1 ||
			{ cat "$RESULTS/setup-$dir.log"; return 1; }
	else
		meson configure "$dir" -Dwerror=$WERROR "$@" >/dev/null
	fi
	ninja -C "$dir"
}

run_suite() { # build dir, label
	local dir=$1 label=$2
	echo "=== $label: unit tests"
	meson test -C "$dir" --suite unit --print-errorlogs --no-rebuild
	cp "$dir/meson-logs/testlog.json" "$RESULTS/unit-$label.json" 2>/dev/null || true
	echo "=== $label: black-box tests"
	KURA_BUILD_DIR="$ROOT/$dir" $PY -m pytest -q -p no:cacheprovider tests/e2e \
		--junitxml="$RESULTS/e2e-$label.xml" ${PYTEST_ARGS:-}
	local rc=$?
	# exit 5 = no tests collected: that is a failure of the suite, not a pass
	if [ $rc -eq 5 ]; then echo "no black-box tests were collected"; fi
}

failed_build=0
build build || failed_build=1
if [ $failed_build -eq 0 ]; then run_suite build normal; fi

if [ "${KURA_TEST_SKIP_ASAN:-}" != 1 ]; then
	# detect_leaks: LeakSanitizer needs ptrace-free /proc access, which works here;
	# abort_on_error makes a sanitizer report fail the test that triggered it.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	if build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug; then
		run_suite build-asan asan
	else
		failed_build=1
	fi
fi

$PY scripts/summarize.py "$RESULTS" "$failed_build"
