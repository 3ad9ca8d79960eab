"""evsim's property-test kit: hypothesis strategies and `check_encoder` (needs hypothesis: the
`testing` extra, ``pip install evsim[testing]``; `import evsim` never loads it).

    import evsim, evsim.testing
    def spikes_half(x, T, rng):
        return rng.random((T,) + x.shape) < x / 2
    evsim.register_encoder("half_poisson", spikes_half, kind="rate")
    evsim.testing.check_encoder("half_poisson", T=10, full_at_one=False)

`check_encoder(fn_or_name, T, kind=None, max_examples=50)` runs the properties that fit the kind
(`evsim.testing.check`) and raises AssertionError naming the first that fails and its shrunk
counterexample; evsim's own tests run it on the five built-in encoders. The strategies
(`evsim.testing.strategies`: inputs in [0, 1] of any shape, batches, T, seeds, random networks of
every projection kind, encoded batches) are the ones evsim's suite draws from.
"""

try:
    import hypothesis  # noqa: F401
except ModuleNotFoundError as err:  # pragma: no cover - hypothesis is a dependency of the extra
    raise ModuleNotFoundError("evsim.testing needs hypothesis: pip install 'evsim[testing]' (or hypothesis>=6.100)",
                              name="hypothesis") from err  # fmt: skip

from .check import check_encoder
from .strategies import (FUSED, batches, deep_networks, encoded_batches, image_batches, images, methods, networks,
                         neurons, seeds, steps, unit_values)  # fmt: skip

__all__ = ["FUSED", "batches", "check_encoder", "deep_networks", "encoded_batches", "image_batches", "images", "methods",
           "networks", "neurons", "seeds", "steps", "unit_values"]  # fmt: skip
