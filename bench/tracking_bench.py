#!/usr/bin/python3
"""tracking_bench.py - the MLflow-compatible tracking server's benchmark (bench/tracking.sh).

Measures `edgeflow server` on the workloads of issue 3 and prints them next to the figures the
real MLflow 2.12.2 server gave on this kind of machine. Those reference figures are RECORDED, not
measured in this run: MLflow is a PyPI package and this machine (like CI) has no PyPI access, only
Debian packages and npm, and Debian 12 does not package MLflow; they were taken with the same
workloads when the issue was written (shared/specs/mlflow-api.md, REPORT.md). Ratios against
recorded figures are only indicative: the machine's load differs from run to run.

Workloads (one server, fresh $EDGEFLOW_HOME in a temp dir, 127.0.0.1, free port):
  log-metric   sequential, one client, one keep-alive connection: POST runs/log-metric with a new
               step each call, for S seconds. Client: wrk -t1 -c1 with a Lua script (a C client, so
               the figure is the server's, not Python's); a raw-socket Python loop if wrk is
               missing. Also the server's CPU per call (utime+stime from /proc). Then checked: the
               metric's history holds every acknowledged point.
  log-batch    sequential: POST runs/log-batch with 1000 metrics (10 keys x 100 steps), B calls;
               bodies built before the clock starts. Checked: every point is in the history.
  get-history  GET metrics/get-history?run_uuid=&metric_key=&run_id=&max_results=25000 (the
               Python client's request) of a 10,000-point metric; median of R calls, the response
               fully read; the first one is checked to hold 10,000 points.
  search       POST runs/search over 1000 runs (param alpha in 5 values, metric rmse uniform in
               [0.5, 1)) with "metrics.rmse < 0.8 and params.alpha = '0.5'", run_view_type
               ACTIVE_ONLY, max_results 10000 (the Python client's request); median of R calls;
               the result set is checked against the runs the bench created.
  memory       the server's peak RSS (VmHWM) at the end, and its private part (RssAnon).
Optionally (--durable-seconds > 0) the log-metric loop again on a server started with --durable
(SQLite synchronous=FULL: an fsync per commit, as MLflow's default SQLite store does).

Usage: tracking_bench.py --bin EDGEFLOW [--backend-store-uri URI] [--seconds S] [--batches B]
       [--repeat R] [--runs N] [--durable-seconds S] [--summary FILE] [--keep]
Prints the table; appends "metric|edgeflow|reference|ratio|note" lines to --summary (run.sh).
Exit status: 0, or 1 if the server could not be run or lost/garbled data (never for a figure).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# MLflow 2.12.2 on this kind of machine (issue 3): (low, high)
REF = {
    "log_metric": (64.0, 101.0),       # calls/s (7.9 ms server CPU per call)
    "log_batch": (6.0, 6.0),           # calls/s, 1000 metrics each
    "get_history": (742.0, 874.0),     # ms, 10,000 points
    "search": (191.0, 327.0),          # ms, 1000 runs
    "rss": (335.0, 794.0),             # MiB
}
FILTER = "metrics.rmse < 0.8 and params.alpha = '0.5'"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


# --- a minimal HTTP/1.1 keep-alive client (requests costs ~0.3 ms per call: more than the server) --
class Conn:
    def __init__(self, port):
        self.port = port
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.s.close()

    def _fill(self):
        data = self.s.recv(1 << 20)
        if not data:
            raise BenchError("server closed the connection")
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def request(self, method, path, body=None):
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.s.sendall(head.encode() + b"\r\n" + (body or b""))
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        h, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = h.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, chunked = 0, False
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        if not chunked:
            return status, self._take(length)
        parts = []
        while True:
            n = int(self._line().split(b";")[0], 16)
            if n == 0:
                while self._line():
                    pass
                return status, b"".join(parts)
            parts.append(self._take(n))
            self._take(2)

    def json(self, method, path, doc=None, expect=200):
        body = json.dumps(doc).encode() if doc is not None else None
        status, data = self.request(method, path, body)
        if status != expect:
            raise BenchError(f"{method} {path}: HTTP {status} {data[:300]!r}")
        return json.loads(data)


# --- the server -------------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir, name, backend_uri=None, durable=False):
        self.home = os.path.join(workdir, name)
        os.makedirs(self.home)
        self.port = free_port()
        self.log_path = os.path.join(workdir, f"{name}.log")
        args = [binary, "server", "--port", str(self.port)]
        if backend_uri:
            args += ["--backend-store-uri", backend_uri]
        if durable:
            args.append("--durable")
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEFLOW_")}
        env["EDGEFLOW_HOME"] = self.home
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise BenchError(f"edgeflow server exited with {self.p.returncode}:\n{self.tail()}")
            with open(self.log_path, "rb") as f:
                if b"listening on" in f.read():
                    return
            time.sleep(0.05)
        raise BenchError(f"edgeflow server did not start within 30 s:\n{self.tail()}")

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    def cpu_s(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def memory_kib(self):
        out = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon"):
                    out[k] = int(v.split()[0])
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise BenchError("edgeflow server did not stop on SIGTERM within 30 s")
        self.log.close()
        if self.p.returncode != 0:
            raise BenchError(f"edgeflow server exited with {self.p.returncode}:\n{self.tail()}")


# --- workloads ----------------------------------------------------------------------------------------
API = "/api/2.0/mlflow"


def create_run(c, exp_id, name, start_time=None):
    doc = {"experiment_id": exp_id, "user_id": "bench", "run_name": name,
           "start_time": start_time or int(time.time() * 1000)}
    return c.json("POST", f"{API}/runs/create", doc)["run"]["info"]["run_id"]


def history_len(c, run_id, key):
    """Points of a metric's history, following next_page_token if the server pages."""
    n, token = 0, None
    while True:
        q = f"{API}/metrics/get-history?run_uuid={run_id}&metric_key={key}&run_id={run_id}&max_results=25000"
        if token:
            q += f"&page_token={token}"
        doc = c.json("GET", q)
        n += len(doc.get("metrics", []))
        token = doc.get("next_page_token")
        if not token:
            return n


LUA = r"""
local run_id = "%(run_id)s"
local ts0 = %(ts0)d
local n = 0
request = function()
  n = n + 1
  local body = string.format(
    '{"run_id":"%%s","run_uuid":"%%s","key":"%(key)s","value":%%d.25,"timestamp":%%d,"step":%%d}',
    run_id, run_id, n, ts0 + n, n)
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric",
                    {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%%d status_errors=%%d socket_errors=%%d p50_us=%%d p99_us=%%d\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def bench_log_metric(srv, c, exp_id, seconds, workdir, key):
    """Returns (calls/s, server CPU ms per call, client name, p50 ms)."""
    run_id = create_run(c, exp_id, f"log-metric-{key}")
    cpu0 = srv.cpu_s()
    wrk = shutil.which("wrk")
    if wrk:
        script = os.path.join(workdir, f"log_metric_{key}.lua")
        with open(script, "w") as f:
            f.write(LUA % {"run_id": run_id, "ts0": int(time.time() * 1000), "key": key})
        r = subprocess.run([wrk, "-t1", "-c1", f"-d{max(1, round(seconds))}s", "--latency", "-s", script,
                            f"http://127.0.0.1:{srv.port}"], capture_output=True, text=True,
                           timeout=seconds + 60)
        m = re.search(r"BENCH requests=(\d+) status_errors=(\d+) socket_errors=(\d+) "
                      r"p50_us=(\d+) p99_us=(\d+)", r.stdout)
        rate = re.search(r"Requests/sec:\s*([\d.]+)", r.stdout)
        if r.returncode != 0 or not m or not rate:
            raise BenchError(f"wrk failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        calls, bad, sock_err = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if bad or sock_err:
            raise BenchError(f"log-metric: of {calls} calls, {bad} were not answered 200 and "
                             f"{sock_err} met a socket error\n{r.stdout}")
        rps, client, p50 = float(rate.group(1)), "wrk -t1 -c1", int(m.group(4)) / 1000
    else:
        ts0 = int(time.time() * 1000)
        calls, lat = 0, []
        t0 = time.perf_counter()
        end = t0 + seconds
        while True:
            t = time.perf_counter()
            if t >= end:
                break
            calls += 1
            body = (b'{"run_id":"%s","run_uuid":"%s","key":"%s","value":%d.25,"timestamp":%d,"step":%d}'
                    % (run_id.encode(), run_id.encode(), key.encode(), calls, ts0 + calls, calls))
            status, data = c.request("POST", f"{API}/runs/log-metric", body)
            if status != 200:
                raise BenchError(f"log-metric: HTTP {status} {data[:200]!r}")
            lat.append(time.perf_counter() - t)
        rps = calls / (time.perf_counter() - t0)
        client, p50 = "Python raw socket (wrk not found)", statistics.median(lat) * 1000
    cpu = srv.cpu_s() - cpu0
    stored = history_len(c, run_id, key)
    # wrk stops with at most one request in flight: the server may have stored it
    if not calls <= stored <= calls + 1:
        raise BenchError(f"log-metric: {calls} calls acknowledged, {stored} points stored")
    return rps, cpu * 1000 / max(calls, 1), client, p50


def bench_log_batch(c, exp_id, batches):
    run_id = create_run(c, exp_id, "log-batch")
    ts0 = int(time.time() * 1000)
    bodies = []
    for b in range(batches):
        metrics = [{"key": f"k{k}", "value": (b * 100 + s) * 0.001, "timestamp": ts0 + b * 100 + s,
                    "step": b * 100 + s} for k in range(10) for s in range(100)]
        bodies.append(json.dumps({"run_id": run_id, "metrics": metrics}).encode())
    t0 = time.perf_counter()
    for body in bodies:
        status, data = c.request("POST", f"{API}/runs/log-batch", body)
        if status != 200:
            raise BenchError(f"log-batch: HTTP {status} {data[:200]!r}")
    elapsed = time.perf_counter() - t0
    for k in (0, 9):
        n = history_len(c, run_id, f"k{k}")
        if n != batches * 100:
            raise BenchError(f"log-batch: key k{k} holds {n} points, expected {batches * 100}")
    return batches / elapsed, len(bodies[0])


def bench_get_history(c, exp_id, repeat):
    run_id = create_run(c, exp_id, "get-history")
    ts0 = int(time.time() * 1000)
    for b in range(10):
        metrics = [{"key": "loss", "value": 1.0 / (1 + s), "timestamp": ts0 + s, "step": s}
                   for s in range(b * 1000, (b + 1) * 1000)]
        c.json("POST", f"{API}/runs/log-batch", {"run_id": run_id, "metrics": metrics})
    q = f"{API}/metrics/get-history?run_uuid={run_id}&metric_key=loss&run_id={run_id}&max_results=25000"
    times, size = [], 0
    for i in range(repeat):
        t0 = time.perf_counter()
        status, data = c.request("GET", q)
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise BenchError(f"get-history: HTTP {status} {data[:200]!r}")
        if i == 0:
            doc = json.loads(data)
            pts = doc.get("metrics", [])
            if doc.get("next_page_token") or len(pts) != 10000:
                raise BenchError(f"get-history: {len(pts)} points in one response, expected 10000 "
                                 f"(next_page_token {doc.get('next_page_token')!r})")
            if sorted(p["step"] for p in pts) != list(range(10000)):
                raise BenchError("get-history: steps differ from the ones logged")
            size = len(data)
    return statistics.median(times), min(times), size


def bench_search(c, nruns, repeat):
    exp_id = c.json("POST", f"{API}/experiments/create", {"name": "bench-search"})["experiment_id"]
    rng = random.Random(1000)
    expected = set()
    t0 = int(time.time() * 1000)
    for i in range(nruns):
        alpha = rng.choice(["0.1", "0.3", "0.5", "0.7", "0.9"])
        rmse = 0.5 + rng.random() * 0.5
        rid = create_run(c, exp_id, f"run-{i}", t0 + i)
        c.json("POST", f"{API}/runs/log-batch", {
            "run_id": rid, "params": [{"key": "alpha", "value": alpha},
                                      {"key": "l1_ratio", "value": "0.5"}],
            "metrics": [{"key": "rmse", "value": rmse, "timestamp": t0 + i, "step": 0},
                        {"key": "mae", "value": rmse * 0.8, "timestamp": t0 + i, "step": 0}]})
        if rmse < 0.8 and alpha == "0.5":
            expected.add(rid)
    body = json.dumps({"experiment_ids": [exp_id], "filter": FILTER, "run_view_type": "ACTIVE_ONLY",
                       "max_results": 10000}).encode()
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        status, data = c.request("POST", f"{API}/runs/search", body)
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise BenchError(f"runs/search: HTTP {status} {data[:200]!r}")
        if i == 0:
            got = {r["info"]["run_id"] for r in json.loads(data).get("runs", [])}
            if got != expected:
                raise BenchError(f"runs/search: {len(got)} runs returned, {len(expected)} expected "
                                 f"({len(got - expected)} wrong, {len(expected - got)} missing)")
    return statistics.median(times), min(times), len(expected)


# --- report ----------------------------------------------------------------------------------------
def fmt(v, unit):
    return f"{v:,.0f} {unit}" if v >= 100 else f"{v:,.1f} {unit}" if v >= 10 else f"{v:,.2f} {unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--backend-store-uri")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--durable-seconds", type=float, default=5)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--summary")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="edgeflow-bench-tracking-")
    servers = []
    try:
        srv = Server(a.bin, workdir, "home", a.backend_store_uri)
        servers.append(srv)
        c = Conn(srv.port)
        exp_id = c.json("POST", f"{API}/experiments/create", {"name": "bench"})["experiment_id"]
        lm = bench_log_metric(srv, c, exp_id, a.seconds, workdir, "m")
        lb, lb_size = bench_log_batch(c, exp_id, a.batches)
        gh, gh_min, gh_size = bench_get_history(c, exp_id, a.repeat)
        se, se_min, se_n = bench_search(c, a.runs, a.repeat)
        mem = srv.memory_kib()
        c.close()
        srv.stop()
        durable = None
        if a.durable_seconds > 0 and not a.backend_store_uri:
            dsrv = Server(a.bin, workdir, "home-durable", None, durable=True)
            servers.append(dsrv)
            dc = Conn(dsrv.port)
            dexp = dc.json("POST", f"{API}/experiments/create", {"name": "bench"})["experiment_id"]
            durable = bench_log_metric(dsrv, dc, dexp, a.durable_seconds, workdir, "d")
            dc.close()
            dsrv.stop()
    except (BenchError, OSError, ValueError, KeyError) as e:
        print(f"tracking bench: {e}", file=sys.stderr)
        for s in servers:
            if s.p.poll() is None:
                s.p.kill()
                s.p.wait()
            print(f"--- {s.log_path} ---\n{s.tail()}", file=sys.stderr)
        return 1
    finally:
        if a.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    backend = a.backend_store_uri.split(":")[0] if a.backend_store_uri else "sqlite"
    hwm = mem["VmHWM"] / 1024
    anon = mem.get("RssAnon", 0) / 1024
    rows = [
        # name, ours, unit, ref key, higher-is-better, target factor, extra
        ("log-metric, sequential, 1 client", lm[0], "calls/s", "log_metric", True, 30,
         f"server CPU {lm[1]:.3f} ms/call (MLflow 7.9), p50 {lm[3]:.3f} ms, client {lm[2]}"),
        ("log-batch of 1,000 metrics", lb, "calls/s", "log_batch", True, 30,
         f"{lb_size / 1024:.0f} KiB bodies"),
        ("get-history, 10,000 points", gh, "ms", "get_history", False, 20,
         f"median of {a.repeat}, min {gh_min:.1f} ms, {gh_size / 1e6:.2f} MB"),
        (f"runs/search over {a.runs} runs", se, "ms", "search", False, 20,
         f"median of {a.repeat}, min {se_min:.1f} ms, {se_n} runs match"),
        ("server peak RSS (VmHWM)", hwm, "MiB", "rss", False, 20, f"private (RssAnon) {anon:.1f} MiB"),
    ]
    print(f"tracking server, backend {backend} ({os.cpu_count()} cores)")
    print("  reference: MLflow 2.12.2 server, figures RECORDED on this kind of machine when issue 3 was")
    print("  written, NOT measured in this run (MLflow needs PyPI, which this machine cannot reach,")
    print("  and Debian does not package it); the ratios are indicative, taken against the")
    print("  reference's BEST figure (the least favourable one for edgeflow).")
    print(f"  {'workload':<34} {'edgeflow':>15} {'MLflow 2.12.2 (recorded)':>26} {'ratio':>9} "
          f"{'target':>8}  met?  notes")
    summary = []
    for name, ours, unit, key, higher, target, note in rows:
        lo, hi = REF[key]
        best = hi if higher else lo
        ratio = ours / best if higher else best / ours
        ref_txt = f"{lo:g}-{hi:g} {unit}" if lo != hi else f"~{lo:g} {unit}"
        met = "yes" if ratio >= target else "NO"
        tgt = f">= {target}x" if higher else f"<= 1/{target}"
        print(f"  {name:<34} {fmt(ours, unit):>15} {ref_txt:>26} {ratio:>8.1f}x {tgt:>8}  {met:<4}  {note}")
        summary.append(f"tracking ({backend}) {name}, {unit}|{ours:.1f}|{best:g}|{ratio:.1f}|"
                       f"target {tgt}; reference recorded, not measured")
    if durable:
        print(f"  {'log-metric with --durable (fsync)':<34} {fmt(durable[0], 'calls/s'):>15} "
              f"{'64-101 calls/s':>26} {durable[0] / REF['log_metric'][1]:>8.1f}x {'>= 30x':>8}  "
              f"{'yes' if durable[0] / REF['log_metric'][1] >= 30 else 'NO':<4}  server CPU "
              f"{durable[1]:.3f} ms/call, p50 {durable[3]:.3f} ms; bound by the disk's fsync "
              f"(MLflow's SQLite store fsyncs each commit too)")
        summary.append(f"tracking (sqlite --durable) log-metric, calls/s|{durable[0]:.1f}|101|"
                       f"{durable[0] / 101:.1f}|target >= 30x; reference recorded, not measured")
    print("  ratio: edgeflow/MLflow for calls/s, MLflow/edgeflow for ms and MiB (higher is better)")
    if a.summary:
        with open(a.summary, "a") as f:
            f.write("\n".join(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
