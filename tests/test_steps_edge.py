"""Edge-case steps: every integer dtype at its extremes, NaN/inf/negative/huge float steps.

Defined results (each compared with the exact reference ``exact_lr``):

* a negative step (integer or float, including -inf) holds at ``initial_learning_rate``;
* a NaN step gives NaN;
* +inf gives the limit: 0 for decay, inf for growth (with the sign of the initial
  rate), ``initial_learning_rate`` for ``decay_rate == 1``, clamped by ``end_value``;
* a finite float step at or above the unsigned integer range of the working precision
  is evaluated at ``2**32 - 256`` (x64 off) or ``2**64 - 2048`` (x64 on): it saturates;
* integer steps never wrap around, at any dtype extreme.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from reference import exact_lr, ulps

from jax_expdecay import exponential_decay

# (init, decay_steps, decay_rate, staircase, transition_begin, end_value)
CONFIGS = {
    "decay": (0.5, 1000, 0.96, False, 0, None),
    "decay_stair": (0.5, 1000, 0.96, True, 0, None),
    "slow_stair_floor": (0.5, 10**9, 0.5, True, 0, 0.01),
    "growth": (0.5, 7, 1.5, False, 0, None),
    "growth_cap": (0.5, 7, 1.5, False, 0, 4.0),
    "rate_one": (0.5, 7, 1.0, False, 0, None),
    "rate_zero": (0.5, 100, 0.0, False, 0, None),
    "late_begin": (0.5, 3, 0.9, True, 100, None),
}
INT_DTYPES = [np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32]


def _sched(c):
    init, d, rate, staircase, tb, ev = c
    return exponential_decay(init, d, rate, staircase, transition_begin=tb, end_value=ev)


def _exact(c, steps):
    init, d, rate, staircase, tb, ev = c
    return [exact_lr(init, d, rate, s, staircase, tb, ev) for s in steps]


def _extremes(dt):
    info = np.iinfo(dt)
    vals = {int(info.min), int(info.min) + 1, -1, 0, 1, 2, int(info.max) - 1, int(info.max)}
    return np.array(sorted(v for v in vals if info.min <= v <= info.max), dtype=dt)


@pytest.mark.parametrize("dt", INT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_integer_dtype_extremes(dt, name):
    c = CONFIGS[name]
    steps = _extremes(dt)
    got = np.asarray(_sched(c)(steps))
    assert got.dtype == np.float32
    err = ulps(got, _exact(c, [int(s) for s in steps]), np.float32)
    assert err.max() <= 2.0, (steps[err.argmax()], err.max())


@pytest.mark.parametrize("dt", [np.int64, np.uint64], ids=["int64", "uint64"])
@pytest.mark.parametrize("name", ["decay", "decay_stair", "growth_cap", "late_begin"])
def test_64_bit_integer_extremes_under_x64(x64, dt, name):
    c = CONFIGS[name]
    # Slow enough that the largest steps are not all 0/inf, so a wraparound would show.
    c = (c[0], 2**60, c[2], *c[3:])
    steps = _extremes(dt)
    got = np.asarray(_sched(c)(steps))  # built with x64 on
    assert got.dtype == np.float64
    exact = _exact(c, [int(s) for s in steps])
    assert 0.0 < float(exact[-1]) < math.inf
    assert ulps(got, exact, np.float64).max() <= 4.0


def _float_steps(dt):
    big = float(ml_dtypes.finfo(dt).max)
    vals = [-math.inf, -big, -1.5, -0.0, 0.0, 0.25, 1.0, 1.5, 999.5, 1000.0, 65504.0, big]
    vals += [2.0**31, 2.0**32 - 2**24]  # below 2**32 - 256 in every float dtype
    return np.array([v for v in vals if abs(v) <= big and v < 2.0**32 - 256], dtype=dt)


FLOAT_DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32]


@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["decay", "decay_stair", "growth", "rate_zero", "late_begin"])
def test_float_steps_below_the_integer_range(dt, name):
    """Finite float steps below 2**32 and -inf, against the exact value at that step."""
    c = CONFIGS[name]
    steps = _float_steps(dt)
    steps = np.concatenate([np.array([-np.inf], dt), steps])
    got = np.asarray(_sched(c)(steps))
    exact = _exact(c, [-math.inf if np.isneginf(s) else float(s) for s in steps[1:]])
    assert got[0] == np.float32(c[0])  # -inf holds
    err = ulps(got[1:], exact, np.float32)
    assert err.max() <= 2.0, (steps[1:][err.argmax()], err.max())


def test_exact_reference_accepts_negative_steps():
    # The reference holds for any step <= transition_begin, so the tests above compare
    # negative steps against initial_learning_rate, as documented.
    assert exact_lr(0.5, 10, 0.5, -7.5) == exact_lr(0.5, 10, 0.5, 0)


@pytest.mark.parametrize("dt", [*FLOAT_DTYPES, np.float64])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_nan_step_is_nan(dt, name):
    got = np.asarray(_sched(CONFIGS[name])(np.array([np.nan, 1.0], dt)))
    assert np.isnan(got[0]) and not np.isnan(got[1])


def _limit(c):
    init, _, rate, _, _, ev = c
    if rate == 1 or init == 0:
        lim = init
    else:
        lim = 0.0 if rate < 1 else math.copysign(math.inf, init)
    if ev is not None:
        lim = max(lim, ev) if rate < 1 else min(lim, ev)
    return lim


INF_CASES = [
    pytest.param(CONFIGS["decay"], id="decay"),  # 0.96 ** 4.29e6 underflows: 0 either way
    pytest.param(CONFIGS["growth"], id="growth"),
    pytest.param(CONFIGS["growth_cap"], id="growth_cap"),
    pytest.param(CONFIGS["rate_one"], id="rate_one"),
    pytest.param(CONFIGS["rate_zero"], id="rate_zero"),
    # Slow schedules: the value at the saturated step 2**32 - 256 is far from the limit.
    pytest.param(CONFIGS["slow_stair_floor"], id="slow_stair_floor"),
    pytest.param((1.0, 10**9, 0.5, False, 0, None), id="slow_decay"),
    pytest.param((1.0, 10**9, 2.0, False, 0, None), id="slow_growth"),
    pytest.param((-1.0, 10**9, 2.0, False, 0, None), id="negative_init_growth"),
    pytest.param((1.0, 10**9, 0.5, True, 2**20, 0.25), id="stair_begin_floor"),
    pytest.param((0.0, 10, 1.5, False, 0, None), id="zero_init_growth"),
    pytest.param((1.0, 10, 0.5, False, 2**32 - 1, None), id="begin_beyond_range"),
    pytest.param((1.0, 10, 0.5, True, 2**32 - 1, None), id="stair_begin_beyond_range"),
]  # fmt: skip


@pytest.mark.parametrize("c", INF_CASES)
@pytest.mark.parametrize("dt", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_positive_inf_step_gives_the_limit(c, dt):
    got = np.asarray(_sched(c)(np.array([np.inf], dt)))
    assert got[0] == np.float32(_limit(c))


def test_float_steps_beyond_uint32_saturate_at_2_32_minus_256():
    """x64 off: float steps >= 2**32 are evaluated at 2**32 - 256 (documented limit)."""
    c = (1.0, 10**9, 0.5, False, 0, None)  # slow: the saturated value is far from 0
    sched = _sched(c)
    sat = np.asarray(sched(np.uint32(2**32 - 256)))
    assert ulps([sat], _exact(c, [2**32 - 256]), np.float32).max() <= 2.0
    for step in (2.0**32 - 256, 2.0**32, 2.0**40, float(np.finfo(np.float32).max)):
        assert np.asarray(sched(np.float32(step))) == sat, step
    for step in (2.0**32, 2.0**40, float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)):
        assert np.asarray(sched(ml_dtypes.bfloat16(step))) == sat, step
    assert np.asarray(sched(np.float32(np.inf))) == 0.0  # +inf is the limit, not saturated
    # ...and below the threshold, float steps are exact:
    below = np.float32(2.0**32 - 512)
    got = np.asarray(sched(below))
    assert ulps([got], _exact(c, [float(below)]), np.float32).max() <= 2.0


def test_float64_steps_beyond_uint64_saturate_under_x64(x64):
    c = (1.0, 2**62, 0.5, False, 0, None)
    sched = _sched(c)
    sat = np.asarray(sched(np.uint64(2**64 - 2048)))
    assert ulps([sat], _exact(c, [2**64 - 2048]), np.float64).max() <= 4.0
    for step in (2.0**64, 2.0**70, float(np.finfo(np.float64).max)):
        assert np.asarray(sched(np.float64(step))) == sat, step
    assert np.asarray(sched(np.float64(np.inf))) == 0.0  # +inf is the limit


@pytest.mark.parametrize("name", ["decay", "decay_stair", "growth_cap", "late_begin"])
def test_float64_and_huge_float32_steps_under_x64(x64, name):
    c = CONFIGS[name]
    sched = _sched(c)
    steps64 = np.array([-1e300, -2.5, 0.0, 0.5, 12345.75, 2.0**40 + 0.5, 2.0**52], np.float64)
    got = np.asarray(sched(steps64))
    assert got.dtype == np.float64
    assert ulps(got, _exact(c, [float(s) for s in steps64]), np.float64).max() <= 4.0
    # float32 steps are exact up to 2**64 when the schedule runs in 64 bits.
    steps32 = np.array([2.0**33, 2.0**40, 2.0**63], np.float32)
    got32 = np.asarray(sched(steps32))
    assert ulps(got32, _exact(c, [float(s) for s in steps32]), np.float64).max() <= 4.0


def test_no_wraparound_across_the_int32_sign_bit():
    """The largest int32 step and the smallest negative one are far apart in value."""
    c = (1.0, 2**28, 0.5, False, 0, None)
    got = np.asarray(_sched(c)(np.array([2**31 - 1, -(2**31)], np.int32)))
    assert got[1] == np.float32(1.0)
    assert ulps(got[:1], _exact(c, [2**31 - 1]), np.float32).max() <= 2.0
    assert got[0] < np.float32(0.01)


def test_jit_matches_eager_on_edge_steps():
    sched = _sched(CONFIGS["slow_stair_floor"])
    steps = jnp.array([np.nan, -np.inf, -1.0, 0.0, 1e9, 3e9, np.inf], jnp.float32)
    np.testing.assert_array_equal(np.asarray(jax.jit(sched)(steps)), np.asarray(sched(steps)))


@pytest.mark.parametrize(
    ("rate", "staircase"),
    [
        (0.5, False),
        (0.5, True),
        (0.0, False),
        (0.0, True),  # was 0 before transition_begin (fixed in c9c1f4e)
    ],
)
@pytest.mark.parametrize("dt", [np.int32, np.uint8, np.float32], ids=["int32", "uint8", "f32"])
def test_steps_before_transition_begin_hold_for_every_rate(rate, staircase, dt):
    c = (0.5, 10, rate, staircase, 5, None)
    steps = np.arange(0, 30, dtype=dt)
    got = np.asarray(_sched(c)(steps))
    exact = _exact(c, [int(s) for s in steps])
    assert ulps(got, exact, np.float32).max() <= 2.0, (steps, got)
