"""With x64 on, a config passed into ``jit`` (traced) gives the host-built bits.

A traced float64 config's constants come from XLA's ``log2`` (no written error bound; a
few float64 ulp measured), so its rounding test takes them to be within 2^-40 and sends
what that leaves undecided to the accurate path, which reads the exact float64 config.
Before that bound, 994 of 1,004 float64 values of the Keras documentation example
differed from the host-built schedule's (0.0003, 7, 0.999 staircase: all 1,004).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay
from tests.reference import exact_lr

CONFIGS = [(0.1, 1000, 0.96), (1.0, 2, 0.5625), (0.001, 1, 1.5), (3e-4, 7, 0.999)]


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("init, d, rate", CONFIGS)
def test_traced_x64_config_gives_the_host_bits(x64, init, d, rate, staircase):
    steps = jnp.arange(0, 10**6, 4999, dtype=jnp.int64)
    run = jax.jit(lambda c: exponential_decay(c)(steps))
    refs = []
    for i in (init, np.float32(init)):  # float64 and float32 outputs
        cfg = ExponentialDecayConfig(i, d, rate, staircase=staircase)
        ref = np.asarray(exponential_decay(cfg)(steps))
        got = np.asarray(run(cfg))
        assert got.dtype == ref.dtype == (np.float64 if isinstance(i, float) else np.float32)
        assert (got.view(np.uint8) == ref.view(np.uint8)).all(), (i, np.flatnonzero(got != ref))
        refs.append(ref)
    # and the host bits are the nearest float64 of the exact value (mpmath, 160 bits)
    for s, v64, v32 in zip(np.asarray(steps)[::20], refs[0][::20], refs[1][::20], strict=True):
        assert float(v64) == float(exact_lr(init, d, rate, int(s), staircase))
        want32 = np.float32(float(exact_lr(np.float32(init), d, rate, int(s), staircase)))
        assert v32 == want32 or abs(float(want32)) < 2.0**-126
