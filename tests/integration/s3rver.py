"""One S3 server for the integration tests: s3rver (npm, tests/node_modules) on a free port of
127.0.0.1, its data under a base dir; client() is boto3 (path-style), env() the credentials and
endpoint as edgeflow and MLflow read them. s3rver does not verify SigV4 signatures (only unknown
key ids are refused)."""
import os
import signal

import boto3
import botocore.config
import pytest

from conftest import ROOT, Proc, free_port, wait_port

S3RVER_JS = os.path.join(ROOT, "tests", "node_modules", "s3rver", "bin", "s3rver.js")
CREDS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


class S3rver:
    """base: the folder for its data (s3rver-<port>/ inside) and log; procs (a Workspace's list,
    optional): the process is added to it so the workspace stops it after the test."""

    def __init__(self, base, port=None, start=True, silent=True, procs=None):
        self.port = port or free_port()
        self.dir = os.path.join(base, f"s3rver-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        self.silent = silent
        self.procs = procs
        self.proc = None
        if start:
            self.start()

    def start(self):
        if not os.path.exists(S3RVER_JS):
            pytest.fail("npm package s3rver missing: run `npm ci` in tests/ "
                        "(scripts/install-deps.sh)")
        # s3rver 3.7.1 encrypts its ListObjectsV2 continuation tokens with DES, which Node >= 17
        # (OpenSSL 3) only offers through the legacy provider: without it, the second page of
        # any listing of more than 1000 keys answers 500 InternalError.
        env = dict(os.environ, NODE_OPTIONS="--openssl-legacy-provider")
        args = ["node", S3RVER_JS, "-d", self.dir, "-a", "127.0.0.1", "-p", self.port]
        self.proc = Proc(args + (["--silent"] if self.silent else []),
                         self.dir + ".log", env=env)
        if self.procs is not None:
            self.procs.append(self.proc)
        wait_port(self.port, timeout=30)

    def stop(self):
        if self.proc and self.proc.alive():
            return self.proc.stop(signal.SIGTERM)
        return None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id="S3RVER",
                            aws_secret_access_key="S3RVER", region_name="us-east-1",
                            config=botocore.config.Config(s3={"addressing_style": "path"}))

    def env(self):
        return dict(CREDS, MLFLOW_S3_ENDPOINT_URL=self.url)
