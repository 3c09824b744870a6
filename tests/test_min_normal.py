"""Results just below the smallest normal: flushed to 0, except those whose rounding (with
gradual underflow, in the output format) is the smallest normal itself, which are kept.

The threshold depends on the output format: the subnormal spacing below 2^-126 is 2^-149
in float32 and 2^-133 in bfloat16, so a float32 result rounds up to 2^-126 from
``2^-126 (1 - 2^-24)`` and a bfloat16 one from ``2^-126 (1 - 2^-8)`` (ties to the even
2^-126). An exhaustive run of the Keras documentation example with a bfloat16 ``init``
found 9,587 steps (208,306,667-208,316,253) whose bfloat16 value rounds up to 2^-126 and
came back 0. The reference: mpmath at 160 bits, rounded here with Python integers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jax_expdecay import exponential_decay
from tests.reference import exact_lr

TINY = 2.0**-126


def _flushed_nearest(exact: mpmath.mpf, bits: int) -> float:
    """``exact > 0`` rounded to nearest-even with ``bits`` bits and gradual underflow
    below 2^-126, then flushed to 0 if below 2^-126."""
    _, e = mpmath.frexp(exact)  # exact = m 2^e, m in [0.5, 1)
    q = max(int(e) - 1, -126) - bits + 1  # the quantum's exponent
    scaled = exact * mpmath.mpf(2) ** -q
    n = int(mpmath.floor(scaled))
    r = scaled - n
    n += 1 if r > 0.5 or (r == 0.5 and n % 2) else 0
    v = math.ldexp(n, q)
    return 0.0 if v < TINY else v


def _check(sched, steps, init, d, rate, bits, dtype):
    got = np.asarray(jax.jit(sched)(jnp.asarray(steps, jnp.int32))).astype(np.float64)
    want = [_flushed_nearest(exact_lr(init, d, rate, int(s)), bits) for s in steps]
    bad = [(int(s), g, w) for s, g, w in zip(steps, got, want, strict=True) if g != w]
    assert not bad, (dtype, len(bad), bad[:5])
    return np.asarray(want)


def test_bfloat16_rounds_up_to_the_smallest_normal():
    """The Keras documentation example with a bfloat16 init, around both ends of the
    range that rounds up to 2^-126 (and a sample inside it): kept, not flushed."""
    init = float(jnp.bfloat16(0.1))
    sched = exponential_decay(jnp.bfloat16(0.1), 100_000, 0.96)
    steps = np.concatenate(
        [
            np.arange(208_306_600, 208_306_740),
            np.arange(208_316_180, 208_316_320),
            np.arange(208_306_740, 208_316_180, 397),
        ]
    )
    want = _check(sched, steps, init, 100_000, 0.96, 8, "bfloat16")
    assert (want == TINY).sum() >= 200 and (want == 0).sum() >= 50  # both sides present


def test_float32_rounds_up_to_the_smallest_normal():
    """The float32 analogue: the threshold is 2^-126 (1 - 2^-24). The rate 0.5 with
    decay_steps 2^20 makes the exponent cross 126 in steps of 2^-20: the steps around
    the crossing, plus the ones whose exact value lies within 2^-30 relative of the
    threshold (found exactly: t = 126 + log2(1 - 2^-24) ~ 126 - 2^-24 / ln 2)."""
    d = 2**20
    # 2^(-s/d) = 2^-126 (1 - 2^-24) at s = d (126 - log2(1 - 2^-24))
    s0 = d * (126 - math.log2(1 - 2.0**-24))
    steps = np.arange(int(s0) - 40, int(s0) + 40)
    want = _check(exponential_decay(1.0, d, 0.5), steps, 1.0, d, 0.5, 24, "float32")
    assert (want == TINY).any() and (want == 0).any()


@pytest.mark.parametrize("staircase", [False, True])
def test_bfloat16_tie_at_the_threshold(staircase):
    """An exact tie at the bfloat16 threshold: init = 1 - 2^-8 (a bfloat16) times 2^-126
    exactly (rate 0.5, 126 halvings) lies half-way between 2^-126 - 2^-133 (odd) and
    2^-126 (even): 2^-126. init = 1 - 2^-7 gives 2^-126 - 2^-133 exactly, a subnormal:
    flushed to 0. Also through a traced config (jit argument)."""
    for init, want in ((1 - 2.0**-8, TINY), (1 - 2.0**-7, 0.0)):
        sched = exponential_decay(jnp.bfloat16(init), 1, 0.5, staircase=staircase)
        for got in (sched(jnp.int32(126)), jax.jit(lambda s: s(jnp.int32(126)))(sched)):
            assert got.dtype == jnp.bfloat16
            assert float(got) == want, (init, float(got))
