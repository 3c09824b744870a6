"""warmup_exponential_decay: the exact ramp (fractions), the exact decay (mpmath), one
trace for a sweep over warmup length and peak, parity with optax where optax is exact."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import optax
import pytest
from budget import examples
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from reference import exact_lr, ulp_error

import jax_expdecay
from jax_expdecay import (
    WarmupExponentialDecay,
    exponential_decay,
    to_keras,
    warmup_exponential_decay,
)


def _bits(x, dtype=np.float32) -> int:
    return int(np.asarray(x, dtype).view(np.uint32 if dtype == np.float32 else np.uint64))


def nearest(fr: Fraction, dtype: type = np.float32):
    """The float of ``dtype`` nearest the rational ``fr`` (normal range), ties to even,
    decided with exact fractions (no double rounding)."""
    if fr == 0:
        return dtype(0)
    f = dtype(float(fr))
    cands = [np.nextafter(f, dtype(-np.inf)), f, np.nextafter(f, dtype(np.inf))]
    return min(cands, key=lambda c: (abs(Fraction(float(c)) - fr), _bits(c, dtype) & 1))


def exact_ramp(init: float, peak: float, s: int, w: int, dtype: type = np.float32) -> Fraction:
    """init + (peak - init) s / w with init, peak as the output float (the schedule's own
    values at step 0 and at step w)."""
    a, b = Fraction(float(dtype(init))), Fraction(float(dtype(peak)))
    return a + (b - a) * s / w


def nearest_or_flushed(got, exact) -> bool:
    """The decay's rule: the nearest float32, except that results below 2**-126 are
    flushed to 0 (documented in ``exponential_decay``)."""
    if abs(exact) < 2.0**-126:
        return float(got) in (0.0, 2.0**-126)
    return ulp_error(got, exact, np.float32) <= 0.5


def _eval_batch(sched: WarmupExponentialDecay, steps: np.ndarray) -> np.ndarray:
    """Row i of ``steps`` through schedule i, in one jitted vmap."""
    return np.asarray(jax.jit(jax.vmap(lambda s, t: s(t)))(sched, jnp.asarray(steps)))


ENDPOINTS = [0.0, 0.1, 1e-3, 3e-4, 1.0, 5.0, 2.0**-100, 2.0**100, 0.7, 123.456]
LENGTHS = [1, 2, 3, 7, 10, 41, 1000, 4097, 65_537, 2**24]


def _ramp_grid(rng: random.Random):
    rows = []
    for init, peak in itertools.product(ENDPOINTS, repeat=2):
        for w in LENGTHS:
            steps = sorted({0, 1, w // 2, max(w - 1, 0), rng.randrange(w), rng.randrange(w)})
            rows.append((init, peak, w, (steps + [0] * 6)[:6]))
    return rows


def test_ramp_is_the_nearest_float32_on_a_grid():
    rows = _ramp_grid(random.Random(17))
    sched = warmup_exponential_decay(
        np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]), 1000, 0.5,
    )  # fmt: skip
    got = _eval_batch(sched, np.array([r[3] for r in rows], np.int32))
    checked = 0
    for (init, peak, w, steps), row in zip(rows, got, strict=True):
        for s, g in zip(steps, row, strict=True):
            want = nearest(exact_ramp(init, peak, s, w))
            assert _bits(g) == _bits(want), (init, peak, w, s, g, want)
            checked += 1
    assert checked == 6 * len(rows) == 6000


def test_exact_midpoints_round_to_even():
    """1 + s / 2**24 and 2 - s / 2**24 for odd s are exact midpoints of float32 in [1, 2):
    they must round to even, alternately down and up (a ramp from 1 to 2, and back)."""
    w = 2**24
    steps = np.array([1, 3, 5, 7, 2**23 + 1, 2**24 - 1], np.int32)
    for init, peak in ((1.0, 2.0), (2.0, 1.0), (0.0, 2.0**-30 * 3), (2.0**-30 * 3, 0.0)):
        got = np.asarray(warmup_exponential_decay(init, peak, w, 10, 0.5)(steps))
        for s, g in zip(steps, got, strict=True):
            exact = exact_ramp(init, peak, int(s), w)
            want = nearest(exact)
            assert _bits(g) == _bits(want), (init, peak, s, g, want)
    # they really are midpoints, and both directions occur
    ramp12 = np.asarray(warmup_exponential_decay(1.0, 2.0, w, 10, 0.5)(steps))
    exact = [1 + Fraction(int(s), w) for s in steps]
    assert all((e - 1) * 2**23 % 1 == Fraction(1, 2) for e in exact)
    assert {Fraction(float(g)) > e for g, e in zip(ramp12, exact, strict=True)} == {True, False}


@pytest.mark.parametrize("staircase", [False, True])
def test_decay_part_is_our_exponential_decay_shifted_and_exact(staircase):
    configs = [(0.1, 1000, 100, 0.5, 0, None), (1.0, 7, 41, 0.96, 5, None),
               (3e-4, 0, 10, 0.9, 0, 1e-4), (2.0, 1, 3, 1.5, 2, 2.5), (0.5, 3, 1, 0.0, 0, None)]  # fmt: skip
    for peak, w, d, rate, tb, ev in configs:
        sched = warmup_exponential_decay(0.0, peak, w, d, rate, tb, staircase, ev)
        dec = exponential_decay(peak, d, rate, staircase, transition_begin=tb, end_value=ev)
        steps = np.array(sorted({w, w + 1, w + tb, w + tb + 1, w + d - 1, w + d, w + 7 * d,
                                 w + 7 * d + 1, w + 12_345, 2**31 - 1}), np.int64)  # fmt: skip
        got = np.asarray(sched(steps.astype(np.int32)))
        want = np.asarray(dec((steps - w).astype(np.int32)))
        assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()
        for s, g in zip(steps, got, strict=True):
            exact = exact_lr(peak, d, rate, int(s) - w, staircase, tb, ev)
            assert nearest_or_flushed(g, exact), (peak, w, d, rate, s, g)


def test_vmap_over_warmup_length_and_peak_traces_once():
    @jax.jit
    @chex.assert_max_traces(n=1)
    def rates(sched, steps):
        return jax.vmap(lambda s: s(steps))(sched)

    steps = jnp.arange(0, 3000, 37, dtype=jnp.int32)
    for warm, peak in (([10, 100, 1000], [0.1, 0.3, 1.0]), ([0, 7, 2999], [0.5, 2e-3, 1e-5])):
        sweep = warmup_exponential_decay(1e-4, np.array(peak), np.array(warm), 500, 0.5)
        got = np.asarray(rates(sweep, steps))
        for i, (w, p) in enumerate(zip(warm, peak, strict=True)):
            one = warmup_exponential_decay(1e-4, p, w, 500, 0.5)
            np.testing.assert_array_equal(got[i], np.asarray(one(steps)))
    assert sweep.batch_shape == (3,)
    # the batch as a pytree: every number a leaf
    assert len(jax.tree_util.tree_leaves(sweep)) >= 5


def test_same_bits_eager_jit_vmap_and_as_a_jit_argument():
    sched = warmup_exponential_decay(1e-3, 0.1, 41, 100, 0.96, 3, True, 1e-3)
    steps = np.array([0, 1, 20, 40, 41, 44, 45, 141, 145, 10_000, 2**31 - 1], np.int32)
    eager = np.asarray(sched(steps))
    one_by_one = np.array([float(sched(int(s))) for s in steps], np.float32)
    jitted = np.asarray(jax.jit(sched)(steps))
    vmapped = np.asarray(jax.vmap(sched)(steps))
    as_arg = np.asarray(jax.jit(lambda s, t: s(t))(sched, steps))
    for other in (one_by_one, jitted, vmapped, as_arg):
        assert eager.view(np.uint32).tolist() == other.view(np.uint32).tolist()


def test_bit_identical_to_optax_wherever_optax_is_exact():
    """Over a grid of configs and steps: where optax's value is the nearest float32 to
    the exact one, ours is the same bits; ours is the nearest everywhere. Reports how
    often optax is not."""
    rng = random.Random(5)
    total = optax_off = 0
    for init, peak, w, d, rate, staircase in [
        (0.0, 0.1, 1000, 10_000, 0.5, True), (1e-4, 3e-3, 41, 47, 0.96, False),
        (0.0, 1.0, 7, 61, 0.9, True), (0.3, 0.1, 100, 1000, 0.99, False),
        (0.0, 0.7, 4097, 100_000, 0.96, True), (2e-5, 5e-4, 333, 3, 0.5, False),
    ]:  # fmt: skip
        ours = warmup_exponential_decay(init, peak, w, d, rate, staircase=staircase)
        theirs = optax.warmup_exponential_decay_schedule(
            init, peak, w, d, rate, staircase=staircase
        )
        steps = sorted({*range(0, min(w, 50)), *(rng.randrange(w) for _ in range(200)),
                        w - 1, w, w + 1, *(w + rng.randrange(20 * d) for _ in range(200))})  # fmt: skip
        st_arr = jnp.asarray(steps, jnp.int32)
        with jax.numpy_dtype_promotion("standard"):  # optax is not strict-promotion clean
            o = np.asarray(jax.jit(theirs)(st_arr), np.float32)
        g = np.asarray(jax.jit(ours)(st_arr))
        for s, oi, gi in zip(steps, o, g, strict=True):
            if s < w:
                want = nearest(exact_ramp(init, peak, s, w))
            else:
                exact = exact_lr(peak, d, rate, s - w, staircase)
                want = gi if nearest_or_flushed(gi, exact) else None
            assert want is not None and _bits(gi) == _bits(want), (init, peak, w, s, gi)
            total += 1
            if _bits(oi) == _bits(want):
                assert _bits(gi) == _bits(oi)
            else:
                optax_off += 1
    print(f"optax not the nearest float32 at {optax_off} of {total} steps")
    assert total > 1500 and optax_off > 0


def test_float_negative_and_nan_steps():
    sched = warmup_exponential_decay(0.0, 1.0, 4, 10, 0.5)
    assert float(sched(2.9)) == float(sched(2)) == 0.5  # whole steps: floor
    assert float(sched(-3)) == float(sched(0)) == 0.0
    assert np.isnan(float(sched(float("nan"))))
    assert float(sched(np.float32(14.5))) == float(sched(14))


def test_warmup_zero_is_the_decay_alone():
    sched = warmup_exponential_decay(0.5, 0.1, 0, 10, 0.5, staircase=True)
    dec = exponential_decay(0.1, 10, 0.5, staircase=True)
    steps = np.arange(0, 50, dtype=np.int32)
    assert np.asarray(sched(steps)).tolist() == np.asarray(dec(steps)).tolist()


def test_float64_ramp_with_x64(x64):
    sched = warmup_exponential_decay(0.1, 0.3, 2**24, 1000, 0.5)
    steps = np.array([0, 1, 3, 2**23 + 1, 2**24 - 1, 2**24, 2**24 + 5000])
    got = np.asarray(sched(steps))
    assert got.dtype == np.float64
    for s, g in zip(steps[:5], got[:5], strict=True):
        assert g == float(exact_ramp(0.1, 0.3, int(s), 2**24, np.float64))  # float(): nearest
    dec = exponential_decay(0.3, 1000, 0.5)
    # With x64 on, a schedule whose leaves are traced takes its float64 constants from
    # XLA's log2; the rounding test allows for that and the accurate path gives the bits
    # of the decay alone (docs/numerics.md).
    want = np.asarray(dec(steps[5:] - 2**24))
    np.testing.assert_array_equal(got[5:], want)
    # a random batch: float64 endpoints over 200 binades, any length up to 2**24
    rng = np.random.default_rng(64)
    n = 300
    ends = [np.where(rng.random(n) < 0.1, 0.0, (1 + rng.random(n)) * 2.0 ** rng.integers(-99, 99, n))
            for _ in range(2)]  # fmt: skip
    w = rng.integers(2, 2**24 + 1, n)
    s = (rng.random(n) * w).astype(np.int64)
    batch = warmup_exponential_decay(ends[0], ends[1], w, 10, 0.5)
    got = np.asarray(jax.vmap(lambda sch, t: sch(t))(batch, jnp.asarray(s)))
    for i in range(n):
        want = float(exact_ramp(ends[0][i], ends[1][i], int(s[i]), int(w[i]), np.float64))
        assert got[i] == want, (ends[0][i], ends[1][i], s[i], w[i], got[i], want)


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"warmup_steps": -1}, ValueError, "warmup_steps must be .* got -1"),
        ({"warmup_steps": 2.5}, ValueError, "warmup_steps must be a whole number.*2.5"),
        ({"warmup_steps": 2**24 + 1}, ValueError, "warmup_steps .*16777217"),
        ({"warmup_steps": True}, TypeError, "warmup_steps must be a number, got a bool"),
        ({"peak_value": -0.1}, ValueError, "peak_value must be 0 or .* got -0.1"),
        ({"peak_value": float("inf")}, ValueError, "peak_value must be finite, got inf"),
        ({"peak_value": float("nan")}, ValueError, "peak_value must be finite, got nan"),
        ({"peak_value": 1e-40}, ValueError, "peak_value must be 0 or between .*1e-40"),
        ({"init_value": -1.0}, ValueError, "init_value must be 0 or .* got -1.0"),
        ({"init_value": "0.1"}, TypeError, "init_value must be a real number"),
        ({"transition_steps": 0}, ValueError, "transition_steps must be a positive .* got 0"),
        ({"decay_rate": -0.5}, ValueError, "decay_rate must be >= 0, got -0.5"),
        ({"transition_begin": -2}, ValueError, "transition_begin must be >= 0, got -2"),
        ({"staircase": 1}, TypeError, "staircase must be a bool, got 1"),
    ],
)
def test_bad_input_names_the_argument_and_value(kwargs, exc, needle):
    args = {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 10,
            "transition_steps": 100, "decay_rate": 0.5, **kwargs}  # fmt: skip
    with pytest.raises(exc, match=needle):
        warmup_exponential_decay(**args)


def test_dict_round_trip_is_strict():
    sched = warmup_exponential_decay(1e-4, 0.1, 100, 1000, 0.96, 5, True, 1e-3)
    d = sched.to_dict()
    assert json.loads(json.dumps(d)) == d
    back = WarmupExponentialDecay.from_dict(d)
    assert back == sched and hash(back) == hash(sched)
    assert np.asarray(back(np.arange(300))).tolist() == np.asarray(sched(np.arange(300))).tolist()
    with pytest.raises(ValueError, match=r"missing required keys \['warmup_steps'\]"):
        WarmupExponentialDecay.from_dict({k: v for k, v in d.items() if k != "warmup_steps"})
    with pytest.raises(ValueError, match=r"unknown keys \['decay_steps', 'lr'\]"):
        WarmupExponentialDecay.from_dict({**d, "lr": 1, "decay_steps": 3})
    with pytest.raises(TypeError, match="only a single schedule"):
        warmup_exponential_decay(0.0, 0.1, np.array([1, 2]), 10, 0.5).to_dict()
    with pytest.raises(AttributeError, match="frozen"):
        sched.warmup_steps = 3  # pyright: ignore[reportAttributeAccessIssue]


def test_no_keras_equivalent_and_the_hint_for_warmup_steps():
    sched = warmup_exponential_decay(0.0, 0.1, 100, 1000, 0.96)
    with pytest.raises(TypeError, match="Keras's ExponentialDecay has no warmup"):
        to_keras(sched)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError, match=r"did you mean jax_expdecay\.warmup_exponential_decay"):
        exponential_decay(0.1, 1000, 0.96, warmup_steps=10)  # pyright: ignore[reportCallIssue]
    assert "warmup_exponential_decay" in jax_expdecay.__all__


@hsettings(max_examples=examples(15, 2000))
@given(
    init=st.one_of(st.just(0.0), st.floats(2.0**-100, 2.0**100)),
    peak=st.one_of(st.just(0.0), st.floats(2.0**-100, 2.0**100)),
    w=st.integers(1, 2**24),
    frac=st.lists(st.floats(0, 1, exclude_max=True), min_size=4, max_size=4),
)
def test_fuzz_ramp_against_fractions(init, peak, w, frac):
    steps = np.array([int(f * w) for f in frac], np.int32)
    got = np.asarray(warmup_exponential_decay(init, peak, w, 10, 0.5)(steps))
    for s, g in zip(steps, got, strict=True):
        want = nearest(exact_ramp(init, peak, int(s), w))
        assert _bits(g) == _bits(want), (init, peak, w, s, g, want)


def test_a_tiny_endpoint_breaks_an_exact_tie():
    """(1 + 3 * 2**-23) * 3 / 4 is an exact float32 midpoint: with the other endpoint 0 it
    rounds to even; any tiny positive other endpoint (down to 2**-100, 100 binades below:
    the clamped path of _ramp.py) must round it up instead."""
    b = 1 + 3 * 2.0**-23
    tie = nearest(Fraction(b) * 3 / 4)
    assert Fraction(b) * 3 / 4 * 2**24 % 1 == Fraction(1, 2)  # a midpoint
    for tiny in (0.0, 2.0**-100, 2.0**-60, 2.0**-30, 1e-20):
        up = warmup_exponential_decay(tiny, b, 4, 10, 0.5)(3)  # tiny * 1/4 + b * 3/4
        down = warmup_exponential_decay(b, tiny, 4, 10, 0.5)(1)  # b * 3/4 + tiny * 1/4
        for got in (up, down):
            want = nearest(exact_ramp(tiny, b, 3, 4))
            assert _bits(got) == _bits(want), (tiny, got, want)
            assert (_bits(got) == _bits(tie)) == (tiny == 0.0)


def test_first_step_below_and_current_learning_rate():
    """first_step_below on a warmup schedule: the exact crossing, checked against the
    exact rate at the answer and the step before; current_learning_rate reads it in an
    optax adam state like any schedule."""
    from jax_expdecay import current_learning_rate, first_step_below

    cases = [
        ((0.07, 0.1, 100, 1000, 0.5, 0, True), 0.06, 1100),  # rises, then the first stair
        ((0.0, 0.1, 100, 1000, 0.5), 1e-3, 0),  # starts below
        ((1.0, 0.1, 10, 1000, 0.5), 0.5, 6),  # a falling ramp: 1 - 0.9 s / 10 < 0.5
        ((1.0, 0.1, 10, 1000, 0.5, 0, False, 0.2), 0.15, None),  # the end_value floor
        ((0.0, 0.1, 0, 10, 0.5, 0, True), 0.1, 10),  # no warmup: the decay's answer
    ]
    for args, value, want in cases:
        sched = warmup_exponential_decay(*args)
        got = first_step_below(sched, value)
        assert got == want, (args, value, got)
        if got:  # below at got, not at got - 1 (exact rates)
            w = args[2]
            for s, below in ((got, True), (got - 1, False)):
                if s < w:
                    rate = exact_ramp(args[0], args[1], s, w)
                else:
                    tb, staircase, ev = (*args, *(0, False, None)[len(args) - 5 :])[5:]
                    rate = exact_lr(
                        args[1], args[3], args[4], s - w, bool(staircase), int(tb or 0), ev
                    )
                # mpmath 1.3 (our lowest allowed) cannot compare an mpf with a Fraction
                ref = Fraction(value) if isinstance(rate, Fraction) else mpmath.mpf(float(value))
                assert (rate < ref) == below, (args, s)
    sched = warmup_exponential_decay(0.0, 0.1, 10, 100, 0.5)
    tx = optax.adam(sched)
    params = jnp.zeros(2)
    state = tx.init(params)
    with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict-promotion clean
        for _ in range(3):
            _, state = tx.update(jnp.ones(2), state, params)
    want = nearest(exact_ramp(0.0, 0.1, 3, 10))  # float32(0.1) * 3 / 10, rounded once
    assert float(current_learning_rate(sched, state)) == float(sched(3)) == want


def test_pickle_copy_and_hyperparameters_traced_inside_jit():
    import copy
    import pickle

    sched = warmup_exponential_decay(1e-4, 0.1, 50, 100, 0.5, 2, True, 1e-3)
    for back in (pickle.loads(pickle.dumps(sched)), copy.deepcopy(sched), copy.copy(sched)):
        assert back == sched and type(back) is WarmupExponentialDecay
    steps = jnp.arange(0, 400, 3, dtype=jnp.int32)

    @jax.jit
    def built_inside(init, peak, warm):
        return warmup_exponential_decay(init, peak, warm, 100, 0.5, 2, True, 1e-3)(steps)

    got = np.asarray(built_inside(1e-4, 0.1, 50))
    want = np.asarray(sched(steps))
    ramp = np.asarray(steps) < 50
    np.testing.assert_array_equal(got[ramp], want[ramp])  # the ramp: exact either way
    # the decay: a traced config's constants are made on the device (see _numerics.py)
    np.testing.assert_allclose(got[~ramp], want[~ramp], rtol=2**-23, atol=0)
    # invalid traced values give NaN at every step (concrete ones raise at construction)
    for init, peak, warm in ((1e-4, 0.1, -1), (-1.0, 0.1, 50), (1e-4, 1e-35, 50)):
        assert np.isnan(np.asarray(built_inside(init, peak, warm))).all(), (init, peak, warm)


def test_every_ramp_step_of_five_configs_against_optax():
    """Every step of five warmups (15,238 steps): ours is the nearest float32 at each;
    optax's ramp ``(init - peak) * (1 - s / w) + peak`` in float32 is not at about half
    (8,021 with optax 0.2.8, the number docs/optax-flax.md quotes)."""
    total = optax_off = 0
    for init, peak, w in [(0.0, 0.1, 1000), (1e-4, 3e-3, 41), (0.0, 1.0, 4097),
                          (0.3, 0.1, 100), (0.0, 7e-4, 10_000)]:  # fmt: skip
        steps = jnp.arange(w, dtype=jnp.int32)
        theirs = optax.warmup_exponential_decay_schedule(init, peak, w, 100, 0.5)
        with jax.numpy_dtype_promotion("standard"):
            o = np.asarray(jax.jit(theirs)(steps), np.float32)
        g = np.asarray(jax.jit(warmup_exponential_decay(init, peak, w, 100, 0.5))(steps))
        for s in range(w):
            want = _bits(nearest(exact_ramp(init, peak, s, w)))
            assert _bits(g[s]) == want, (init, peak, w, s)
            optax_off += _bits(o[s]) != want
            total += 1
    assert total == 15_238
    assert 0.4 * total < optax_off < 0.65 * total, optax_off
    if optax.__version__ == "0.2.8" and jax.default_backend() == "cpu":
        assert optax_off == 8021  # on an H200 (jax 0.11.2): 8,162 (XLA:GPU's float32 ops)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_traced_subnormal_endpoints_are_zero_on_every_backend(sign):
    """A traced init_value or peak_value below 2^-126 is 0 (of its sign): XLA:CPU's
    arithmetic flushes it, XLA:GPU's does not (there it was NaN: neither 0 nor in range)."""
    steps = np.asarray([0, 1, 5, 9, 10, 11, 50], np.int32)
    tiny = np.float32(sign * 1e-40)
    zero = np.float32(sign * 0.0)
    ramp_of = jax.jit(lambda a: warmup_exponential_decay(a, 0.1, 10, 100, 0.5)(steps))
    want = warmup_exponential_decay(zero, 0.1, 10, 100, 0.5)(steps)
    assert np.asarray(ramp_of(tiny)).tobytes() == np.asarray(want).tobytes()
    if sign > 0:
        peak_of = jax.jit(lambda b: warmup_exponential_decay(0.0, b, 10, 100, 0.5)(steps))
        want = warmup_exponential_decay(0.0, 0.0, 10, 100, 0.5)(steps)
        assert np.asarray(peak_of(tiny)).tobytes() == np.asarray(want).tobytes()
