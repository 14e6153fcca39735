"""A throwaway PostgreSQL cluster for integration tests.

Wraps scripts/pg-test-cluster.sh (the same helper the C unit tests use): a cluster in a temp dir,
on a free port of 127.0.0.1, trust auth, fsync off, with a database "edgeflow"; owned by the
`postgres` user when the tests run as root (PostgreSQL refuses root). The cluster is also stopped
by a watchdog if the pytest process dies without cleaning up.

    with PgCluster() as pg:
        pg.uri                      # postgresql://postgres@127.0.0.1:PORT/edgeflow
        pg.query("SELECT 1")        # rows as lists of strings (psql -At), NULL as None

Tests that need PostgreSQL skip (with the reason) only when the server binaries are missing;
`PgCluster.available()` tells.
"""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "pg-test-cluster.sh")
SKIP_CODE = 77
NULL = "\x01NULL\x01"  # what psql prints for NULL (-P null=...): never a real value here


class PgCluster:
    def __init__(self):
        self.uri = None
        self.dir = None
        self.start()

    @staticmethod
    def available():
        return subprocess.run([SCRIPT, "check"], capture_output=True).returncode == 0

    def start(self):
        env = dict(os.environ, EF_PG_WATCH_PID=str(os.getpid()))
        r = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, env=env, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"pg-test-cluster.sh start exited {r.returncode}:\n{r.stderr}")
        lines = r.stdout.split("\n")
        self.uri, self.dir = lines[0].strip(), lines[1].strip()
        return self

    def stop(self):
        if self.dir:
            subprocess.run([SCRIPT, "stop", self.dir], capture_output=True, timeout=120)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def psql(self, sql, check=True):
        """Runs sql through psql; returns CompletedProcess (text)."""
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\x1f", "-P", f"null={NULL}",
                            "-v", "ON_ERROR_STOP=1", "-d", self.uri, "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed ({r.returncode}): {sql}\n{r.stderr}")
        return r

    def query(self, sql):
        """Rows of a query as lists of strings (None for NULL)."""
        out = self.psql(sql).stdout
        rows = []
        for line in out.split("\n"):
            if line == "":
                continue
            rows.append([None if v == NULL else v for v in line.split("\x1f")])
        return rows

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None
