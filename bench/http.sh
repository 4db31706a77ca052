#!/usr/bin/env bash
# HTTP benchmark: kurad beside a hello-world libmicrohttpd server measured in
# the same run on the same machine, so that the ratios mean something where
# absolute numbers do not.
#
#   bench/http.sh                       build (release, build-bench/), run, print
#   BENCH_DURATION=30s bench/http.sh    longer runs (default 10s each)
#   BENCH_THREADS=2 BENCH_CONNECTIONS=32 (wrk -t / -c; defaults 2 and 32)
#   BENCH_ROUNDS=3                      interleaved rounds; medians are printed
#   BENCH_BUILD_DIR=/path               use another build directory
#   BENCH_NO_BUILD=1                    do not run meson/ninja (use what is built)
#
# Measures, each with wrk over keep-alive TLS:
#   hello   GET /                 bench/hello_mhd (MHD + GnuTLS, same threading as kurad)
#   healthz GET /healthz          kurad, no authentication, no store
#   me      GET /api/v1/me        kurad, session cookie: session lookup in SQLite + JSON
# and prints requests/s, p99 latency and each kurad figure's ratio to hello.
# It never fails on a number: the exit code is non-zero only when something
# did not run (build, server start, login, wrk, or non-2xx answers that would
# make the figures meaningless).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
# Targets for the ratios (figures to watch, never a failure).
TARGET_HEALTHZ=${BENCH_TARGET_HEALTHZ:-0.70}
TARGET_ME=${BENCH_TARGET_ME:-0.50}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
require_tools wrk curl python3 meson ninja
build_release
KURAD=$BUILD/kurad
KURA=$BUILD/tools/kura/kura
HELLO=$BUILD/bench/hello_mhd
require_built "$KURAD" "$KURA" "$HELLO"

# ---------------------------------------------------------------- set-up
DATA=$TMP/data
run_clean "$KURA" --data "$DATA" init >/dev/null || die "kura init failed"
run_clean "$KURA" --data "$DATA" tenant create --name "Bench" bench >/dev/null ||
	die "kura tenant create failed"
EMAIL=bench@bench.example
OTP=$(run_clean "$KURA" --data "$DATA" user create --tenant bench --email "$EMAIL" \
	--role super_admin --name "Bench" | sed -n 's/^.*one-time password:[[:space:]]*//p') ||
	die "kura user create failed"
[ -n "$OTP" ] || die "kura user create printed no one-time password"
CERT=$DATA/tls/server.crt
KEY=$DATA/tls/server.key

KPORT=$(free_port)
# Default settings (logging at info, default Argon2id cost): what a deployment runs.
# Started directly (not through a shell function) so that $! is kurad itself,
# which the EXIT trap stops.
env "${clean_env[@]}" "$KURAD" --data "$DATA" --listen 127.0.0.1 --port "$KPORT" \
	>"$TMP/kurad.log" 2>&1 </dev/null &
PIDS+=($!)
KBASE=https://127.0.0.1:$KPORT
wait_healthy "$KBASE/healthz" "${PIDS[-1]}" "$TMP/kurad.log" kurad

HPORT=$(free_port)
"$HELLO" "$CERT" "$KEY" "$HPORT" >"$TMP/hello.log" 2>&1 </dev/null &
PIDS+=($!)
HBASE=https://127.0.0.1:$HPORT
wait_healthy "$HBASE/" "${PIDS[-1]}" "$TMP/hello.log" hello_mhd

# ---------------------------------------------------------------- a session
login "$EMAIL" "$OTP"
NEWPW="bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
code=$(python3 -c 'import json,sys; print(json.dumps({"currentPassword":sys.argv[1],"newPassword":sys.argv[2]}))' "$OTP" "$NEWPW" |
	curl -s --cacert "$CERT" -o "$TMP/pw.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" --data-binary @- "$KBASE/api/v1/auth/password")
[ "$code" = 204 ] || { cat "$TMP/pw.json" >&2; die "password change answered $code"; }
login "$EMAIL" "$NEWPW"
code=$(curl -s --cacert "$CERT" -o "$TMP/me.json" -w '%{http_code}' -H "Cookie: $COOKIE" "$KBASE/api/v1/me")
[ "$code" = 200 ] || { cat "$TMP/me.json" >&2; die "GET /api/v1/me answered $code"; }
[ "$(json_field passwordChangeRequired <"$TMP/me.json")" = False ] || die "the bench user still must change its password"

# ---------------------------------------------------------------- measure
declare -A RPS P99
run_wrk() { # name, url, extra wrk args... -> appends to RPS[name], P99[name]
	local name=$1 url=$2 out rps p99
	shift 2
	out=$TMP/wrk-$name.txt
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed for $name"; }
	if grep -q 'Non-2xx or 3xx responses' "$out"; then
		cat "$out" >&2
		die "$name: non-2xx answers during the run; the figures would be meaningless"
	fi
	grep -q 'Socket errors' "$out" && echo "bench: warning: $name: $(grep 'Socket errors' "$out")" >&2
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	[ -n "$rps" ] && [ -n "$p99" ] || { cat "$out" >&2; die "cannot read wrk's output for $name"; }
	RPS[$name]="${RPS[$name]:-} $rps"
	P99[$name]="${P99[$name]:-} $p99"
}

# Rounds interleave the three targets so that a burst of other load on this
# shared machine hits all of them alike; the medians are reported.
ROUNDS=${BENCH_ROUNDS:-3}
echo "bench: $ROUNDS rounds of wrk -t$THREADS -c$CONNS -d$DURATION, keep-alive TLS, $(nproc) CPUs, kurad workers = CPUs" >&2
for ((round = 1; round <= ROUNDS; round++)); do
	run_wrk hello "$HBASE/"
	run_wrk healthz "$KBASE/healthz"
	run_wrk me "$KBASE/api/v1/me" -H "Cookie: $COOKIE"
done

# the session must still be valid after the run (else the run measured 401s)
code=$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$KBASE/api/v1/me")
[ "$code" = 200 ] || die "the session stopped working during the run ($code)"

printf '%-26s %12s %10s   %s\n' target req/s p99_ms "(median of $ROUNDS rounds; all rounds' req/s)"
for t in "hello:hello_mhd GET /" "healthz:kurad GET /healthz" "me:kurad GET /api/v1/me"; do
	printf '%-26s %12s %10s   %s\n' "${t#*:}" "$(median "${RPS[${t%%:*}]}")" "$(median "${P99[${t%%:*}]}")" "${RPS[${t%%:*}]# }"
done
echo "healthz_vs_hello=$(ratio "${RPS[healthz]}" "${RPS[hello]}") (target >= $TARGET_HEALTHZ)"
echo "me_vs_hello=$(ratio "${RPS[me]}" "${RPS[hello]}") (target >= $TARGET_ME)"
echo "p99_me_vs_hello=$(ratio "${P99[me]}" "${P99[hello]}") (lower is better)"
