-- bench/serve_batch.lua - wrk script for bench/serve_batch.sh: POSTs the one-row Seldon request
-- in $EF_BENCH_BODY to /api/v1.0/predictions on every request and prints the same line as
-- serve_post.lua:
--   EFBENCH <requests/s> <p50 µs> <p99 µs> <non-2xx/3xx answers> <socket errors> <requests>
wrk.method = "POST"
wrk.path = "/api/v1.0/predictions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("EF_BENCH_BODY")

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("EFBENCH %.1f %d %d %d %d %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50),
        latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout,
        summary.requests))
end
