#!/usr/bin/env bash
# Records benchmark: a synthetic tenant of BENCH_RECORDS contacts (default
# 1,000,000, 20 properties each) loaded through the batch API, then reads
# and searches on it, each figure beside a baseline measured in the same run.
#
#   bench/records.sh                        build (release, build-bench/), run, print
#   BENCH_RECORDS=20000 bench/records.sh    a quick run on a small tenant
#   BENCH_DURATION=20s                      each wrk run (default 15s)
#   BENCH_THREADS=2 BENCH_CONNECTIONS=32    wrk -t / -c (the defaults)
#   BENCH_ROUNDS=3                          interleaved rounds of the wrk runs (default 1; medians)
#   BENCH_WARMUP=10s                        an unmeasured wrk run of each kind first (0: none)
#   BENCH_SEED=1                            the generator's seed
#   BENCH_CLIENT=c|python                   the batch loader (default c: bench/load_batches)
#   BENCH_LOAD_CONNECTIONS=2                connections of the batch loader
#   BENCH_BUILD_DIR=/path                   use another build directory
#   BENCH_NO_BUILD=1                        do not run meson/ninja (use what is built)
#   BENCH_KEEP=1                            keep the temporary directory (data, generated files)
#   BENCH_LOAD_ONLY=1                       stop after the batch create figures (no wrk runs)
#   BENCH_NO_SAME_SCHEMA=1                  skip the same-schema SQLite baseline (5 min at 1M)
#   BENCH_NO_MULTI=1                        skip the filter search with indexes over two properties
#   BENCH_MULTI_BEFORE_LOAD=1               make those indexes before the load (their write cost in it)
#
# Figures (one line each, with the baseline and the ratio):
#   batch create   records/s through POST .../batch/create (100 a request,
#                  property history included) vs the sqlite3 CLI's .import
#                  of the same rows as CSV into a plain table, and vs SQLite
#                  alone making the same writes (the tenant's table, indexes,
#                  full text and history rows copied in transactions of 100)
#   get by id      GET /api/v1/objects/contacts/{random id}: req/s, p99, ratio
#                  to bench/hello_mhd (target >= 0.30, p99 < 10 ms)
#   filter search  EQ on an indexed enumeration AND a date/datetime range,
#                  limit 20: p99 (target < 20 ms) vs GET /healthz p99; then
#                  again after adding an index over each filter's two
#                  properties (POST /api/v1/schemas/contacts/indexes)
#   text search    "query" with Japanese substrings and Latin prefixes,
#                  limit 20: p99 (target < 50 ms) vs GET /healthz p99
#   memory         kurad's VmRSS and VmHWM with the tenant open after the runs
# It never fails on a number. The exit status is non-zero when something did
# not run: build, start-up, sign-in, the load, wrk, or a benchmark whose
# requests were refused (then its figure is printed as "not measured" and
# the request, the reply and kurad's log are shown).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
RECORDS=${BENCH_RECORDS:-1000000}
SEED=${BENCH_SEED:-1}
ROUNDS=${BENCH_ROUNDS:-1}
CLIENT=${BENCH_CLIENT:-c}
LOAD_CONNS=${BENCH_LOAD_CONNECTIONS:-2}
export WRK_THREADS=${BENCH_THREADS:-2} WRK_CONNS=${BENCH_CONNECTIONS:-32} WRK_DURATION=${BENCH_DURATION:-15s}
# The search latency targets are read at one connection per wrk thread (no queue in front
# of the two CPUs); -c$WRK_CONNS shows the throughput and what a queue adds.
LAT_CONNS=${BENCH_LATENCY_CONNECTIONS:-$WRK_THREADS}
TARGET_GET=0.30 TARGET_GET_P99=10 TARGET_FILTER_P99=20 TARGET_TEXT_P99=50

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
if [ "${BENCH_KEEP:-}" = 1 ]; then
	trap 'stop_servers; echo "bench: kept $TMP" >&2' EXIT
fi
require_tools wrk curl python3 meson ninja sqlite3
build_release
KURAD=$BUILD/kurad
KURA=$BUILD/tools/kura/kura
HELLO=$BUILD/bench/hello_mhd
LOADER=$BUILD/bench/load_batches
require_built "$KURAD" "$KURA" "$HELLO" "$LOADER"
GEN=$TMP/gen
FAILED=0

say() { echo "bench: $*" >&2; }

# ---------------------------------------------------------------- data first (never timed)
say "generating $RECORDS contacts (seed $SEED)"
python3 "$ROOT/bench/gen.py" --records "$RECORDS" --seed "$SEED" --out "$GEN" --dry-run ||
	die "bench/gen.py could not generate or check the data"

# ---------------------------------------------------------------- server, session, API key
setup_data
start_kurad
start_hello
signin_fresh
TOKEN_FILE=$TMP/token
api_key "$TOKEN_FILE" records.read records.write properties.manage
BENCH_TOKEN=$(cat "$TOKEN_FILE")
export BENCH_TOKEN

# ---------------------------------------------------------------- batch create
# BENCH_MULTI_BEFORE_LOAD=1: the indexes over two properties of the filter
# search exist during the load (their cost on every write is in its figure)
MULTI_ARGS=()
[ "${BENCH_MULTI_BEFORE_LOAD:-}" = 1 ] && MULTI_ARGS=(--index lifecyclestage,signup_at --index prefecture,birthdate)
say "loading $RECORDS contacts through POST /api/v1/objects/contacts/batch/create ($CLIENT client, $LOAD_CONNS connections)"
if python3 "$ROOT/bench/gen.py" --records "$RECORDS" --seed "$SEED" --out "$GEN" --no-generate \
	--base "$KBASE" --token-file "$TOKEN_FILE" --client "$CLIENT" --loader "$LOADER" \
	--connections "$LOAD_CONNS" "${MULTI_ARGS[@]}" >"$TMP/load.json"; then
	LOAD_RATE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records_per_s"])' "$TMP/load.json")
	LOAD_SECS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$TMP/load.json")
	LOAD_CPU=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_cpu_s"])' "$TMP/load.json")
else
	say "the load failed; last lines of kurad's log:"
	tail -n 20 "$TMP/kurad.log" >&2
	die "cannot measure anything on a tenant that did not load"
fi
TENANT_BYTES=$(du -sb "$DATA/tenants" | awk '{print $1}')
# the rate as the tenant grows: records/s of the first and the last tenth of
# the batches, from kurad's request log (time between completions)
LOAD_TREND=$(grep 'path=/api/v1/objects/contacts/batch/create status=200' "$TMP/kurad.log" | python3 -c '
import datetime,re,sys
t=[datetime.datetime.fromisoformat(re.search(r"ts=(\S+?)Z", l).group(1)).timestamp() for l in sys.stdin]
n=len(t)//10
if n < 2: print("n/a"); sys.exit()
r=lambda a, b: (b - a) * 100 / (t[b] - t[a])
print("first tenth %.0f records/s, last tenth %.0f records/s" % (r(0, n), r(len(t) - 1 - n, len(t) - 1)))')

# the baseline: the same rows as CSV, sqlite3 .import into a plain table (one transaction)
t0=$(date +%s.%N)
sqlite3 "$TMP/plain.db" ".mode csv" ".import $GEN/rows.csv contacts" || die "sqlite3 .import failed"
t1=$(date +%s.%N)
PLAIN_ROWS=$(sqlite3 "$TMP/plain.db" "SELECT count(*) FROM contacts")
[ "$PLAIN_ROWS" = "$RECORDS" ] || die "sqlite3 imported $PLAIN_ROWS rows, not $RECORDS"
PLAIN_RATE=$(python3 -c 'import sys; print(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])))' "$RECORDS" "$t0" "$t1")
PLAIN_BYTES=$(stat -c %s "$TMP/plain.db")
rm -f "$TMP/plain.db"

# the second baseline: SQLite alone making the same writes -- the same
# table, indexes, full-text table and creation history rows, copied from
# the loaded tenant in transactions of 100 records, with kurad's pragmas --
# what the storage engine itself costs for this schema on this machine
SAME_SQL=$TMP/same-schema.sql
SAME_LINE="  the same writes by SQLite alone: not measured (BENCH_NO_SAME_SCHEMA=1)"
[ "${BENCH_NO_SAME_SCHEMA:-}" = 1 ] || {
python3 - "$DATA/tenants/bench/tenant.db" "$GEN/ids.txt" "$SAME_SQL" <<'PY' ||
import sqlite3, sys
src, ids_file, out = sys.argv[1:]
db = sqlite3.connect("file:%s?mode=ro" % src, uri=True)
o = db.execute("SELECT id FROM objects WHERE name = 'contacts'").fetchone()[0]
schema = [r[0] for r in db.execute(
    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%%' AND "
    "(tbl_name IN ('r_%d', 'record_history') OR name = 'f_%d') ORDER BY type = 'index', rowid" % (o, o))]
db.close()
ids = sorted(int(l) for l in open(ids_file) if l.strip())
with open(out, "w") as f:
    f.write("PRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\nPRAGMA secure_delete = ON;\n"
            "PRAGMA cache_size = -32768;\nPRAGMA mmap_size = 1073741824;\n")
    for q in schema:
        f.write(q + ";\n")
    f.write("ATTACH 'file:%s?mode=ro' AS src;\n" % src)
    for i in range(0, len(ids), 100):
        a, b = ids[i], ids[min(i + 99, len(ids) - 1)]
        f.write("BEGIN;\nINSERT INTO r_%d SELECT * FROM src.r_%d WHERE id BETWEEN %d AND %d;\n" % (o, o, a, b))
        f.write("INSERT INTO f_%d (rowid, body) SELECT id, c0 FROM src.f_%d_content WHERE id BETWEEN %d AND %d;\n" % (o, o, a, b))
        f.write("INSERT INTO record_history (object_id, record_id, at, actor_type, actor_id, source, initial, changes) "
                "SELECT object_id, record_id, at, actor_type, actor_id, source, initial, changes FROM src.record_history "
                "WHERE object_id = %d AND initial = 1 AND record_id BETWEEN %d AND %d;\nCOMMIT;\n" % (o, a, b))
PY
	die "cannot write the same-schema baseline's script"
t0=$(date +%s.%N)
sqlite3 "$TMP/same.db" <"$SAME_SQL" >/dev/null || die "the same-schema baseline failed"
t1=$(date +%s.%N)
SAME_ROWS=$(sqlite3 "$TMP/same.db" "SELECT count(*) FROM r_$(sqlite3 "file:$DATA/tenants/bench/tenant.db?mode=ro" "SELECT id FROM objects WHERE name = 'contacts'")")
[ "$SAME_ROWS" = "$RECORDS" ] || die "the same-schema baseline copied $SAME_ROWS rows, not $RECORDS"
SAME_RATE=$(python3 -c 'import sys; print(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])))' "$RECORDS" "$t0" "$t1")
rm -f "$TMP/same.db" "$TMP/same.db-wal" "$TMP/same.db-shm" "$SAME_SQL"
SAME_LINE="  the same writes by SQLite alone (same table and indexes, full text and history rows, 100 records a transaction, copied with INSERT ... SELECT): $(thousands "$SAME_RATE") records/s, ratio $(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$LOAD_RATE" "$SAME_RATE")"
}
if [ "${BENCH_LOAD_ONLY:-}" = 1 ]; then
	echo
	echo "records benchmark (load only): $(thousands "$RECORDS") contacts x 20 properties, seed $SEED, $(nproc) CPUs"
	echo "batch create: $(thousands "$LOAD_RATE") records/s ($(printf '%.1f' "$LOAD_SECS") s, 100 a request, $LOAD_CONNS connections; raw sqlite3 .import of the same rows: $(thousands "$PLAIN_RATE") rows/s, ratio $(python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$LOAD_RATE" "$PLAIN_RATE"))"
	echo "$SAME_LINE"
	echo "  batch create as the tenant grows: $LOAD_TREND"
	exit 0
fi

# ---------------------------------------------------------------- sanity: one of each request
python3 -c '
import random,sys
ids=[l.strip() for l in open(sys.argv[1]) if l.strip()]
random.seed(int(sys.argv[3]))
s=random.sample(ids, min(len(ids), 100000))
open(sys.argv[2],"w").write("\n".join(s)+"\n")' "$GEN/ids.txt" "$TMP/ids_sample.txt" "$SEED"
export BENCH_IDS_FILE=$TMP/ids_sample.txt

check_request() { # name, method, path, body-or-empty -> 0 when 200
	local name=$1 method=$2 path=$3 body=${4:-} code
	if [ -n "$body" ]; then
		code=$(curl -s --cacert "$CERT" -o "$TMP/check-$name.json" -w '%{http_code}' -X "$method" \
			-H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/json' \
			--data-binary "$body" "$KBASE$path")
	else
		code=$(curl -s --cacert "$CERT" -o "$TMP/check-$name.json" -w '%{http_code}' -X "$method" \
			-H "Authorization: Bearer $BENCH_TOKEN" "$KBASE$path")
	fi
	[ "$code" = 200 ] && return 0
	say "$name: $method $path ${body:+$body }answered $code: $(head -c 600 "$TMP/check-$name.json")"
	say "kurad's last log lines:"
	tail -n 5 "$TMP/kurad.log" >&2
	FAILED=1
	return 1
}
first_id=$(head -1 "$BENCH_IDS_FILE")
ok_get=0 ok_filter=0 ok_text=0
check_request get GET "/api/v1/objects/contacts/$first_id" && ok_get=1
check_request filter POST /api/v1/objects/contacts/search "$(head -1 "$GEN/search_filter.ndjson")" && ok_filter=1
check_request text POST /api/v1/objects/contacts/search "$(head -1 "$GEN/search_query.ndjson")" && ok_text=1
for k in filter text; do
	[ -f "$TMP/check-$k.json" ] && python3 -c '
import json,sys
try:
    r=json.load(open(sys.argv[1])); print("bench: %s search sample: total=%s exact=%s results=%d" % (sys.argv[2], r.get("total"), r.get("totalIsExact"), len(r.get("results", []))), file=sys.stderr)
except Exception: pass' "$TMP/check-$k.json" "$k"
done

# ---------------------------------------------------------------- wrk runs, interleaved rounds
declare -A RPS P99 BAD SRV
# kurad's own time for the requests of one run, from its request log lines
# (dur_us): the p50 and p99 of what the server spent, without wrk's queueing.
server_times() { # first line, last line -> "p50 X ms, p99 Y ms"
	sed -n "$1,$2p" "$TMP/kurad.log" | python3 -c '
import re,sys
v=sorted(int(m.group(1)) for m in (re.search(r" event=request .* dur_us=([0-9]+)", l) for l in sys.stdin) if m)
print("p50 %.2f ms, p99 %.2f ms" % (v[len(v)//2]/1000, v[int(len(v)*0.99)]/1000) if v else "no log lines")'
}
measure() { # name, url, wrk args...
	local name=$1 l0
	l0=$(($(wc -l <"$TMP/kurad.log") + 1))
	wrk_measure "$@"
	SRV[$name]=$(server_times "$l0" "$(wc -l <"$TMP/kurad.log")")
	RPS[$name]="${RPS[$name]:-} $WRK_RPS"
	P99[$name]="${P99[$name]:-} $WRK_P99"
	BAD[$name]=$((${BAD[$name]:-0} + WRK_BAD))
	[ "$WRK_BAD" = 0 ] || say "warning: $name: $WRK_BAD non-2xx answers or socket errors (see below)"
}
# A fresh process (and one that has just loaded a tenant) first maps the
# database's pages and opens its connections: the rounds measure the steady
# state after one unmeasured run of each kind.
WARMUP=${BENCH_WARMUP:-10s}
if [ "$WARMUP" != 0 ]; then
	say "warm-up: one unmeasured wrk run of $WARMUP of each kind"
	WRK_DURATION=$WARMUP wrk_measure warm_hello "$HBASE/"
	[ $ok_get = 0 ] || WRK_DURATION=$WARMUP wrk_measure warm_get "$KBASE" -s "$ROOT/bench/records_get.lua"
	[ $ok_filter = 0 ] || WRK_DURATION=$WARMUP BENCH_BODIES_FILE=$GEN/search_filter.ndjson \
		wrk_measure warm_filter "$KBASE" -s "$ROOT/bench/records_search.lua"
	[ $ok_text = 0 ] || WRK_DURATION=$WARMUP BENCH_BODIES_FILE=$GEN/search_query.ndjson \
		wrk_measure warm_text "$KBASE" -s "$ROOT/bench/records_search.lua"
fi
say "$ROUNDS round(s) of wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION over keep-alive TLS, $(nproc) CPUs"
for ((round = 1; round <= ROUNDS; round++)); do
	measure hello "$HBASE/"
	if [ $ok_get = 1 ]; then
		measure get "$KBASE" -s "$ROOT/bench/records_get.lua"
		measure me "$KBASE/api/v1/me" -H "Authorization: Bearer $BENCH_TOKEN"
	fi
	if [ $ok_filter = 1 ]; then
		BENCH_BODIES_FILE=$GEN/search_filter.ndjson measure filter "$KBASE" -s "$ROOT/bench/records_search.lua"
		measure healthz_f "$KBASE/healthz"
		# latency without queueing: one connection per CPU
		WRK_CONNS=$LAT_CONNS BENCH_BODIES_FILE=$GEN/search_filter.ndjson measure filter_lat "$KBASE" -s "$ROOT/bench/records_search.lua"
	fi
	if [ $ok_text = 1 ]; then
		BENCH_BODIES_FILE=$GEN/search_query.ndjson measure text "$KBASE" -s "$ROOT/bench/records_search.lua"
		measure healthz_t "$KBASE/healthz"
		WRK_CONNS=$LAT_CONNS BENCH_BODIES_FILE=$GEN/search_query.ndjson measure text_lat "$KBASE" -s "$ROOT/bench/records_search.lua"
	fi
done
# ---------------------------------------------------------------- filter search again, with indexes over two properties
# Each filter body is an EQ and a range on another property; with an index
# over both (EQ column first) the search reads one range of it. The runs
# above used the single-property indexes only.
MULTI_DONE=0
if [ $ok_filter = 1 ] && [ "${BENCH_NO_MULTI:-}" != 1 ]; then
	multi_ok=1 MULTI_SECS=""
	MULTI_COLS=('"lifecyclestage", "signup_at"' '"prefecture", "birthdate"')
	if [ "${BENCH_MULTI_BEFORE_LOAD:-}" = 1 ]; then
		MULTI_COLS=() MULTI_SECS=" (made before the load)"
	fi
	for cols in "${MULTI_COLS[@]}"; do
		t0=$(date +%s.%N)
		code=$(curl -s --cacert "$CERT" -o "$TMP/multi.json" -w '%{http_code}' -X POST \
			-H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/json' \
			--data-binary "{\"properties\": [$cols]}" "$KBASE/api/v1/schemas/contacts/indexes")
		t1=$(date +%s.%N)
		if [ "$code" != 201 ]; then
			say "index over ($cols) answered $code: $(head -c 300 "$TMP/multi.json")"
			multi_ok=0 FAILED=1
			break
		fi
		MULTI_SECS="$MULTI_SECS $(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1") s"
	done
	if [ $multi_ok = 1 ]; then
		say "indexes over (lifecyclestage, signup_at) and (prefecture, birthdate):$MULTI_SECS"
		[ "$WARMUP" = 0 ] || WRK_DURATION=$WARMUP BENCH_BODIES_FILE=$GEN/search_filter.ndjson \
			wrk_measure warm_multi "$KBASE" -s "$ROOT/bench/records_search.lua"
		for ((round = 1; round <= ROUNDS; round++)); do
			WRK_CONNS=$LAT_CONNS BENCH_BODIES_FILE=$GEN/search_filter.ndjson measure multi_lat "$KBASE" -s "$ROOT/bench/records_search.lua"
			BENCH_BODIES_FILE=$GEN/search_filter.ndjson measure multi "$KBASE" -s "$ROOT/bench/records_search.lua"
		done
		MULTI_DONE=1
	fi
fi

for k in "${!BAD[@]}"; do
	if [ "${BAD[$k]}" != 0 ]; then
		FAILED=1
		sed -n '/Non-2xx\|Socket errors/p' "$TMP/wrk-$k.txt" | sed "s/^/bench: $k: /" >&2
	fi
done

# ---------------------------------------------------------------- memory after the runs
kill -0 "$KPID" 2>/dev/null || { tail -n 20 "$TMP/kurad.log" >&2; die "kurad exited during the runs"; }
RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$KPID/status")
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/$KPID/status")
ANON=$(awk '/^RssAnon:/ {print $2}' "/proc/$KPID/status")
FILE=$(awk '/^RssFile:/ {print $2}' "/proc/$KPID/status")

# ---------------------------------------------------------------- report
mib() { python3 -c 'import sys; print("%.0f MiB" % (int(sys.argv[1]) / 1024))' "$1"; }
r2() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"; }
med() { median "$1"; }
flag() { # value, target, lower|higher -> "" or " (target ...: missed)"
	python3 -c '
import sys
v,t,d=float(sys.argv[1]),float(sys.argv[2]),sys.argv[3]
ok = v < t if d == "lower" else v >= t
print("met" if ok else "missed")' "$1" "$2" "$3"
}
note() { [ "${BAD[$1]:-0}" = 0 ] || printf ' [%s non-2xx answers or socket errors: figure unreliable]' "${BAD[$1]}"; }

echo
echo "records benchmark: $(thousands "$RECORDS") contacts x 20 properties, seed $SEED, $(nproc) CPUs, wrk -t$WRK_THREADS -c$WRK_CONNS -d$WRK_DURATION x $ROUNDS round(s) (medians)"
echo "batch create: $(thousands "$LOAD_RATE") records/s ($(printf '%.1f' "$LOAD_SECS") s, 100 a request, $LOAD_CONNS connections, $CLIENT client using $(printf '%.1f' "$LOAD_CPU") s of CPU; raw sqlite3 .import of the same rows: $(thousands "$PLAIN_RATE") rows/s, ratio $(r2 "$LOAD_RATE" "$PLAIN_RATE"))"
echo "$SAME_LINE"
echo "  batch create as the tenant grows: $LOAD_TREND"
echo "disk: tenant $(mib $((TENANT_BYTES / 1024))) (plain sqlite3 table of the same rows: $(mib $((PLAIN_BYTES / 1024))))"
H=$(med "${RPS[hello]}")
if [ $ok_get = 1 ]; then
	G=$(med "${RPS[get]}") GP=$(med "${P99[get]}")
	echo "get by id: $(thousands "$G") req/s, p99 $GP ms (hello_mhd: $(thousands "$H") req/s, p99 $(med "${P99[hello]}") ms; ratio $(r2 "$G" "$H"), target >= $TARGET_GET: $(flag "$(r2 "$G" "$H")" $TARGET_GET higher); p99 target < $TARGET_GET_P99 ms: $(flag "$GP" $TARGET_GET_P99 lower))$(note get)"
	echo "  get by id in kurad: ${SRV[get]}; GET /api/v1/me with the same key: $(thousands "$(med "${RPS[me]}")") req/s, p99 $(med "${P99[me]}") ms (ratio get/me $(r2 "$G" "$(med "${RPS[me]}")"))$(note me)"
else
	echo "get by id: not measured (the request was refused, see above)"
fi
if [ $ok_filter = 1 ]; then
	FP=$(med "${P99[filter_lat]}")
	echo "filter search, $LAT_CONNS connections: p99 $FP ms, $(thousands "$(med "${RPS[filter_lat]}")") req/s (target < $TARGET_FILTER_P99 ms: $(flag "$FP" $TARGET_FILTER_P99 lower))$(note filter_lat)"
	echo "  in kurad: ${SRV[filter_lat]}"
	echo "filter search, $WRK_CONNS connections: p99 $(med "${P99[filter]}") ms, $(thousands "$(med "${RPS[filter]}")") req/s (GET /healthz, same wrk settings: p99 $(med "${P99[healthz_f]}") ms, $(thousands "$(med "${RPS[healthz_f]}")") req/s)$(note filter)"
	echo "  in kurad: ${SRV[filter]}"
	if [ "$MULTI_DONE" = 1 ]; then
		MP=$(med "${P99[multi_lat]}")
		echo "filter search with an index over each filter's two properties (built:$MULTI_SECS), $LAT_CONNS connections: p99 $MP ms, $(thousands "$(med "${RPS[multi_lat]}")") req/s (target < $TARGET_FILTER_P99 ms: $(flag "$MP" $TARGET_FILTER_P99 lower))$(note multi_lat)"
		echo "  in kurad: ${SRV[multi_lat]}"
		echo "filter search with those indexes, $WRK_CONNS connections: p99 $(med "${P99[multi]}") ms, $(thousands "$(med "${RPS[multi]}")") req/s$(note multi)"
		echo "  in kurad: ${SRV[multi]}"
	fi
else
	echo "filter search: not measured (the request was refused, see above)"
fi
if [ $ok_text = 1 ]; then
	TP=$(med "${P99[text_lat]}")
	echo "text search, $LAT_CONNS connections: p99 $TP ms, $(thousands "$(med "${RPS[text_lat]}")") req/s (target < $TARGET_TEXT_P99 ms: $(flag "$TP" $TARGET_TEXT_P99 lower))$(note text_lat)"
	echo "  in kurad: ${SRV[text_lat]}"
	echo "text search, $WRK_CONNS connections: p99 $(med "${P99[text]}") ms, $(thousands "$(med "${RPS[text]}")") req/s (GET /healthz, same wrk settings: p99 $(med "${P99[healthz_t]}") ms, $(thousands "$(med "${RPS[healthz_t]}")") req/s)$(note text)"
	echo "  in kurad: ${SRV[text]}"
else
	echo "text search: not measured (the request was refused, see above)"
fi
echo "kurad memory after the runs: VmRSS $(mib "$RSS") (RssAnon $(mib "$ANON"), RssFile $(mib "$FILE"): mapped files), VmHWM $(mib "$HWM")"
exit $FAILED
