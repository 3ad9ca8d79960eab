"""`evsim.engine.precompile` leaves the float32, float64 and fixed-point runs compiled in this process."""

from evsim.engine import fixed_run, float_run
from evsim.engine.precompile import precompile


def test_precompile_compiles_every_run():
    seconds = precompile()
    assert seconds > 0
    # the float run's state dtype is its `bias` argument's (argument 11): both are compiled
    dtypes = {str(sig[11].dtype) for sig in float_run._run.signatures}
    assert {"float32", "float64"} <= dtypes, float_run._run.signatures
    assert len(fixed_run._run_fixed.signatures) >= 1  # and the integer run


def test_precompile_refuses_a_bad_job_count():
    import pytest

    for jobs in (0, 3, True, 1.5):
        with pytest.raises(ValueError, match="jobs must be 1 or 2"):
            precompile(jobs)
