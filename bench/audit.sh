#!/usr/bin/env bash
# Audit-chain benchmark, two parts:
#
#  micro    what kura_audit_append adds to a one-row write transaction (beside
#           the same write without it, in the same run), how fast a long chain
#           is built and how fast kura_audit_verify walks it (bench/audit_bench);
#  updates  record updates/s through the API (PATCH /api/v1/objects/contacts/{id},
#           two properties, random ids, keep-alive TLS, wrk) on a normal kurad
#           and on one built with -Dbench_no_audit=true (audit appends write
#           nothing), the two alternating in interleaved rounds: the ratio
#           normal/no-audit is what the audit chain costs a record update
#           (target <= 1.25x).
#
#   bench/audit.sh                          build both (release), run both parts, print
#   BENCH_AUDIT_PARTS=updates bench/audit.sh  only one part (micro | updates | all)
#   BENCH_ROUNDS=5                          micro: interleaved rounds (default 3)
#   BENCH_AUDIT_WRITES=50000                micro: write transactions per run (the default)
#   BENCH_AUDIT_ENTRIES=1000000             micro: entries in the verified chain (0 skips)
#   BENCH_UPDATE_ROUNDS=5                   updates: interleaved rounds (default 5; medians)
#   BENCH_DURATION=8s                       updates: each wrk run (default 8s)
#   BENCH_UPDATE_CONNECTIONS="2 8"          updates: connection counts (default: CPUs and 8)
#   BENCH_RECORDS=20000                     updates: contacts in the tenant (default 20,000)
#   BENCH_PERF=0                            updates: no perf profile (default: one if perf works)
#   BENCH_BUILD_DIR=/path                   the normal build (default build-bench/)
#   BENCH_NOAUDIT_BUILD_DIR=/path           the -Dbench_no_audit=true build (default build-bench-noaudit/)
#   BENCH_NO_BUILD=1                        do not run meson/ninja (use what is built)
#
# The micro part is bench/audit_bench (C, linked with the kura library); see
# bench/README.md. It never fails on a number: the exit code is non-zero only
# when something did not run (build, set-up, a store call, a verify that does
# not find the chain intact, a server start, wrk, or updates that were not
# answered 200).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
NBUILD=${BENCH_NOAUDIT_BUILD_DIR:-$ROOT/build-bench-noaudit}
PARTS=${BENCH_AUDIT_PARTS:-all}
RECORDS=${BENCH_RECORDS:-20000}
SEED=${BENCH_SEED:-1}
UROUNDS=${BENCH_UPDATE_ROUNDS:-5}
UDURATION=${BENCH_DURATION:-8s}
UCONNS=${BENCH_UPDATE_CONNECTIONS:-"$(nproc) 8"}
TARGET=1.25

case $PARTS in micro | updates | all) ;; *) echo "bench: BENCH_AUDIT_PARTS is micro, updates or all" >&2; exit 2 ;; esac
want() { [ "$PARTS" = all ] || [ "$PARTS" = "$1" ]; }

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
say() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- build
# setup_build DIR [meson options...]: a release build in DIR, the options set.
setup_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$ROOT" -Dbuildtype=release -Dtests=disabled "$@" >/dev/null ||
			die "meson setup $dir failed"
	else
		# --reconfigure, not "meson configure": a directory set up before an
		# option existed does not know it yet
		meson setup --reconfigure "$dir" "$ROOT" -Dbuildtype=release "$@" >/dev/null ||
			die "meson setup --reconfigure $dir failed"
	fi
}
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
	require_tools meson ninja
	setup_build "$BUILD" -Dbench_no_audit=false
	targets=()
	want micro && targets+=(bench/audit_bench)
	want updates && targets+=(kurad tools/kura/kura bench/load_batches)
	ninja -C "$BUILD" "${targets[@]}" >/dev/null || die "ninja -C $BUILD failed"
	if want updates; then
		# -Dbench_no_audit=true makes meson print a warning: expected here.
		setup_build "$NBUILD" -Dbench_no_audit=true 2>/dev/null
		ninja -C "$NBUILD" kurad >/dev/null || die "ninja -C $NBUILD kurad failed"
	fi
fi

# ---------------------------------------------------------------- micro
if want micro; then
	require_built "$BUILD/bench/audit_bench"
	mkdir -p "$TMP/micro"
	# audit_bench removes its own data directory; lib.sh's clean-up also takes
	# what an interrupted run leaves behind (the 1M-entry chain is a few hundred MB).
	TMPDIR=$TMP/micro "$BUILD/bench/audit_bench" || die "audit_bench did not run to the end"
	rm -rf "$TMP/micro"
fi
want updates || exit 0

# ---------------------------------------------------------------- updates: two servers
require_tools wrk curl python3
KURA=$BUILD/tools/kura/kura
LOADER=$BUILD/bench/load_batches
declare -A KURADS=([audit]=$BUILD/kurad [noaudit]=$NBUILD/kurad)
require_built "$KURA" "$LOADER" "${KURADS[audit]}" "${KURADS[noaudit]}"
SIDES=(audit noaudit)
declare -A NAME=([audit]="normal" [noaudit]="no-audit")

# The two binaries must be what their names say: the no-audit one refuses to
# start without KURA_BENCH_ALLOW_NO_AUDIT=1, the normal one is not such a build.
if env "${clean_env[@]}" "${KURADS[noaudit]}" --help >"$TMP/guard.log" 2>&1 ||
	! grep -q 'event=audit_disabled_build' "$TMP/guard.log"; then
	cat "$TMP/guard.log" >&2
	die "${KURADS[noaudit]} is not a -Dbench_no_audit=true build that refuses to start"
fi
env "${clean_env[@]}" "${KURADS[audit]}" --help >"$TMP/guard.log" 2>&1 || true
! grep -q 'event=audit_disabled_build' "$TMP/guard.log" ||
	die "${KURADS[audit]} is a -Dbench_no_audit=true build; the normal build must not be"

GEN=$TMP/gen
say "generating $RECORDS contacts (seed $SEED)"
python3 "$ROOT/bench/gen.py" --records "$RECORDS" --seed "$SEED" --out "$GEN" --dry-run >/dev/null ||
	die "bench/gen.py could not generate or check the data"

declare -A BASE PID TOK IDS LOG
for side in "${SIDES[@]}"; do
	setup_data "$TMP/data-$side"
	KPORT=$(free_port)
	LOG[$side]=$TMP/kurad-$side.log
	if [ "$side" = noaudit ]; then
		env "${clean_env[@]}" KURA_BENCH_ALLOW_NO_AUDIT=1 "${KURADS[$side]}" --data "$DATA" \
			--listen 127.0.0.1 --port "$KPORT" >"${LOG[$side]}" 2>&1 </dev/null &
	else
		env "${clean_env[@]}" "${KURADS[$side]}" --data "$DATA" \
			--listen 127.0.0.1 --port "$KPORT" >"${LOG[$side]}" 2>&1 </dev/null &
	fi
	PID[$side]=$!
	PIDS+=("${PID[$side]}")
	KBASE=https://127.0.0.1:$KPORT
	BASE[$side]=$KBASE
	wait_healthy "$KBASE/healthz" "${PID[$side]}" "${LOG[$side]}" "kurad (${NAME[$side]})"
	signin_fresh
	api_key "$TMP/token-$side" records.read records.write properties.manage
	TOK[$side]=$(cat "$TMP/token-$side")
	say "${NAME[$side]} kurad: loading $RECORDS contacts through batch/create"
	python3 "$ROOT/bench/gen.py" --records "$RECORDS" --seed "$SEED" --out "$GEN" --no-generate \
		--base "$KBASE" --token-file "$TMP/token-$side" --loader "$LOADER" >"$TMP/load-$side.json" ||
		{ tail -n 20 "${LOG[$side]}" >&2; die "the load into the ${NAME[$side]} kurad failed"; }
	IDS[$side]=$TMP/ids-$side.txt
	cp "$GEN/ids.txt" "${IDS[$side]}"
	# one update by hand: it must answer 200
	id=$(head -1 "${IDS[$side]}")
	code=$(curl -s --cacert "$CERT" -o "$TMP/check-$side.json" -w '%{http_code}' -X PATCH \
		-H "Authorization: Bearer ${TOK[$side]}" -H 'Content-Type: application/json' \
		--data-binary '{"properties":{"jobtitle":"Bench check","score":50}}' "$KBASE/api/v1/objects/contacts/$id")
	[ "$code" = 200 ] || { head -c 600 "$TMP/check-$side.json" >&2; die "PATCH on the ${NAME[$side]} kurad answered $code"; }
done
grep -q 'level=warn event=audit_disabled_build' "${LOG[noaudit]}" ||
	die "the no-audit kurad did not log its audit_disabled_build warning"

audit_updates() { # side -> record.update entries in its tenant's audit log (needs sqlite3)
	command -v sqlite3 >/dev/null 2>&1 || { echo "?"; return; }
	sqlite3 "$TMP/data-$1/tenants/bench/tenant.db" "SELECT count(*) FROM audit_log WHERE action = 'record.update'" 2>/dev/null || echo "?"
}
declare -A ENTRIES0
for side in "${SIDES[@]}"; do ENTRIES0[$side]=$(audit_updates "$side"); done

# ---------------------------------------------------------------- updates: interleaved rounds
declare -A RPS P99 BAD DONE
RUN=0
update_run() { # side, connections
	local side=$1 c=$2 k=$1-c$2 t
	t=$(($2 < $(nproc) ? $2 : $(nproc)))
	RUN=$((RUN + 1))
	WRK_THREADS=$t WRK_CONNS=$c WRK_DURATION=$UDURATION BENCH_TOKEN=${TOK[$side]} BENCH_RUN=$RUN \
		BENCH_IDS_FILE=${IDS[$side]} wrk_measure "$k" "${BASE[$side]}" -s "$ROOT/bench/records_update.lua"
	RPS[$k]="${RPS[$k]:-} $WRK_RPS"
	P99[$k]="${P99[$k]:-} $WRK_P99"
	BAD[$k]=$((${BAD[$k]:-0} + WRK_BAD))
	DONE[$side]=$((${DONE[$side]:-0} + $(awk '/requests in/ {print $1}' "$TMP/wrk-$k.txt")))
	[ "$WRK_BAD" = 0 ] || sed -n '/Non-2xx\|Socket errors/p' "$TMP/wrk-$k.txt" | sed "s/^/bench: $k: /" >&2
}
say "$UROUNDS round(s): PATCH two properties of a random contact, wrk -d$UDURATION at $UCONNS connections, $(nproc) CPUs; normal and no-audit kurad alternate"
printf '%-6s %-6s %14s %14s %7s\n' round conns normal_upd/s noaudit_upd/s ratio
for ((round = 1; round <= UROUNDS; round++)); do
	for c in $UCONNS; do
		# which server goes first alternates from round to round
		if ((round % 2)); then order=(audit noaudit); else order=(noaudit audit); fi
		for side in "${order[@]}"; do update_run "$side" "$c"; done
		a=$(echo ${RPS[audit-c$c]} | awk '{print $NF}') n=$(echo ${RPS[noaudit-c$c]} | awk '{print $NF}')
		printf '%-6s %-6s %14s %14s %6.2fx\n' "$round" "$c" "$a" "$n" "$(python3 -c "print($n / $a)")"
	done
done

# ---------------------------------------------------------------- profile (optional, not timed)
# perf on each server under the same load, one after the other (not among the
# measured runs): the share of kurad's samples in the audit append and in the
# commit, and those as CPU microseconds per update, so the commit's extra pages
# (which the append's own share does not show) appear as the difference
# between the two servers' commit times.
PERF_LINES=()
perf_run() { # side
	local side=$1 c rps n
	c=$(echo $UCONNS | awk '{print $NF}')
	RUN=$((RUN + 1))
	(perf record -q -F 499 --call-graph dwarf,16384 -p "${PID[$side]}" -o "$TMP/perf-$side.data" -- sleep 6 \
		>"$TMP/perf-$side.log" 2>&1) &
	local perf_pid=$!
	sleep 0.5
	WRK_THREADS=$((c < $(nproc) ? c : $(nproc))) WRK_CONNS=$c WRK_DURATION=7s BENCH_TOKEN=${TOK[$side]} BENCH_RUN=$RUN \
		BENCH_IDS_FILE=${IDS[$side]} wrk_measure "perf-$side" "${BASE[$side]}" -s "$ROOT/bench/records_update.lua"
	rps=$WRK_RPS
	DONE[$side]=$((DONE[$side] + $(awk '/requests in/ {print $1}' "$TMP/wrk-perf-$side.txt")))
	wait "$perf_pid" || { PERF_LINES+=("${NAME[$side]}: perf did not run ($(head -c 200 "$TMP/perf-$side.log"))"); return 0; }
	perf report -i "$TMP/perf-$side.data" --children --stdio -g none --sort symbol --percent-limit 0.2 \
		>"$TMP/perf-$side.txt" 2>/dev/null || { PERF_LINES+=("${NAME[$side]}: perf report failed"); return 0; }
	# the exact number of samples (the report's header rounds it to thousands)
	n=$(perf report -i "$TMP/perf-$side.data" --stdio --no-children -g none --sort pid -n 2>/dev/null |
		awk '$1 ~ /%$/ {s += $2} END {print s + 0}')
	[ -z "${BENCH_PERF_OUT:-}" ] || {
		cp "$TMP/perf-$side.txt" "$BENCH_PERF_OUT.$side.txt"
		perf report -i "$TMP/perf-$side.data" --children --stdio --sort symbol --percent-limit 1 \
			>"$BENCH_PERF_OUT.$side.graph.txt" 2>/dev/null || true
	}
	# share SYMBOL -> "P% (U us/update)": its samples (callees included) at 499 Hz
	# over the updates of the 6 s window
	share() { awk -v s="$1" -v n="$n" -v rps="$rps" '$4 == s && $1 ~ /%$/ {
		p = $1; sub("%", "", p); printf "%s%% (%.0f us/update)", p, p / 100 * n / 499 / (rps * 6) * 1e6; f = 1; exit }
		END { if (!f) printf "<0.2%%" }' "$TMP/perf-$side.txt"; }
	if [ "$side" = audit ]; then
		PERF_LINES+=("${NAME[$side]} kurad, $c connections, $rps updates/s while profiled: kura_audit_append $(share kura_audit_append) [row insert $(share kura_sqlite_audit_insert), chain head $(share kura_sqlite_audit_head), canonical JSON + SHA-256 $(share chain_hash)]; commit (kura_sqlite_commit) $(share kura_sqlite_commit) [WAL frames written $(share sqlite3WalFrames), checkpoints $(share sqlite3WalCheckpoint)]; whole update handler $(share kura_api_records_update); everything in the process 100% ($(awk -v n="$n" -v r="$rps" 'BEGIN {printf "%.0f", n / 499 / (r * 6) * 1e6}') us/update)")
	else
		PERF_LINES+=("${NAME[$side]} kurad, $c connections, $rps updates/s while profiled: kura_audit_append $(share kura_audit_append); commit (kura_sqlite_commit) $(share kura_sqlite_commit) [WAL frames written $(share sqlite3WalFrames), checkpoints $(share sqlite3WalCheckpoint)]; whole update handler $(share kura_api_records_update); everything in the process 100% ($(awk -v n="$n" -v r="$rps" 'BEGIN {printf "%.0f", n / 499 / (r * 6) * 1e6}') us/update)")
	fi
}
if [ "${BENCH_PERF:-1}" = 1 ] && command -v perf >/dev/null 2>&1; then
	say "profiling each kurad under the same load (perf, 6 s each; not among the measured runs)"
	perf_run audit
	perf_run noaudit
fi

# ---------------------------------------------------------------- report
FAILED=0
for k in "${!BAD[@]}"; do [ "${BAD[$k]}" = 0 ] || FAILED=1; done
for side in "${SIDES[@]}"; do
	kill -0 "${PID[$side]}" 2>/dev/null || { tail -n 20 "${LOG[$side]}" >&2; die "the ${NAME[$side]} kurad exited during the runs"; }
done
echo
echo "record updates: $(thousands "$RECORDS") contacts, PATCH jobtitle + score of a random contact, $(nproc) CPUs, wrk -d$UDURATION x $UROUNDS interleaved rounds (medians)"
for c in $UCONNS; do
	A=$(median "${RPS[audit-c$c]}") N=$(median "${RPS[noaudit-c$c]}")
	R=$(ratio "${RPS[noaudit-c$c]}" "${RPS[audit-c$c]}")
	met=$(python3 -c "print('met' if $R <= $TARGET else 'missed')")
	echo "  $c connections: normal $(thousands "$A") updates/s (p99 $(median "${P99[audit-c$c]}") ms), no-audit $(thousands "$N") updates/s (p99 $(median "${P99[noaudit-c$c]}") ms); overhead normal/no-audit: median of round ratios ${R}x, of medians $(python3 -c "print('%.2f' % ($N / $A))")x (target <= ${TARGET}x: $met)$( [ "${BAD[audit-c$c]}${BAD[noaudit-c$c]}" = 00 ] || echo " [non-2xx answers: figure unreliable]")"
done
for side in "${SIDES[@]}"; do
	e1=$(audit_updates "$side")
	echo "  ${NAME[$side]} kurad: ${DONE[$side]} updates counted by wrk; record.update audit entries written during the runs: $(python3 -c "import sys; a,b=sys.argv[1:]; print(int(b)-int(a) if a.isdigit() and b.isdigit() else '?')" "${ENTRIES0[$side]}" "$e1")"
done
for l in "${PERF_LINES[@]}"; do echo "  profile: $l"; done
exit $FAILED
