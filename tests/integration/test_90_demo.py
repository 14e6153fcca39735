"""`make demo` runs scripts/demo.sh: keep it true by running it here (short)."""
import os
import re
import subprocess

from conftest import EDGEFLOW, ROOT


def test_demo_script_runs_end_to_end(tmp_path):
    env = dict(os.environ, EDGEFLOW_BIN=EDGEFLOW, DEMO_SECONDS="3", TMPDIR=str(tmp_path))
    r = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh")], capture_output=True, text=True,
                       env=env, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    counts = [int(n) for n in re.findall(r"t= ?\d+s\s+(\d+) readings stored", out)]
    assert counts and counts[-1] > 0, out[-3000:]
    m = re.search(r"exported (\d+) readings to (\S+\.csv)", out)
    assert m and int(m.group(1)) >= counts[-1], out[-3000:]
    with open(m.group(2)) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("idx,device,") and len(lines) == int(m.group(1)) + 1
    assert re.search(r"ingest stopped: received (\d+), committed \1,", out), out[-2000:]
