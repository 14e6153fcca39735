"""The tracking server's backends for tests that must pass on both ("Both pass the same API
test suite", issue 3): the default SQLite database in $EDGEFLOW_HOME, and PostgreSQL
(`--backend-store-uri postgresql://...`) on one throwaway cluster per test module (pgcluster.py)
with a fresh database per test. Import the fixtures into a test module:

    from trkbackend import backend, pg_cluster  # noqa: F401  (pytest fixtures)
"""
import itertools
import os
import sqlite3
import subprocess

import pytest

from pgcluster import PgCluster

_db_seq = itertools.count(1)


@pytest.fixture(scope="module")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the module, started by the first PostgreSQL test."""
    if not PgCluster.available():
        pytest.skip("PostgreSQL server binaries are not installed")
    pg = PgCluster()
    yield pg
    pg.stop()


class Backend:
    """Where the tracking server keeps its state; scalar() reads it behind the server's back."""

    def __init__(self, kind, ws, pg=None):
        self.kind = kind
        self.uri = None
        self.args = []
        self.sqlite_path = os.path.join(ws.path, "home", "tracking.db")
        if kind == "postgresql":
            db = f"trk_{next(_db_seq)}"
            pg.psql(f"CREATE DATABASE {db}")
            self.uri = pg.uri.rsplit("/", 1)[0] + "/" + db
            self.args = ["--backend-store-uri", self.uri]

    def scalar(self, sql):
        """The first column of the first row, as an int (these checks count rows)."""
        if self.uri:
            r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", self.uri,
                                "-c", sql], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"psql: {sql}\n{r.stderr}"
            return int(r.stdout.split("\n")[0])
        con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=30)
        try:
            return int(con.execute(sql).fetchone()[0])
        finally:
            con.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, ws):
    pg = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    b = Backend(request.param, ws, pg)
    yield b
    # the server kept its state where it was told to: the Default experiment is in that database
    assert b.scalar("SELECT count(*) FROM experiments WHERE experiment_id = 0") == 1
