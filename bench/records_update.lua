-- wrk script for bench/audit.sh: PATCH one record by id (drawn at random,
-- per thread, seeded, from BENCH_IDS_FILE), setting two properties to new
-- random values, so every request changes the record (and, on a normal
-- build, appends a record.update audit entry in the same transaction).
--   BENCH_TOKEN       the API key, sent as "Authorization: Bearer ..."
--   BENCH_IDS_FILE    ids of existing records
--   BENCH_OBJECT      the object (default contacts)
--   BENCH_RUN         a number unique to this wrk run (default 0): it seeds the
--                     ids drawn and is part of every new value, so that a run
--                     never repeats an earlier run's updates as no-ops
local prefix = "/api/v1/objects/" .. (os.getenv("BENCH_OBJECT") or "contacts") .. "/"
local ids = {}
local threads = 0
local n = 0
local run = tonumber(os.getenv("BENCH_RUN") or "0")

wrk.method = "PATCH"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
	threads = threads + 1
	thread:set("seed", run * 1000 + threads)
	thread:set("tid", threads)
end

function init(args)
	for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
		if line ~= "" then ids[#ids + 1] = line end
	end
	assert(#ids > 0, "no ids in BENCH_IDS_FILE")
	math.randomseed(seed or 1)
end

function request()
	n = n + 1
	-- the counter makes each jobtitle new, so no request is a no-op
	local body = string.format('{"properties":{"jobtitle":"Bench title %d-%d-%d","score":%.1f}}',
		run, tid or 0, n, math.random(0, 1000) / 10)
	return wrk.format("PATCH", prefix .. ids[math.random(#ids)], nil, body)
end
