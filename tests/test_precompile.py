"""`evsim.engine.precompile` leaves the float32, float64 and fixed-point runs compiled."""

import subprocess
import sys
from pathlib import Path

import pytest

from evsim.engine.precompile import precompile

REPO = Path(__file__).resolve().parents[1]
# in a fresh interpreter (a test worker has compiled whatever its earlier tests ran): the float
# run's state dtype is its `bias` argument's (argument 11)
PROBE = """
from evsim.engine import fixed_run, float_run
from evsim.engine.precompile import precompile
precompile()
print(sorted({str(sig[11].dtype) for sig in float_run._run.signatures}), len(fixed_run._run_fixed.signatures))
"""


def test_precompile_compiles_every_run():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO, check=True).stdout
    dtypes, fixed = out.rsplit(maxsplit=1)
    assert dtypes.endswith("['float32', 'float64']") and int(fixed) >= 1, out


def test_precompile_refuses_a_bad_job_count():
    for jobs in (0, 3, True, 1.5):
        with pytest.raises(ValueError, match="jobs must be 1 or 2"):
            precompile(jobs)
