-- wrk script for bench/records.sh: POST search bodies, each request one body
-- drawn at random (per thread, seeded) from BENCH_BODIES_FILE (one JSON body
-- a line), to BENCH_PATH (default /api/v1/objects/contacts/search).
--   BENCH_TOKEN        the API key, sent as "Authorization: Bearer ..."
local path = os.getenv("BENCH_PATH") or "/api/v1/objects/contacts/search"
local bodies = {}
local threads = 0

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
	threads = threads + 1
	thread:set("seed", 2000 + threads)
end

function init(args)
	for line in io.lines(os.getenv("BENCH_BODIES_FILE")) do
		if line ~= "" then bodies[#bodies + 1] = line end
	end
	assert(#bodies > 0, "no bodies in BENCH_BODIES_FILE")
	math.randomseed(seed or 1)
end

function request()
	return wrk.format("POST", path, nil, bodies[math.random(#bodies)])
end
