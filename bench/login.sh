#!/usr/bin/env bash
# Login benchmark: how many sign-ins per second kurad completes at the
# configured Argon2id cost, and how much a storm of sign-ins slows the
# ordinary authenticated path (GET /api/v1/me) down.
#
#   bench/login.sh                      build (release, build-bench/), run, print
#   BENCH_DURATION=30s bench/login.sh   longer runs (default 10s each)
#   BENCH_THREADS=2 BENCH_CONNECTIONS=32 (wrk -t / -c; defaults 2 and 32)
#   BENCH_ROUNDS=3                      interleaved rounds; medians are printed
#   BENCH_LOGIN_USERS=8                 users the login load cycles over
#   BENCH_LOGIN_FAST=1                  a second pass at 19 MiB (the OWASP minimum)
#   BENCH_HASH_QUEUE_MAX=8              set kurad's hash_queue_max (default: kurad's, 64);
#                                       below the connections, the 503 back-pressure shows
#   BENCH_BUILD_DIR=/path               use another build directory
#   BENCH_NO_BUILD=1                    do not run meson/ninja (use what is built)
#
# Each pass (the default cost, 64 MiB / t=2; then 19 MiB / t=2 with
# BENCH_LOGIN_FAST=1) starts kurad on a fresh data directory with that cost
# and login_fail_ip_limit = 0 (every client is 127.0.0.1, and a block would
# turn the run into 429s), creates the users with the kura CLI, signs each in
# with its one-time password and changes the password through the API (so
# the stored hashes have kurad's cost), then measures in rounds:
#   login   POST /api/v1/auth/login, wrk -s with a Lua script cycling over
#           the users: logins/s (200), busy/s (503 service_busy: the hash
#           queue is full; the designed back-pressure, not an error), p99
#   me      GET /api/v1/me alone (idle)
#   storm   GET /api/v1/me and the login load at the same time, two wrk
#           processes with half the connections each
# and prints me_during_storm_vs_idle (median of the per-round ratios).
# It never fails on a number: the exit code is non-zero only when something
# did not run (build, server start, sign-in, wrk), or when a run got answers
# that make the figures meaningless (401 or another status on a login, a
# non-2xx on /me).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
NUSERS=${BENCH_LOGIN_USERS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
# Target for the ratio (a figure to watch, never a failure).
TARGET_STORM=${BENCH_TARGET_STORM:-0.50}
# A login waits for the hash thread behind the others: far longer than wrk's
# default 2 s time-out at the default cost.
LOGIN_TIMEOUT=${BENCH_LOGIN_TIMEOUT:-60s}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
require_tools wrk curl python3 meson ninja
[ "$THREADS" -ge 1 ] && [ "$CONNS" -ge $((2 * THREADS)) ] ||
	die "BENCH_CONNECTIONS must be at least twice BENCH_THREADS (the storm splits them in two)"
HALF=$((CONNS / 2))
build_release
KURAD=$BUILD/kurad
KURA=$BUILD/tools/kura/kura
require_built "$KURAD" "$KURA"

# ---------------------------------------------------------------- wrk runs
declare -A RPS P99 BUSY
wrk_p99() { to_ms "$(awk '$1 == "99%" {print $2}' "$1")"; }

# wrk started in the background (for the storm): out file, args...
start_wrk() {
	local out=$1
	shift
	wrk "$@" >"$out" 2>&1 &
	WRK_PID=$!
}

check_me() { # name, out -> appends RPS[name], P99[name]
	local name=$1 out=$2 rps p99
	if grep -q 'Non-2xx or 3xx responses' "$out"; then
		cat "$out" >&2
		die "$name: non-2xx answers on /me; the figures would be meaningless"
	fi
	grep -q 'Socket errors' "$out" && echo "bench: warning: $name: $(grep 'Socket errors' "$out")" >&2
	rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
	p99=$(wrk_p99 "$out")
	[ -n "$rps" ] && [ -n "$p99" ] || { cat "$out" >&2; die "cannot read wrk's output for $name"; }
	RPS[$name]="${RPS[$name]:-} $rps"
	P99[$name]="${P99[$name]:-} $p99"
}

check_login() { # name, out -> appends RPS[name] (200/s), BUSY[name] (503/s), P99[name]
	local name=$1 out=$2 line ok busy unauth other p99
	line=$(grep '^login_status ' "$out" || true)
	[ -n "$line" ] || { cat "$out" >&2; die "$name: the Lua script printed no counts"; }
	read -r _ ok busy unauth other <<<"$line"
	ok=${ok#ok_per_s=} busy=${busy#busy_per_s=} unauth=${unauth#unauthorized=} other=${other#other=}
	if [ "$unauth" != 0 ] || [ "$other" != 0 ]; then
		cat "$out" >&2
		die "$name: $unauth answers 401 and $other other non-200/503 answers to logins"
	fi
	grep -q 'Socket errors' "$out" && echo "bench: warning: $name: $(grep 'Socket errors' "$out")" >&2
	p99=$(wrk_p99 "$out")
	[ -n "$p99" ] || { cat "$out" >&2; die "cannot read wrk's output for $name"; }
	RPS[$name]="${RPS[$name]:-} $ok"
	BUSY[$name]="${BUSY[$name]:-} $busy"
	P99[$name]="${P99[$name]:-} $p99"
}

login_wrk_args() { # connections
	echo "-t$THREADS -c$1 -d$DURATION --timeout $LOGIN_TIMEOUT --latency -s $TMP/login.lua $KBASE/api/v1/auth/login"
}

# ---------------------------------------------------------------- a pass
run_pass() { # label, memlimit_kib, opslimit
	local label=$1 mem=$2 ops=$3 i email otp pw code round
	local penv=("${clean_env[@]}" KURA_PASSWORD_MEMLIMIT_KIB="$mem" KURA_PASSWORD_OPSLIMIT="$ops"
		KURA_LOGIN_FAIL_IP_LIMIT=0)
	[ -n "${BENCH_HASH_QUEUE_MAX:-}" ] && penv+=(KURA_HASH_QUEUE_MAX="$BENCH_HASH_QUEUE_MAX")
	DATA=$TMP/data-$label
	env "${penv[@]}" "$KURA" --data "$DATA" init >/dev/null || die "kura init failed"
	env "${penv[@]}" "$KURA" --data "$DATA" tenant create --name "Bench" bench >/dev/null ||
		die "kura tenant create failed"
	CERT=$DATA/tls/server.crt

	KPORT=$(free_port)
	env "${penv[@]}" "$KURAD" --data "$DATA" --listen 127.0.0.1 --port "$KPORT" \
		>"$TMP/kurad-$label.log" 2>&1 </dev/null &
	PIDS+=($!)
	KBASE=https://127.0.0.1:$KPORT
	wait_healthy "$KBASE/healthz" "${PIDS[-1]}" "$TMP/kurad-$label.log" kurad

	# the users: one-time password -> sign-in -> password change (hashed by kurad)
	local bodies=()
	for ((i = 1; i <= NUSERS; i++)); do
		email=bench$i@bench.example
		otp=$(env "${penv[@]}" "$KURA" --data "$DATA" user create --tenant bench --email "$email" \
			--role member --name "Bench $i" | sed -n 's/^.*one-time password:[[:space:]]*//p') ||
			die "kura user create failed"
		[ -n "$otp" ] || die "kura user create printed no one-time password"
		login "$email" "$otp"
		pw="bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
		code=$(python3 -c 'import json,sys; print(json.dumps({"currentPassword":sys.argv[1],"newPassword":sys.argv[2]}))' "$otp" "$pw" |
			curl -s --cacert "$CERT" --max-time 60 -o "$TMP/pw.json" -w '%{http_code}' -H 'Content-Type: application/json' \
				-H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" --data-binary @- "$KBASE/api/v1/auth/password")
		[ "$code" = 204 ] || { cat "$TMP/pw.json" >&2; die "password change answered $code"; }
		bodies+=("$(python3 -c 'import json,sys; print(json.dumps({"tenant":"bench","email":sys.argv[1],"password":sys.argv[2]}))' "$email" "$pw")")
		[ "$i" = 1 ] && { ME_EMAIL=$email; ME_PW=$pw; }
	done
	# the /me session: user 1 with its new password
	login "$ME_EMAIL" "$ME_PW"
	code=$(curl -s --cacert "$CERT" -o "$TMP/me.json" -w '%{http_code}' -H "Cookie: $COOKIE" "$KBASE/api/v1/me")
	[ "$code" = 200 ] || { cat "$TMP/me.json" >&2; die "GET /api/v1/me answered $code"; }
	[ "$(json_field passwordChangeRequired <"$TMP/me.json")" = False ] || die "the bench user still must change its password"

	# The Lua script: each wrk thread cycles over the users (starting at its
	# own offset) and counts the answers by status; done() sums the threads.
	{
		echo 'local bodies = {'
		for b in "${bodies[@]}"; do printf '  [==[%s]==],\n' "$b"; done
		cat <<'LUA'
}
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  n = id or 0
  ok, busy, unauth, other = 0, 0, 0, 0
end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % #bodies) + 1])
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 503 then busy = busy + 1
  elseif status == 401 then unauth = unauth + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, b, u, x = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); b = b + t:get("busy")
    u = u + t:get("unauth"); x = x + t:get("other")
  end
  local s = summary.duration / 1e6
  io.write(string.format("login_status ok_per_s=%.2f busy_per_s=%.2f unauthorized=%d other=%d\n",
    o / s, b / s, u, x))
  io.write(string.format("login_counts ok=%d busy=%d in %.2fs\n", o, b, s))
end
LUA
	} >"$TMP/login.lua"

	echo "bench: pass $label: password_memlimit_kib=$mem password_opslimit=$ops, $NUSERS users," \
		"$ROUNDS rounds of -t$THREADS -c$CONNS -d$DURATION (storm: -c$HALF each), $(nproc) CPUs" >&2
	local me_pid lg_pid
	for ((round = 1; round <= ROUNDS; round++)); do
		# shellcheck disable=SC2046
		wrk $(login_wrk_args "$CONNS") >"$TMP/wrk-login.txt" 2>&1 ||
			{ cat "$TMP/wrk-login.txt" >&2; die "wrk failed for login"; }
		check_login "login-$label" "$TMP/wrk-login.txt"
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Cookie: $COOKIE" "$KBASE/api/v1/me" \
			>"$TMP/wrk-me.txt" 2>&1 || { cat "$TMP/wrk-me.txt" >&2; die "wrk failed for me"; }
		check_me "me-$label" "$TMP/wrk-me.txt"
		# the storm: both at once, half the connections each
		# shellcheck disable=SC2046
		start_wrk "$TMP/wrk-storm-login.txt" $(login_wrk_args "$HALF")
		lg_pid=$WRK_PID
		start_wrk "$TMP/wrk-storm-me.txt" -t"$THREADS" -c"$HALF" -d"$DURATION" --latency \
			-H "Cookie: $COOKIE" "$KBASE/api/v1/me"
		me_pid=$WRK_PID
		wait "$me_pid" || { cat "$TMP/wrk-storm-me.txt" >&2; die "wrk failed for me during the storm"; }
		wait "$lg_pid" || { cat "$TMP/wrk-storm-login.txt" >&2; die "wrk failed for the storm"; }
		check_me "stormme-$label" "$TMP/wrk-storm-me.txt"
		check_login "stormlogin-$label" "$TMP/wrk-storm-login.txt"
	done

	# the session must still be valid after the run (else the run measured 401s)
	code=$(curl -s --cacert "$CERT" -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "$KBASE/api/v1/me")
	[ "$code" = 200 ] || die "the session stopped working during the run ($code)"
	stop_servers

	echo "== Argon2id password_memlimit_kib=$mem ($((mem / 1024)) MiB) password_opslimit=$ops," \
		"hash_workers=default (max(1, CPUs/2))," \
		"hash_queue_max=${BENCH_HASH_QUEUE_MAX:-default (64)}, login_fail_ip_limit=0"
	printf '%-34s %10s %10s %10s   %s\n' target ok/s busy/s p99_ms "(median of $ROUNDS rounds; all rounds' ok/s)"
	printf '%-34s %10s %10s %10s   %s\n' "POST /auth/login (-c$CONNS)" "$(median "${RPS[login-$label]}")" \
		"$(median "${BUSY[login-$label]}")" "$(median "${P99[login-$label]}")" "${RPS[login-$label]# }"
	printf '%-34s %10s %10s %10s   %s\n' "POST /auth/login in storm (-c$HALF)" "$(median "${RPS[stormlogin-$label]}")" \
		"$(median "${BUSY[stormlogin-$label]}")" "$(median "${P99[stormlogin-$label]}")" "${RPS[stormlogin-$label]# }"
	printf '%-34s %10s %10s %10s   %s\n' "GET /me idle (-c$CONNS)" "$(median "${RPS[me-$label]}")" \
		- "$(median "${P99[me-$label]}")" "${RPS[me-$label]# }"
	printf '%-34s %10s %10s %10s   %s\n' "GET /me in storm (-c$HALF)" "$(median "${RPS[stormme-$label]}")" \
		- "$(median "${P99[stormme-$label]}")" "${RPS[stormme-$label]# }"
	echo "me_during_storm_vs_idle=$(ratio "${RPS[stormme-$label]}" "${RPS[me-$label]}") (target >= $TARGET_STORM)"
}

run_pass default 65536 2
if [ "${BENCH_LOGIN_FAST:-}" = 1 ]; then
	run_pass fast 19456 2
fi
