"""The parity tests' driver for ef_ml_probe (tests/integration/ml_probe.c): fits one estimator on
plain CSVs written from numpy arrays and returns the probe's JSON. Shared by test_61 (linear),
test_62 (LDA, MLP) and test_63 (XGBoost)."""
import json
import os
import subprocess
import time

import numpy as np
import pytest

from conftest import ROOT

BUILD = os.environ.get("EF_BUILD_DIR") or os.path.join(ROOT, "build")
PROBE = os.path.join(BUILD, "src", "ml", "ef_ml_probe")


class Probe:
    """Runs ef_ml_probe in the test's workspace (sanitizer reports land where ws checks them).

    skip_unknown: a reason to skip the test (instead of failing) when this build lacks the
    estimator, for optional parts such as XGBoost. timeout: seconds one probe run may take."""

    def __init__(self, ws, skip_unknown=None, timeout=300):
        if not os.path.exists(PROBE):
            pytest.fail(f"{PROBE} is missing: build the ef_ml_probe target (EF_BUILD_DIR={BUILD})")
        self.ws = ws
        self.skip_unknown = skip_unknown
        self.timeout = timeout
        self.n = 0

    def run(self, typ, Xtr, ytr, Xte, params, ok=True):
        """The probe's JSON plus "seconds" (wall time) and "dir" (where side files went); with
        ok=False, asserts the fit fails and returns its one-line message."""
        self.n += 1
        d = os.path.join(self.ws.path, f"probe{self.n}")
        os.makedirs(d)
        tr, te = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
        np.savetxt(tr, np.column_stack([Xtr, ytr]), delimiter=",", fmt="%.17g")
        np.savetxt(te, np.column_stack([Xte, np.zeros(len(Xte))]), delimiter=",", fmt="%.17g")
        args = [PROBE, typ, tr, te] + [f"{k}={'None' if v is None else v}" for k, v in params.items()]
        t0 = time.monotonic()
        r = subprocess.run(args, capture_output=True, text=True, timeout=self.timeout,
                           env=self.ws.env({"EF_PROBE_DIR": d}))
        secs = time.monotonic() - t0
        if self.skip_unknown and "unknown estimator" in r.stderr:
            pytest.skip(f"{self.skip_unknown}: {r.stderr.strip()}")
        if not ok:
            assert r.returncode == 1, f"{typ} {params} should fail:\n{r.stdout[:500]}"
            return r.stderr.strip()
        assert r.returncode == 0, f"ef_ml_probe {typ} {params} failed:\n{r.stderr}"
        out = json.loads(r.stdout)
        out["seconds"] = secs
        out["dir"] = d
        return out
