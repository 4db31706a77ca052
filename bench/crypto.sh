#!/usr/bin/env bash
# Field-level encryption: what sensitive properties cost, on one server.
# Two object types with the same properties (name, email, ssn, passport,
# salary); in one of them ssn, passport and salary are sensitive (stored
# encrypted; ssn and passport with a blind index, salary without one). The
# plain copy indexes what the sensitive one blind-indexes (ssn and passport,
# and salary only with BENCH_SALARY_INDEXED=1), so that both can find the
# same things and the ratios are what encryption costs, not an extra index.
# Both get the same BENCH_RECORDS records.
#
#   bench/crypto.sh                        build (release, build-bench/), run, print
#   BENCH_RECORDS=1000000 bench/crypto.sh  the blind-index search at 1M (default 100,000)
#   BENCH_DURATION=15s                     each wrk run (default 10s)
#   BENCH_SALARY_STEP=1                    every salary distinct (default: whole 10,000s)
#   BENCH_SALARY_INDEXED=1                 salary indexed in both types: in the sensitive
#                                          one a slow (Argon2id) blind index
#   BENCH_NO_BUILD=1 BENCH_BUILD_DIR=...   use what is built
#
# Figures:
#   batch create   records/s, sensitive vs plain (target: at most 1.3x slower),
#                  over BENCH_LOAD_SLICES (default 10) slices loaded in turn,
#                  alternating which type goes first
#   get by id      req/s, sensitive vs plain (same target): the median of
#                  BENCH_GET_ROUNDS (default 5) interleaved pairs of runs,
#                  alternating which goes first
#   blind search   EQ on the sensitive ssn, limit 20: p99 at one connection per
#                  wrk thread (target < 20 ms) vs the same EQ on the plain,
#                  indexed copy
#   rotation       kura keys rotate, then kurad's housekeeping re-encrypts
#                  every value: values/s, and GET by id on the same tenant
#                  meanwhile (req/s and non-2xx)
# It never fails on a number; non-zero exit only when something did not run.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
RECORDS=${BENCH_RECORDS:-100000}
# salaries in whole 10,000 yen, as payrolls state them (1,201 values); 1 makes
# every salary distinct, so that with BENCH_SALARY_INDEXED=1 each pays its own
# Argon2id (no memo hit)
SALARY_STEP=${BENCH_SALARY_STEP:-10000}
SALARY_INDEXED=false
[ "${BENCH_SALARY_INDEXED:-0}" = 1 ] && SALARY_INDEXED=true
export WRK_THREADS=2 WRK_CONNS=${BENCH_CONNECTIONS:-32} WRK_DURATION=${BENCH_DURATION:-10s}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
say() { echo "bench: $*" >&2; }
require_tools wrk curl python3 meson ninja
build_release
KURAD=$BUILD/kurad
KURA=$BUILD/tools/kura/kura
LOADER=$BUILD/bench/load_batches
require_built "$KURAD" "$KURA" "$LOADER"

setup_data
# housekeeping every 2 s, so that the rotation's re-encryption starts at once
export KURA_HOUSEKEEPING_SECONDS=2
start_kurad
signin_fresh
TOKEN_FILE=$TMP/token
api_key "$TOKEN_FILE" records.read records.write properties.manage
export BENCH_TOKEN
BENCH_TOKEN=$(cat "$TOKEN_FILE")

post() { # path, json -> body on stdout; dies unless 2xx
	local code
	code=$(curl -s --cacert "$CERT" -o "$TMP/post.json" -w '%{http_code}' -H 'Content-Type: application/json' \
		-H "Authorization: Bearer $BENCH_TOKEN" --data-binary "$2" "$KBASE$1")
	case $code in 2??) cat "$TMP/post.json" ;; *) cat "$TMP/post.json" >&2; die "POST $1 answered $code" ;; esac
}

for obj in plainp secretp; do
	sens=false
	[ $obj = secretp ] && sens=true
	post /api/v1/schemas "{\"name\":\"$obj\",\"labels\":{\"en\":\"$obj\"}}" >/dev/null
	post "/api/v1/properties/$obj" '{"name":"email","labels":{"en":"E-mail"},"type":"email","indexed":false}' >/dev/null
	# the plain copy's ssn and passport are indexed: each blind index is compared with an ordinary one
	post "/api/v1/properties/$obj" "{\"name\":\"ssn\",\"labels\":{\"en\":\"SSN\"},\"type\":\"string\",\"sensitive\":$sens,\"indexed\":true}" >/dev/null
	post "/api/v1/properties/$obj" "{\"name\":\"passport\",\"labels\":{\"en\":\"Passport\"},\"type\":\"string\",\"sensitive\":$sens,\"indexed\":true}" >/dev/null
	post "/api/v1/properties/$obj" "{\"name\":\"salary\",\"labels\":{\"en\":\"Salary\"},\"type\":\"number\",\"sensitive\":$sens,\"indexed\":$SALARY_INDEXED}" >/dev/null
done

# the same records for both, 100 to a batch body
python3 - "$RECORDS" "$TMP" "$SALARY_STEP" <<'EOF'
import json, random, sys
n, tmp, step = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
random.seed(7)
with open(f"{tmp}/bodies.ndjson", "w") as f, open(f"{tmp}/ssns.txt", "w") as s:
    for b in range(0, n, 100):
        inputs = []
        for i in range(b, min(n, b + 100)):
            ssn = f"{random.randint(100, 999)}-{random.randint(10, 99)}-{i:07d}"
            inputs.append({"properties": {
                "name": f"Person {i}", "email": f"p{i}@example.com", "ssn": ssn,
                "passport": f"TK{random.randint(1000000, 9999999)}",
                "salary": random.randint(3000000 // step, 15000000 // step) * step}})
            if i % max(1, n // 2000) == 0:
                s.write(ssn + "\n")
        f.write(json.dumps({"inputs": inputs}) + "\n")
with open(f"{tmp}/ssns.txt") as s, open(f"{tmp}/search.ndjson", "w") as q:
    for ssn in s.read().split():
        q.write(json.dumps({"filterGroups": [{"filters": [
            {"propertyName": "ssn", "operator": "EQ", "value": ssn}]}], "limit": 20}) + "\n")
EOF

# batch create: the bodies in LOAD_SLICES slices, each type loading its copy
# of a slice in turn, which one first alternating: both types grow together
# and the machine's drift over the minutes of a load falls on both (one load
# after the other at 1M gave 1.01x, 1.37x and 0.86x for the same build,
# the last with the sensitive copy loaded first). Rate = records / seconds
# over all slices.
LOAD_SLICES=${BENCH_LOAD_SLICES:-10}
BODIES=$(wc -l <"$TMP/bodies.ndjson")
split -l $(((BODIES + LOAD_SLICES - 1) / LOAD_SLICES)) -d -a 3 "$TMP/bodies.ndjson" "$TMP/slice-"
LOAD_SLICES=$(find "$TMP" -maxdepth 1 -name 'slice-*' | wc -l)
declare -A RATE SECS
SLICE_RATIOS=""
SECS[plainp]=0
SECS[secretp]=0
k=0
for slice in "$TMP"/slice-*; do
	order="plainp secretp"
	[ $((k % 2)) = 1 ] && order="secretp plainp"
	declare -A S
	for obj in $order; do
		say "loading slice $((k + 1))/$LOAD_SLICES into $obj"
		out=$("$LOADER" "$KBASE/api/v1/objects/$obj/batch/create" "$TOKEN_FILE" "$slice" \
			"$TMP/ids-$obj-$k.txt" 2) || die "the load into $obj failed"
		S[$obj]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$out")
		SECS[$obj]=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[2]))' "${SECS[$obj]}" "${S[$obj]}")
		cat "$TMP/ids-$obj-$k.txt" >>"$TMP/ids-$obj.txt"
	done
	SLICE_RATIOS="$SLICE_RATIOS $(python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) / float(sys.argv[1])))' "${S[plainp]}" "${S[secretp]}")"
	k=$((k + 1))
done
for obj in plainp secretp; do
	n=$(wc -l <"$TMP/ids-$obj.txt")
	[ "$n" = "$RECORDS" ] || die "$obj has $n ids, not $RECORDS"
	RATE[$obj]=$(python3 -c 'import sys; print(int(sys.argv[1]) / float(sys.argv[2]))' "$n" "${SECS[$obj]}")
done

export BENCH_IDS_FILE
declare -A GET P99 GETS
# GET by id: GET_ROUNDS interleaved pairs: the ratio is the median of the
# pairs' ratios, each pair measured minutes apart at most, so that the
# machine's drift (other guests on its host) falls on both sides. Which of
# the two goes first alternates, so that what a run leaves behind (the audit
# spool's last move, the WAL to checkpoint) does not always fall on the same
# side.
GET_ROUNDS=${BENCH_GET_ROUNDS:-5}
RATIOS=""
for round in $(seq "$GET_ROUNDS"); do
	order="plainp secretp"
	[ $((round % 2)) = 0 ] && order="secretp plainp"
	for obj in $order; do
		BENCH_IDS_FILE=$TMP/ids-$obj.txt BENCH_OBJECT=$obj wrk_measure "get-$obj-$round" "$KBASE" -s "$ROOT/bench/records_get.lua"
		GET[$obj]=$WRK_RPS
		GETS[$obj]="${GETS[$obj]:-} $WRK_RPS"
		[ "$WRK_BAD" = 0 ] || die "GET on $obj had $WRK_BAD non-2xx answers"
	done
	RATIOS="$RATIOS $(python3 -c 'import sys; print("%.4f" % (float(sys.argv[1]) / float(sys.argv[2])))' "${GET[plainp]}" "${GET[secretp]}")"
done
median() { python3 -c 'import statistics, sys; print(statistics.median(float(v) for v in sys.argv[1:]))' "$@"; }
GET[plainp]=$(median ${GETS[plainp]})
GET[secretp]=$(median ${GETS[secretp]})
for obj in plainp secretp; do
	WRK_CONNS=$WRK_THREADS BENCH_BODIES_FILE=$TMP/search.ndjson BENCH_PATH=/api/v1/objects/$obj/search \
		wrk_measure "search-$obj" "$KBASE" -s "$ROOT/bench/records_search.lua"
	P99[$obj]=$WRK_P99
	[ "$WRK_BAD" = 0 ] || die "search on $obj had $WRK_BAD non-2xx answers"
done

# rotation while the API serves: GET by id on the rotating type during the re-encryption
stale() { run_clean "$KURA" --data "$DATA" keys status --tenant bench | awk -F': ' '/older versions/ {print $2}'; }
run_clean "$KURA" --data "$DATA" keys rotate --tenant bench >/dev/null || die "kura keys rotate failed"
t0=$(date +%s.%N)
BENCH_IDS_FILE=$TMP/ids-secretp.txt BENCH_OBJECT=secretp WRK_DURATION=600s \
	wrk -t2 -c8 -d600s --timeout 10s -s "$ROOT/bench/records_get.lua" "$KBASE" >"$TMP/wrk-rotation.txt" 2>&1 &
WPID=$!
PIDS+=("$WPID")
VALUES=$((RECORDS * 3))
while :; do
	left=$(stale)
	[ "$left" = 0 ] && break
	python3 -c 'import sys,time; sys.exit(0 if time.time() - float(sys.argv[1]) < 3600 else 1)' "$t0" ||
		die "re-encryption did not finish within an hour ($left values left)"
	sleep 0.5
done
t1=$(date +%s.%N)
kill -INT "$WPID" 2>/dev/null || true
wait "$WPID" 2>/dev/null || true
ROT_RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$TMP/wrk-rotation.txt")
ROT_BAD=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} END {print n + 0}' "$TMP/wrk-rotation.txt")
ROT_RATE=$(python3 -c 'import sys; print(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])))' "$VALUES" "$t0" "$t1")

x() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
flag() { python3 -c 'import sys; print("met" if float(sys.argv[1]) <= float(sys.argv[2]) else "missed")' "$1" "$2"; }
BC=$(x "${RATE[plainp]}" "${RATE[secretp]}")
GC=$(python3 -c 'import sys; print("%.2f" % float(sys.argv[1]))' "$(median $RATIOS)")
GC_EACH=$(python3 -c 'import sys; print(", ".join("%.2f" % float(v) for v in sys.argv[1:]))' $RATIOS)
echo
if [ "$SALARY_INDEXED" = true ]; then
	INDEXES="ssn, passport (HMAC) and salary (Argon2id) blind-indexed (indexed in the plain copy)"
else
	INDEXES="ssn, passport blind-indexed (HMAC; indexed in the plain copy), salary unindexed in both"
fi
echo "crypto benchmark: $(thousands "$RECORDS") records x 3 sensitive properties (ssn, passport, salary in steps of $SALARY_STEP yen; $INDEXES), $(nproc) CPUs"
echo "batch create: sensitive $(thousands "${RATE[secretp]}") records/s, plain $(thousands "${RATE[plainp]}") records/s (in $LOAD_SLICES interleaved slices): ${BC}x slower, the slices'${SLICE_RATIOS} (target <= 1.3: $(flag "$BC" 1.3))"
echo "get by id: sensitive $(thousands "${GET[secretp]}") req/s, plain $(thousands "${GET[plainp]}") req/s (medians of $GET_ROUNDS interleaved runs): ${GC}x slower, the median of the runs' ${GC_EACH} (target <= 1.3: $(flag "$GC" 1.3))"
echo "EQ search, $WRK_THREADS connections: sensitive (blind index) p99 ${P99[secretp]} ms, plain (B-tree index) p99 ${P99[plainp]} ms (target < 20 ms: $(python3 -c 'import sys; print("met" if float(sys.argv[1]) < 20 else "missed")' "${P99[secretp]}"))"
echo "rotation: $(thousands "$VALUES") values re-encrypted at $(thousands "$ROT_RATE") values/s while GET by id on the same type ran at $(thousands "${ROT_RPS:-0}") req/s (${ROT_BAD} non-2xx)"
