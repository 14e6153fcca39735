-- bench/serve_post.lua - wrk script for bench/serve.sh: POSTs the reference Seldon payload (the
-- one-row wine request of issue 5) to /api/v1.0/predictions on every request, and prints one
-- machine-readable line at the end:
--   EFBENCH <requests/s> <p50 µs> <p99 µs> <non-2xx/3xx answers> <socket errors> <requests>
-- Usage: wrk -t T -c C -d D -s bench/serve_post.lua http://127.0.0.1:PORT
wrk.method = "POST"
wrk.path = "/api/v1.0/predictions"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"data":{"ndarray":[[6.4,0.57,0.02,1.8,0.067,4.0,11.0,0.997,3.46,0.68,9.5]]}}'

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("EFBENCH %.1f %d %d %d %d %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50),
        latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout,
        summary.requests))
end
