"""Shared fixtures for edgeflow's integration tests.

Every test starts the real processes it needs (Mosquitto, PostgreSQL, s3rver, edgeflow roles) on
127.0.0.1 with free ports and temp dirs, and stops them. Run with Debian's /usr/bin/python3.

Environment: EDGEFLOW_BIN (the binary under test; default ../../build/edgeflow), EF_SANITIZE=1
when the binary is an ASan/UBSan build (then every edgeflow process writes sanitizer reports to a
temp dir and a test fails if any report appears).
"""
import glob
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EDGEFLOW = os.environ.get("EDGEFLOW_BIN") or os.path.join(ROOT, "build", "edgeflow")
SANITIZED = os.environ.get("EF_SANITIZE", "0").lower() in ("1", "on", "true")


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1.

    Chosen below Linux's ephemeral range (32768-60999) so that the outgoing connections of other
    tests running in parallel cannot take it between this check and the server's bind."""
    import random
    for _ in range(200):
        port = random.randrange(20000, 32700)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32700")


def wait_for(pred, timeout=20.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a truthy value; fails the test after timeout seconds."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_port(port, timeout=15.0):
    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_for(up, timeout, what=f"port {port}")


class Proc:
    """A child process with its output in a log file; stop() returns the exit code."""

    def __init__(self, args, log_path, env=None, cwd=None):
        self.args = [str(a) for a in args]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.p = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.p = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=self.env, cwd=self.cwd, start_new_session=True)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, text, timeout=20.0):
        wait_for(lambda: text in self.output(), timeout, what=f"'{text}' in {self.log_path}")

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            self.p.send_signal(sig)
        return self.wait()

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends sig and waits; returns the exit code (negative: killed by that signal)."""
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise AssertionError(f"{self.args[:2]} did not stop within {timeout}s:\n"
                                     + self.output()[-3000:])
        return self.wait()

    def wait(self, timeout=30.0):
        rc = self.p.wait(timeout)
        self.log.close()
        return rc


class Workspace:
    """A temp dir plus helpers to run edgeflow and peers inside it; cleans up after the test."""

    def __init__(self, path):
        self.path = path
        self.procs = []
        self.asan_dir = os.path.join(path, "sanitizer")
        os.makedirs(self.asan_dir, exist_ok=True)

    def env(self, extra=None):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("EDGEFLOW_") and k != "EDGEFLOW_BIN":
                del env[k]
        env["EDGEFLOW_HOME"] = os.path.join(self.path, "home")
        if SANITIZED:
            env["ASAN_OPTIONS"] = f"detect_leaks=1:log_path={self.asan_dir}/asan"
            env["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={self.asan_dir}/ubsan"
        if extra:
            env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn(self, args, name, env=None, cwd=None):
        log = os.path.join(self.path, f"{name}.log")
        p = Proc(args, log, env=self.env(env), cwd=cwd)
        self.procs.append(p)
        return p

    def edgeflow(self, *args, name=None, env=None):
        """Starts `edgeflow <args>` in the background."""
        return self.spawn([EDGEFLOW, *args], name or args[0], env=env)

    def run(self, *args, env=None, timeout=120, check=False, input=None):
        """Runs `edgeflow <args>` to completion; returns CompletedProcess (text)."""
        r = subprocess.run([EDGEFLOW, *[str(a) for a in args]], capture_output=True, text=True,
                           env=self.env(env), timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError(f"edgeflow {' '.join(map(str, args))} exited {r.returncode}:\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def sanitizer_reports(self):
        out = []
        for f in glob.glob(os.path.join(self.asan_dir, "*")):
            with open(f, errors="replace") as fh:
                out.append(f"{f}:\n{fh.read()}")
        return out

    def close(self):
        for p in reversed(self.procs):
            try:
                if p.alive():
                    p.stop(signal.SIGKILL)
            except Exception:
                pass


@pytest.fixture
def ws(tmp_path):
    w = Workspace(str(tmp_path))
    yield w
    w.close()
    reports = w.sanitizer_reports()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)[:20000]


class Mosquitto:
    """A real Mosquitto broker on a free port, configured for no-loss operation by default."""

    def __init__(self, ws, name="mosquitto", port=None, persistence=True, extra=""):
        self.ws = ws
        self.port = port or free_port()
        self.dir = os.path.join(ws.path, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    f"user {os_user()}\n"
                    f"persistence {'true' if persistence else 'false'}\n"
                    f"persistence_location {self.dir}/\n"
                    "max_queued_messages 1000000\nmax_inflight_messages 0\n"
                    "log_dest stdout\nlog_type error\nlog_type warning\n" + extra)
        self.name = name
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.ws.spawn(["mosquitto", "-c", self.conf], self.name, env={})
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.alive():
            self.proc.stop(signal.SIGTERM)

    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"


def os_user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def mosquitto(ws):
    m = Mosquitto(ws)
    yield m
    m.stop()


class EdgeflowServer:
    """`edgeflow server --port <free port> *args` in a workspace; waits for its "listening on"
    line unless wait=False. raw() sends one request with the path byte for byte."""

    def __init__(self, ws, *args, name="server", env=None, wait=True):
        self.port = free_port()
        self.proc = ws.edgeflow("server", "--port", self.port, *args, name=name, env=env)
        if wait:
            self.proc.wait_log("listening on", timeout=60)  # generous: ASan builds under load
        self.url = f"http://127.0.0.1:{self.port}"

    def raw(self, method, path, body=None, headers=None, timeout=30):
        """Returns (status, headers, body)."""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def stop(self):
        return self.proc.stop()

    def close(self):
        """For fixtures: stops the server if it still runs and asserts a clean exit."""
        if self.proc.alive():
            assert self.stop() == 0, self.proc.output()[-2000:]


def http_json(method, url, body=None, headers=None, timeout=10):
    """Small stdlib HTTP helper: returns (status, parsed JSON or text)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")
