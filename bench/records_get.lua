-- wrk script for bench/records.sh: GET one record by id, the id drawn at
-- random (per thread, seeded) from the file BENCH_IDS_FILE (one id a line).
--   BENCH_TOKEN       the API key, sent as "Authorization: Bearer ..."
--   BENCH_IDS_FILE    ids of existing records
--   BENCH_OBJECT      the object (default contacts)
local prefix = "/api/v1/objects/" .. (os.getenv("BENCH_OBJECT") or "contacts") .. "/"
local ids = {}
local threads = 0

wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

function setup(thread)
	threads = threads + 1
	thread:set("seed", 1000 + threads)
end

function init(args)
	for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
		if line ~= "" then ids[#ids + 1] = line end
	end
	assert(#ids > 0, "no ids in BENCH_IDS_FILE")
	math.randomseed(seed or 1)
end

function request()
	return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
