-- bench/serve_post.lua - wrk script for bench/serve.sh and bench/serve_batch.sh: POSTs a Seldon
-- request to /api/v1.0/predictions on every request -- $EF_BENCH_BODY when set, else the
-- reference payload (the one-row wine request of issue 5) -- and prints one machine-readable
-- line at the end:
--   EFBENCH <requests/s> <p50 µs> <p99 µs> <non-2xx/3xx answers> <socket errors> <requests>
-- Usage: [EF_BENCH_BODY=JSON] wrk -t T -c C -d D -s bench/serve_post.lua http://127.0.0.1:PORT
local reference = '{"data":{"ndarray":[[6.4,0.57,0.02,1.8,0.067,4.0,11.0,0.997,3.46,0.68,9.5]]}}'
wrk.method = "POST"
wrk.path = "/api/v1.0/predictions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("EF_BENCH_BODY") or reference

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("EFBENCH %.1f %d %d %d %d %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50),
        latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout,
        summary.requests))
end
