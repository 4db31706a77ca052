# Shared by the bench/ scripts (sourced, not run): build, temporary data,
# server start-up, sign-in, and reading wrk's figures. Each script sets ROOT
# and BUILD before sourcing it.

die() { echo "bench: $*" >&2; exit 1; }

require_tools() { # tool...
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 ||
			die "$tool is not installed (apt-get install wrk curl python3 meson ninja-build)"
	done
}

# A release build in $BUILD, unless BENCH_NO_BUILD=1.
build_release() {
	[ "${BENCH_NO_BUILD:-}" = 1 ] && return 0
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$ROOT" -Dbuildtype=release -Dtests=disabled >/dev/null ||
			die "meson setup $BUILD failed"
	else
		meson configure "$BUILD" -Dbuildtype=release >/dev/null || die "meson configure failed"
	fi
	ninja -C "$BUILD" >/dev/null || die "ninja -C $BUILD failed"
}

require_built() { # binary...
	local b
	for b in "$@"; do
		[ -x "$b" ] || die "$b is not built"
	done
}

# $TMP, removed on exit with every server in PIDS stopped first.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kura-bench.XXXXXX")
PIDS=()
stop_servers() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
cleanup() {
	stop_servers
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kurad refuses unknown KURA_* variables: run it and the CLI without any.
clean_env=()
while IFS='=' read -r name _; do
	case $name in KURA_*) clean_env+=("-u" "$name") ;; esac
done < <(env)
run_clean() { env "${clean_env[@]}" "$@"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_healthy() { # url, pid, log, what
	local i
	for i in $(seq 1 200); do
		kill -0 "$2" 2>/dev/null || { cat "$3" >&2; die "$4 exited during start-up"; }
		if curl -sk --max-time 2 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null | grep -q '^200$'; then
			return 0
		fi
		sleep 0.1
	done
	cat "$3" >&2
	die "$4 did not answer $1 within 20 s"
}

json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

login() { # email, password -> sets COOKIE, CSRF (tenant "bench", server $KBASE, cert $CERT)
	local body hdrs
	body=$(python3 -c 'import json,sys; print(json.dumps({"tenant":"bench","email":sys.argv[1],"password":sys.argv[2]}))' "$1" "$2")
	hdrs=$TMP/login.hdrs
	curl -s --cacert "$CERT" --max-time 60 -D "$hdrs" -o "$TMP/login.json" -H 'Content-Type: application/json' \
		--data-binary "$body" "$KBASE/api/v1/auth/login" || die "login request failed for $1"
	grep -q '^HTTP/[0-9.]* 200' "$hdrs" || { cat "$hdrs" "$TMP/login.json" >&2; die "login failed for $1"; }
	COOKIE=$(sed -n 's/^[Ss]et-[Cc]ookie: *\(__Host-kura_session=[^;]*\).*/\1/p' "$hdrs" | tr -d '\r' | head -1)
	[ -n "$COOKIE" ] || die "login set no session cookie"
	CSRF=$(json_field csrfToken <"$TMP/login.json")
}

to_ms() { # wrk latency "812.00us" / "3.71ms" / "1.02s" / "1.02m" -> ms
	python3 -c '
import re,sys
m=re.fullmatch(r"([0-9.]+)(us|ms|s|m)",sys.argv[1])
v=float(m.group(1)); u=m.group(2)
print("%.2f" % (v/1000 if u=="us" else v*1000 if u=="s" else v*60000 if u=="m" else v))' "$1"
}

median() { python3 -c 'import statistics,sys; print("%g" % statistics.median(float(x) for x in sys.argv[1:]))' $1; }
# the median of per-round ratios: round i of a against round i of b
ratio() { python3 -c '
import statistics,sys
a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]
print("%.2f" % statistics.median(x / y for x, y in zip(a, b)))' "$1" "$2"; }

# ---------------------------------------------------------------- shared set-up (records.sh)

# A data directory $DATA (default $TMP/data, or the directory given) with
# tenant "bench" and a super admin: sets DATA, CERT, KEY, EMAIL, OTP.
setup_data() {
	DATA=${1:-$TMP/data}
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
}

# kurad on a free port with default settings: sets KPORT, KBASE, KPID.
start_kurad() {
	KPORT=$(free_port)
	env "${clean_env[@]}" "$KURAD" --data "$DATA" --listen 127.0.0.1 --port "$KPORT" \
		>"$TMP/kurad.log" 2>&1 </dev/null &
	KPID=$!
	PIDS+=("$KPID")
	KBASE=https://127.0.0.1:$KPORT
	wait_healthy "$KBASE/healthz" "$KPID" "$TMP/kurad.log" kurad
}

# bench/hello_mhd with kurad's certificate: sets HPORT, HBASE.
start_hello() {
	HPORT=$(free_port)
	"$HELLO" "$CERT" "$KEY" "$HPORT" >"$TMP/hello.log" 2>&1 </dev/null &
	PIDS+=($!)
	HBASE=https://127.0.0.1:$HPORT
	wait_healthy "$HBASE/" "${PIDS[-1]}" "$TMP/hello.log" hello_mhd
}

# Signs in with the one-time password, sets a new one, signs in again:
# sets COOKIE and CSRF of a session that may do everything its role may.
signin_fresh() {
	local newpw code
	login "$EMAIL" "$OTP"
	newpw="bench-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
	code=$(python3 -c 'import json,sys; print(json.dumps({"currentPassword":sys.argv[1],"newPassword":sys.argv[2]}))' "$OTP" "$newpw" |
		curl -s --cacert "$CERT" -o "$TMP/pw.json" -w '%{http_code}' -H 'Content-Type: application/json' \
			-H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" --data-binary @- "$KBASE/api/v1/auth/password")
	[ "$code" = 204 ] || { cat "$TMP/pw.json" >&2; die "password change answered $code"; }
	login "$EMAIL" "$newpw"
}

# An API key of the signed-in user: api_key FILE SCOPE... writes the token
# (kura_<tenant>_<secret>) to FILE (mode 0600).
api_key() {
	local file=$1 body code
	shift
	body=$(python3 -c 'import json,sys; print(json.dumps({"name":"bench","scopes":sys.argv[1:]}))' "$@")
	code=$(curl -s --cacert "$CERT" -o "$TMP/apikey.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H "Cookie: $COOKIE" -H "X-CSRF-Token: $CSRF" --data-binary "$body" "$KBASE/api/v1/api-keys")
	[ "$code" = 201 ] || { cat "$TMP/apikey.json" >&2; die "POST /api/v1/api-keys answered $code"; }
	(umask 077 && json_field token <"$TMP/apikey.json" >"$file")
	rm -f "$TMP/apikey.json"
}

# One wrk run: wrk_measure NAME URL [wrk args...] -> WRK_RPS, WRK_P99 (ms),
# WRK_BAD (non-2xx answers + socket errors); the output stays in
# $TMP/wrk-NAME.txt. Threads, connections and duration from WRK_THREADS,
# WRK_CONNS, WRK_DURATION (defaults 2, 32, 10s).
wrk_measure() {
	local name=$1 url=$2 out
	shift 2
	out=$TMP/wrk-$name.txt
	wrk -t"${WRK_THREADS:-2}" -c"${WRK_CONNS:-32}" -d"${WRK_DURATION:-10s}" --timeout 10s --latency "$@" "$url" \
		>"$out" 2>&1 || { cat "$out" >&2; die "wrk failed for $name"; }
	WRK_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
	WRK_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
	[ -n "$WRK_RPS" ] && [ -n "$WRK_P99" ] || { cat "$out" >&2; die "cannot read wrk's output for $name"; }
	WRK_BAD=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")
}

# "1234567.8" -> "1,234,568"
thousands() { python3 -c 'import sys; print(f"{float(sys.argv[1]):,.0f}")' "$1"; }
