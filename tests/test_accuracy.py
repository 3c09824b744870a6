"""Accuracy bars against mpmath: float32 and float64 <= 0.5 ulp (correctly rounded),
bfloat16/float16 <= 1 ulp, no spurious inf/NaN/0, exact stairs."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_lr, ulp_error

from jax_expdecay import ExponentialDecayConfig, exponential_decay

RATES = (0.96, 0.5, 0.9999, 0.999999, 1.05, 0.1)
DECAY_STEPS = (1, 3, 7, 41, 47, 61, 1000, 10**5)
F32_TINY = float(np.finfo(np.float32).tiny)
F32_MAX = float(np.finfo(np.float32).max)


def _err32(got, exact) -> float:
    """float32 ulp error; an exact value below 2^-126 is flushed: 0 (or 2^-126, where it
    rounds there) is right, anything else is not."""
    if abs(exact) < F32_TINY:
        return 0.0 if abs(float(got)) in (0.0, F32_TINY) else math.inf
    return ulp_error(got, exact, np.float32)


def _errs32(got, exacts) -> np.ndarray:
    return np.asarray([_err32(g, e) for g, e in zip(np.asarray(got).ravel(), exacts, strict=True)])


def _grid(hi: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logu = np.exp(rng.uniform(0, math.log(hi), 40)).astype(np.int64)
    bounds = (np.array([1, 2, 3, 1000, 10**5, 10**7])[:, None] * np.array(DECAY_STEPS)).ravel()
    bounds = (bounds[:, None] + np.array([-1, 0, 1])).ravel()
    extra = [0, 1, 2**24 - 1, 2**24, 2**24 + 1, 2**31 - 1, hi]
    s = np.unique(np.concatenate([logu, bounds, extra]))
    return s[(s >= 0) & (s <= hi)]


def _batch(staircase: bool, init: float = 0.1):
    rates, ds = np.meshgrid(np.array(RATES), np.array(DECAY_STEPS), indexing="ij")
    cfg = ExponentialDecayConfig(
        np.full(rates.size, init)[:, None], ds.reshape(-1, 1), rates.reshape(-1, 1), staircase
    )
    return exponential_decay(cfg), rates.ravel(), ds.ravel()


def _errors(got: np.ndarray, rates, ds, steps, staircase, dtype, init=0.1):
    errs, exact_vals = [], []
    for i, (r, d) in enumerate(zip(rates, ds, strict=True)):
        for j, s in enumerate(steps):
            e = exact_lr(init, int(d), float(r), int(s), staircase)
            exact_vals.append(e)
            errs.append(
                _err32(got[i, j], e) if dtype == np.float32 else ulp_error(got[i, j], e, dtype)
            )
    return np.asarray(errs), exact_vals


def _assert_no_spurious_saturation(got: np.ndarray, exact_vals: list) -> None:
    for g, e in zip(got.reshape(-1), exact_vals, strict=True):
        if F32_TINY <= abs(e) <= F32_MAX:
            assert np.isfinite(g) and g != 0, (g, e)


@pytest.mark.parametrize("staircase", [False, True])
def test_float32_int32_steps(staircase):
    steps = _grid(2**31 - 1, seed=1).astype(np.int32)
    sched, rates, ds = _batch(staircase)
    got = np.asarray(jax.jit(sched)(steps))
    errs, exact_vals = _errors(got, rates, ds, steps, staircase, np.float32)
    normal = np.asarray([abs(e) >= F32_TINY for e in exact_vals])
    assert errs.max() <= 0.5, errs.max()  # the nearest float32 (flushed below 2^-126)
    assert np.median(errs[normal]) <= 0.3
    _assert_no_spurious_saturation(got, exact_vals)
    # eager gives the same accuracy
    eager = np.asarray(sched(steps))
    assert _errors(eager, rates, ds, steps, staircase, np.float32)[0].max() <= 0.5


@pytest.mark.parametrize("staircase", [False, True])
def test_float32_uint32_steps_to_the_top(staircase):
    steps = _grid(2**32 - 1, seed=2).astype(np.uint32)
    sched, rates, ds = _batch(staircase)
    got = np.asarray(jax.jit(sched)(steps))
    errs, exact_vals = _errors(got, rates, ds, steps, staircase, np.float32)
    assert errs.max() <= 0.5, errs.max()
    _assert_no_spurious_saturation(got, exact_vals)


def test_float32_float_steps():
    rng = np.random.default_rng(3)
    steps = np.concatenate(
        [np.exp(rng.uniform(-3, math.log(2.0**32 - 256), 60)), [0.25, 40.5, 41.0, 41.5]]
    ).astype(np.float32)
    sched, rates, ds = _batch(False)
    got = np.asarray(jax.jit(sched)(steps))
    errs = [
        _err32(got[i, j], exact_lr(0.1, int(d), float(r), float(s)))
        for i, (r, d) in enumerate(zip(rates, ds, strict=True))
        for j, s in enumerate(steps)
    ]
    assert max(errs) <= 0.5


def test_growth_schedule_does_not_overflow_early():
    # optax: 1e-6 * 1.05 ** (step / 1000) overflows to inf near step 1.84M though finite.
    sched = exponential_decay(1e-6, 1000, 1.05)
    steps = np.arange(1_810_000, 1_900_001, 5_000, dtype=np.int32)
    got = np.asarray(jax.jit(sched)(steps))
    for g, s in zip(got, steps, strict=True):
        e = exact_lr(1e-6, 1000, 1.05, int(s))
        if e <= F32_MAX:
            assert _err32(g, e) <= 0.5
        else:
            assert g == np.inf


def test_int64_steps_and_float64_output(x64):
    steps = _grid(2**62, seed=4)
    for staircase in (False, True):
        sched, rates, ds = _batch(staircase)  # built with x64 on: float64 output
        got = np.asarray(jax.jit(sched)(steps.astype(np.int64)))
        assert got.dtype == np.float64
        errs, _ = _errors(got, rates, ds, steps, staircase, np.float64)
        assert errs.max() <= 0.5, errs.max()  # correctly rounded float64 too
        # float32 output from int64 steps (the wide path, rounded once)
        sched32 = exponential_decay(
            ExponentialDecayConfig(
                np.float32(0.1), int(ds[3]), float(rates[3]), staircase=staircase
            )
        )
        got32 = np.asarray(sched32(steps.astype(np.int64)))
        assert got32.dtype == np.float32
        e32 = [
            ulp_error(g, exact_lr(np.float32(0.1), int(ds[3]), rates[3], int(s), staircase), "f4")
            for g, s in zip(got32, steps, strict=True)
        ]
        assert max(e32) <= 0.5  # float32 output with x64 on: the uint64 path, then one rounding


@pytest.mark.parametrize("dtype", [jnp.bfloat16, np.float16])
def test_half_precision_outputs_within_one_ulp(dtype):
    init = np.asarray(0.5).astype(dtype)[()]
    steps = _grid(2**31 - 1, seed=5).astype(np.int32)
    for staircase in (False, True):
        for rate, d in ((0.96, 41), (0.9999, 7), (1.05, 1000), (0.5, 61)):
            got = np.asarray(jax.jit(exponential_decay(init, d, rate, staircase))(steps))
            assert got.dtype == np.dtype(dtype)
            for g, s in zip(got, steps, strict=True):
                e = exact_lr(init, d, rate, int(s), staircase)
                info = ml_dtypes.finfo(dtype)
                if abs(e) > float(info.max):
                    continue
                if abs(e) < F32_TINY:  # compared in absolute terms (flush to zero allowed)
                    assert abs(float(g) - float(e)) <= F32_TINY
                else:
                    assert ulp_error(g.astype(np.float32), e, np.float32) <= _half_ulps(e, dtype)


def _half_ulps(exact, dtype) -> float:
    """One ulp of ``dtype`` at ``exact``, expressed in float32 ulps (absolute below tiny)."""
    info = ml_dtypes.finfo(dtype)
    r = np.asarray(float(exact)).astype(dtype)
    spacing = float(info.smallest_subnormal) if abs(float(exact)) < float(info.tiny) else None
    if spacing is None:
        spacing = float(np.spacing(np.abs(r).astype(np.float32)) * 2 ** (23 - info.nmant))
    f32 = np.float32(float(exact))
    base = F32_TINY if abs(float(exact)) < F32_TINY else float(np.spacing(np.abs(f32)))
    return spacing / base


def test_batch_schedule_is_accurate_under_vmap_jit_and_as_argument():
    steps = _grid(2**31 - 1, seed=6).astype(np.int32)[:50]
    cfg = ExponentialDecayConfig(
        np.array([0.1, 0.3, 1e-3]), np.array([41, 1000, 7]), np.array([0.96, 0.9999, 1.05])
    )
    sched = exponential_decay(cfg)
    vm = jax.vmap(lambda sc: sc(steps))(sched)
    arg = jax.jit(jax.vmap(lambda sc, s: sc(s), in_axes=(0, None)))(sched, steps)
    np.testing.assert_array_equal(np.asarray(vm), np.asarray(arg))
    for i in range(3):
        single = exponential_decay(
            float(cfg.initial_learning_rate[i]), int(cfg.decay_steps[i]), float(cfg.decay_rate[i])
        )
        np.testing.assert_array_equal(np.asarray(arg)[i], np.asarray(jax.jit(single)(steps)))
        exact = [
            exact_lr(cfg.initial_learning_rate[i], cfg.decay_steps[i], cfg.decay_rate[i], int(s))
            for s in steps
        ]
        assert _errs32(np.asarray(arg)[i], exact).max() <= 0.5


def test_traced_hyperparameters_exact_stairs_and_documented_accuracy():
    """Config built inside jit: stairs exact, values within (|log init|+|p log r|+1)*2^-21."""
    steps = _grid(2**31 - 1, seed=7).astype(np.int32)

    @jax.jit
    def run(init, rate, d):
        return exponential_decay(init, d, rate, staircase=True)(steps)

    for init, rate, d in ((0.1, 0.96, 41), (1e-3, 0.9999, 47), (0.5, 0.5, 1000), (1e-6, 1.05, 61)):
        got = np.asarray(run(jnp.float32(init), jnp.float32(rate), jnp.int32(d)))
        for g, s in zip(got, steps, strict=True):
            e = exact_lr(np.float32(init), d, np.float32(rate), int(s), True)
            if not F32_TINY <= abs(e) <= F32_MAX:
                continue
            p = max(0, int(s)) // d
            bound = abs(math.log(np.float32(init))) + abs(p * math.log(np.float32(rate))) + 1
            rel = abs(float(g) - float(e)) / float(e)
            assert rel <= bound * 2.0**-21, (init, rate, d, s, rel)
            # a wrong stair would be off by |log rate| >= 1e-4 relative; the bound is below it
            assert bound * 2.0**-21 < abs(math.log(np.float32(rate))) or rel == 0


_call = jax.jit(lambda sched, steps: sched(steps))  # one compile per shape, not per config


@settings(max_examples=60)
@given(
    init=st.floats(1e-8, 10.0),
    rate=st.floats(0.01, 2.0),
    d=st.integers(1, 10**7),
    staircase=st.booleans(),
    steps=st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=8),
)
def test_random_configs_nearest_float32(init, rate, d, staircase, steps):
    sched = exponential_decay(init, d, rate, staircase)
    got = np.asarray(_call(sched, np.asarray(steps, np.int32)))
    for g, s in zip(got, steps, strict=True):
        assert _err32(g, exact_lr(init, d, rate, s, staircase)) <= 0.5


def test_ulp_metric_is_honest():
    one = mpmath.mpf(1)
    assert ulp_error(np.float32(1.0), one, np.float32) == 0.0
    assert ulp_error(np.nextafter(np.float32(1), np.float32(2)), one, np.float32) == 1.0
    assert ulp_error(np.float32(np.inf), one, np.float32) == math.inf
