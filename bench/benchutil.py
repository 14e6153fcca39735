#!/usr/bin/python3
"""benchutil.py - small measuring helpers shared by bench/ingest.sh and bench/agent.sh.

Why a helper: the shell has no precise CPU accounting of a child (bash `times` and /usr/bin/time
round to 10 ms, which is coarser than an agent's whole CPU budget for a run) and no sub-second
clock arithmetic. wait4(2) gives the child's utime/stime (its own plus the descendants it waited
for) with microsecond resolution. Peak RSS is the child's VmHWM from /proc/PID/status, polled
every 10 ms (see watch_hwm for why not ru_maxrss); it is the child's own, not its children's.

Subcommands (all output on stdout, one line, easy to read from the shell):
  run -o FILE [--timeout S] [--t0-file FILE] -- CMD...   run CMD (stopped after S seconds), forward SIGTERM/SIGINT to it, and write
        "wall=S user=S sys=S maxrss_kib=K anon_kib=K rc=N" (peak VmHWM, peak RssAnon) to FILE when it exits, and exit with CMD's status
        (128+signal if a signal ended it). --t0-file receives the
        wall-clock time taken just before the spawn (so other helpers can time from it).
  wait-metric --url URL --name METRIC --count N --t0-file FILE [--timeout S] [--interval S]
        poll a Prometheus text endpoint until METRIC >= N; print "elapsed=S value=V" (seconds
        since t0) and exit 0, or print "timeout value=V" and exit 1.
  gen --n N --devices D --outdir DIR  write N readings spread over D devices as JSON lines,
        one file per device (DIR/lab-dK.jsonl), in the agent's format.
  free-port                           print a TCP port free on 127.0.0.1 a moment ago.
  count DB SQL                        print the single integer SQL returns on SQLite DB.
  field FILE KEY                      print KEY's value from a key=value line written by `run`.
"""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request


def cmd_run(argv):
    out = None
    t0_file = None
    limit = 0.0
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "-o":
            out = argv[i + 1]
            i += 2
        elif argv[i] == "--timeout":
            limit = float(argv[i + 1])
            i += 2
        elif argv[i] == "--t0-file":
            t0_file = argv[i + 1]
            i += 2
        else:
            sys.exit(f"benchutil run: unknown option {argv[i]}")
    cmd = argv[i + 1:]
    if not out or not cmd:
        sys.exit("usage: benchutil run -o FILE [--timeout S] [--t0-file FILE] -- CMD...")
    t0 = time.time()
    if t0_file:
        with open(t0_file, "w") as f:
            f.write(f"{t0:.6f}\n")
    child = subprocess.Popen(cmd)

    done = threading.Event()  # set once wait4 reaped the child: never signal a reused pid

    def forward(sig, _frame):
        if not done.is_set():
            os.kill(child.pid, sig)

    def expire():
        if done.wait(limit):
            return
        print(f"benchutil: {cmd[0]} still running after {limit:g} s, stopping it", file=sys.stderr)
        os.kill(child.pid, signal.SIGTERM)
        if not done.wait(10):
            os.kill(child.pid, signal.SIGKILL)

    hwm = [0, 0]  # peak VmHWM, peak RssAnon (KiB)

    def watch_hwm():
        # ru_maxrss cannot be used: Linux carries the parent's (Python's) high-water RSS into a
        # child across fork + exec, so it would report ~10-20 MiB for any small program.
        # VmHWM belongs to the new image's mm and only grows, so its last reading is the peak.
        path = f"/proc/{child.pid}/status"
        while not done.wait(0.01):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            hwm[0] = max(hwm[0], int(line.split()[1]))
                        elif line.startswith("RssAnon:"):
                            hwm[1] = max(hwm[1], int(line.split()[1]))
                            break
            except OSError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    threading.Thread(target=watch_hwm, daemon=True).start()
    if limit > 0:
        threading.Thread(target=expire, daemon=True).start()
    while True:
        try:
            _, status, ru = os.wait4(child.pid, 0)
            done.set()
            break
        except InterruptedError:
            continue
    wall = time.time() - t0
    rc = os.waitstatus_to_exitcode(status)
    child.returncode = rc  # so Popen's destructor does not wait for it again
    with open(out, "w") as f:
        f.write(f"wall={wall:.6f} user={ru.ru_utime:.6f} sys={ru.ru_stime:.6f} "
                f"maxrss_kib={hwm[0]} anon_kib={hwm[1]} rc={rc}\n")
    return rc if rc >= 0 else 128 - rc


def metric_value(url, name):
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def cmd_wait_metric(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="benchutil wait-metric")
    ap.add_argument("--url", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--t0-file", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--interval", type=float, default=0.02)
    a = ap.parse_args(argv)
    deadline = time.time() + a.timeout
    while not os.path.exists(a.t0_file) and time.time() < deadline:
        time.sleep(0.005)
    with open(a.t0_file) as f:
        t0 = float(f.read())
    value = 0.0
    while time.time() < deadline:
        try:
            value = metric_value(a.url, a.name)
        except OSError:
            pass  # not listening yet
        if value >= a.count:
            print(f"elapsed={time.time() - t0:.6f} value={int(value)}")
            return 0
        time.sleep(a.interval)
    print(f"timeout value={int(value)}")
    return 1


def cmd_gen(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="benchutil gen")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--devices", type=int, default=4)
    ap.add_argument("--outdir", required=True)
    a = ap.parse_args(argv)
    ts0 = int(time.time() * 1000) - a.n  # one reading per ms, ending now
    files = [open(os.path.join(a.outdir, f"lab-d{k + 1}.jsonl"), "w") for k in range(a.devices)]
    seq = [0] * a.devices
    for i in range(a.n):
        k = i % a.devices
        seq[k] += 1
        files[k].write('{"device":"lab-d%d","temp":%d,"load":%.2f,"seq":%d,"ts":%d}\n'
                       % (k + 1, 45000 + (i * 37) % 5000, (i % 300) / 100.0, seq[k], ts0 + i))
    for f in files:
        f.close()
    return 0


def cmd_free_port(_argv):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def cmd_count(argv):
    db, sql = argv
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        print(con.execute(sql).fetchone()[0])
    finally:
        con.close()
    return 0


def cmd_field(argv):
    path, key = argv
    with open(path) as f:
        for tok in f.read().split():
            k, _, v = tok.partition("=")
            if k == key:
                print(v)
                return 0
    return 1


COMMANDS = {
    "run": cmd_run,
    "wait-metric": cmd_wait_metric,
    "gen": cmd_gen,
    "free-port": cmd_free_port,
    "count": cmd_count,
    "field": cmd_field,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
