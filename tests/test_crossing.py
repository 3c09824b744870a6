"""``first_step_below``: brute force against an exact rational oracle, and fuzzing.

The oracle decides ``lr(step) < value`` with no logarithms and no rounding: for
``p = n / m``, ``init * rate ** p < value`` iff ``rate ** n < (value / init) ** m``
(positive ``init``; mirrored for negative), in Python fractions. Ties (the rate exactly
equal to the value) are built in on purpose: equal is not below.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_p

from jax_expdecay import (
    ExponentialDecayConfig,
    checked,
    exponential_decay,
    first_step_below,
    stack,
)
from jax_expdecay._crossing import _first_step_above, _iroot, _is_tie


@functools.lru_cache(maxsize=1 << 16)
def _ipow(base: int, n: int) -> int:
    return base**n


def _pow_vs(rate: Fraction, p: Fraction, c: Fraction) -> int:
    """The sign of ``rate ** p - c`` (rate > 0, c > 0, p >= 0), exactly: with
    ``p = n / m``, ``rate ** n`` against ``c ** m``, cross-multiplied in integers."""
    n, m = p.numerator, p.denominator
    lhs = _ipow(rate.numerator, n) * _ipow(c.denominator, m)
    rhs = _ipow(c.numerator, m) * _ipow(rate.denominator, n)
    return (lhs > rhs) - (lhs < rhs)


def _below(cfg: ExponentialDecayConfig, step: int, value: Fraction) -> bool:
    """Exactly: is the schedule's real-number rate at ``step`` below ``value``?"""
    init, rate = Fraction(float(cfg.initial_learning_rate)), Fraction(float(cfg.decay_rate))
    p = exact_p(step, int(cfg.decay_steps), cfg.staircase, int(cfg.transition_begin))
    if p is None or p == 0:
        raw_below = init < value
    elif rate == 0 or init == 0:
        raw_below = 0 < value
    elif init > 0:
        raw_below = value > 0 and _pow_vs(rate, p, value / init) < 0
    else:
        raw_below = value >= 0 or _pow_vs(rate, p, value / init) > 0
    if cfg.end_value is None:
        return raw_below
    end_below = Fraction(float(cfg.end_value)) < value
    if float(cfg.decay_rate) < 1:  # max(raw, end)
        return raw_below and end_below
    return raw_below or end_below  # min(raw, end)


def _brute(cfg: ExponentialDecayConfig, value: Fraction, limit: int) -> int | None:
    return next((s for s in range(limit) if _below(cfg, s, value)), None)


INITS = [1.0, 0.1, 3e-4, -1.0, 0.0]
RATES = [0.0, 0.25, 0.5, 0.9, 0.96, 1.0, 1.5, 2.0, 4.0]


def _values(init: float, rate: float) -> list[Fraction]:
    """Thresholds that make ties likely: init * rate ** (j / 2), and others."""
    i, r = Fraction(init), Fraction(rate)
    out = {i, i / 2, i / 3, i * 2, Fraction(1, 10), Fraction(0), Fraction(-1, 2), Fraction(7)}
    out |= {i * r**j for j in range(6)}
    if rate == 0.25:  # rate ** (1 / 2) == 1/2 exactly: ties at half stairs
        out |= {i / 2, i / 8, i * Fraction(1, 2) ** 5}
    if rate == 4.0:
        out |= {i * 2, i * 8}
    return sorted(out)


CONFIGS = [
    ExponentialDecayConfig(init, d, rate, staircase=sc, transition_begin=tb, end_value=ev)
    for init, rate, d, sc, tb, ev in itertools.product(
        INITS, RATES, [1, 3, 10], [False, True], [0, 5], [None, 0.05]
    )
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.initial_learning_rate},{c.decay_rate},"
                         f"{c.decay_steps},{c.staircase},{c.transition_begin},{c.end_value}")  # fmt: skip
def test_brute_force_small_configs(cfg):
    """Every step from 0 up to where the answer must be, for ~17 thresholds each (many
    of them exact ties): the answer is the first step the oracle says is below."""
    limit = 250
    for value in _values(float(cfg.initial_learning_rate), float(cfg.decay_rate)):
        got = first_step_below(cfg, value)
        want = _brute(cfg, value, limit)
        if want is not None:
            assert got == want, (value, got, want)
        else:  # not within the limit: never, or later (then exact there and before)
            assert got is None or got >= limit, (value, got)
            if got is not None:
                assert _below(cfg, got, value) and not _below(cfg, got - 1, value)


def test_brute_force_counts():
    """Guard against a vacuous sweep: the configs above give many finite answers, many
    exact ties and many Nones."""
    finite = ties = nones = 0
    for cfg in CONFIGS:
        for value in _values(float(cfg.initial_learning_rate), float(cfg.decay_rate)):
            got = first_step_below(cfg, value)
            if got is None:
                nones += 1
                continue
            finite += 1
            if got > 0:  # the step before is not below; exactly equal there?
                init, rate = (
                    Fraction(float(cfg.initial_learning_rate)),
                    Fraction(float(cfg.decay_rate)),
                )
                p = exact_p(got - 1, int(cfg.decay_steps), cfg.staircase,
                            int(cfg.transition_begin))  # fmt: skip
                if p and init and rate and _pow_vs(rate, p, value / init) == 0:
                    ties += 1
    assert len(CONFIGS) == 1080
    assert finite > 6_000 and nones > 3_000 and ties > 1_000, (finite, nones, ties)


@pytest.mark.parametrize(
    ("cfg", "value", "want"),
    [
        (ExponentialDecayConfig(1.0, 10, 0.5), 0.5, 11),  # equal at 10
        (ExponentialDecayConfig(1.0, 10, 0.5, staircase=True), 0.5, 20),  # equal on stair 1
        (ExponentialDecayConfig(1.0, 2, 0.25), 0.5, 2),  # 0.25 ** (1/2) == 0.5 at step 1
        (ExponentialDecayConfig(1.0, 10, 0.25, transition_begin=7), 0.5, 13),
        (ExponentialDecayConfig(1.0, 3, 0.125), 0.5, 2),  # 0.125 ** (1/3) == 0.5 at 1
        (ExponentialDecayConfig(1.0, 1, 1.0), 1.0, None),  # constant
        (ExponentialDecayConfig(1.0, 1, 1.0), 1.5, 0),
        (ExponentialDecayConfig(1.0, 1, 2.0), 0.5, None),  # growing from above
        (ExponentialDecayConfig(1.0, 1, 2.0, end_value=0.25), 0.5, 0),  # cap below value
        (ExponentialDecayConfig(1.0, 1, 0.5, end_value=0.5), 0.5, None),  # floor == value
        (ExponentialDecayConfig(1.0, 1, 0.5, end_value=0.25), 0.5, 2),
        (ExponentialDecayConfig(1.0, 1, 0.5), 0.0, None),  # positive forever
        (ExponentialDecayConfig(1.0, 5, 0.0, staircase=True, transition_begin=3), 1e-300, 8),
        (ExponentialDecayConfig(1.0, 5, 0.0, transition_begin=3), 1e-300, 4),
        (ExponentialDecayConfig(-1.0, 10, 2.0), -2.0, 11),  # falls to -inf
        (ExponentialDecayConfig(-1.0, 10, 0.5), -2.0, None),  # rises to 0
        (ExponentialDecayConfig(0.0, 10, 0.5), 0.0, None),
        (ExponentialDecayConfig(0.0, 10, 0.5), 1e-9, 0),
    ],
)
def test_documented_cases(cfg, value, want):
    assert first_step_below(cfg, value) == want
    assert first_step_below(exponential_decay(cfg), value) == want  # a schedule too
    assert first_step_below(checked(cfg), value) == want  # and checked(...)'s wrapper


def test_matches_the_float32_schedule_at_the_crossing():
    """At the answer, the library's float32 value is at most value (the exact rate is
    below it, rounding can land on it); the step before, at least value."""
    for rate, d, sc in [(0.96, 1000, False), (0.5, 41, True), (0.9, 7, False)]:
        sched = exponential_decay(0.1, d, rate, staircase=sc)
        for value in (0.05, 0.01, 0.001, 1e-5):
            s = first_step_below(sched, value)
            assert s is not None
            v32 = np.float32(value)
            assert sched(np.int32(s)) <= v32 <= sched(np.int32(s - 1)), (rate, value, s)


def test_huge_steps_are_exact_python_ints():
    """A rate a hair below 1 crosses 1e-30 past int64; the step is still exact."""
    rate = 1 - 2.0**-53  # the largest double below 1
    cfg = ExponentialDecayConfig(1.0, 100, rate)
    s = first_step_below(cfg, 1e-30)
    assert isinstance(s, int) and s > 2**63
    with mpmath.workdps(80):
        ln_rate, ln_v = mpmath.log(mpmath.mpf(rate)), mpmath.log(mpmath.mpf(1e-30))
        assert mpmath.mpf(s) / 100 * ln_rate < ln_v < mpmath.mpf(s - 1) / 100 * ln_rate
        stairs = first_step_below(cfg.replace(staircase=True), 1e-30)
        assert stairs is not None and stairs % 100 == 0
        k = stairs // 100
        assert k * ln_rate < ln_v < (k - 1) * ln_rate


def test_above_mirrors_below():
    """The CLI's growth crossings: first step above a value, with ties and caps."""
    assert _first_step_above(ExponentialDecayConfig(1.0, 10, 2.0), 2.0) == 11  # equal at 10
    assert _first_step_above(ExponentialDecayConfig(1.0, 10, 2.0, end_value=2.0), 2.0) is None
    assert _first_step_above(ExponentialDecayConfig(1.0, 10, 0.5), 2.0) is None
    assert _first_step_above(ExponentialDecayConfig(1.0, 10, 0.5), 0.5) == 0
    cfg = ExponentialDecayConfig(1e-6, 7, 1.05, staircase=True)
    for k in range(-5, 3):
        s = _first_step_above(cfg, Fraction(10) ** k)
        assert s is not None and s % 7 == 0
        assert mpmath.mpf(1e-6) * mpmath.mpf(1.05) ** (s // 7) > mpmath.mpf(10) ** k
        assert mpmath.mpf(1e-6) * mpmath.mpf(1.05) ** (s // 7 - 1) <= mpmath.mpf(10) ** k


def test_iroot_and_tie_helpers():
    for n in [0, 1, 2, 3**40, 3**40 + 1, 2**1074, 7**11 * 5**22]:
        for k in [1, 2, 3, 11, 22, 40, 1074, 5000]:
            r = _iroot(n, k)
            exact = [x for x in ([round(n ** (1 / k))] if n < 2**1000 else []) if x**k == n]
            if r is not None:
                assert r**k == n
            elif n < 2**1000:
                assert not exact, (n, k)
    assert _iroot(2**1074, 1074) == 2 and _iroot(2**1074, 537) == 4 and _iroot(2**1074, 5) is None
    assert _is_tie(Fraction(1, 4), Fraction(1, 2), 1, 2)
    assert _is_tie(Fraction(1, 4), Fraction(1, 8), 3, 2)
    assert not _is_tie(Fraction(1, 4), Fraction(1, 8), 2, 2)
    assert _is_tie(Fraction(9, 4), Fraction(27, 8), 6, 4)  # (3/2)**2 and (3/2)**3
    assert _is_tie(Fraction(1, 2), Fraction(1), 0, 5)  # rate ** 0 == 1
    assert not _is_tie(Fraction(1, 2), Fraction(1, 3), 0, 5)
    assert _is_tie(Fraction(1, 2), Fraction(1, 2) ** 40, 40, 1)


@pytest.mark.parametrize(
    ("schedule", "value", "err", "needle"),
    [
        ("x", 0.1, TypeError, "schedule must be an ExponentialDecay"),
        ({"initial_learning_rate": 1.0}, 0.1, TypeError, "schedule must be"),
        (ExponentialDecayConfig(1.0, 10, 0.5), True, TypeError, "got a bool"),
        (ExponentialDecayConfig(1.0, 10, 0.5), "0.1", TypeError, "value must be a real number"),
        (ExponentialDecayConfig(1.0, 10, 0.5), [0.1], TypeError, "value must be a real number"),
        (ExponentialDecayConfig(1.0, 10, 0.5), np.zeros(2), TypeError, "real scalar"),
        (ExponentialDecayConfig(1.0, 10, 0.5), 1j, TypeError, "value must be a real number"),
        (ExponentialDecayConfig(1.0, 10, 0.5), float("nan"), ValueError, "finite, got nan"),
        (ExponentialDecayConfig(1.0, 10, 0.5), -np.inf, ValueError, "finite, got -inf"),
    ],
)
def test_bad_input(schedule, value, err, needle):
    with pytest.raises(err, match=needle):
        first_step_below(schedule, value)


def test_accepts_numpy_and_jax_scalars_and_fractions():
    cfg = ExponentialDecayConfig(np.float32(1.0), np.int64(10), 0.5)
    want = first_step_below(cfg, 0.25)
    assert want == 21  # equal at 20
    for v in (np.float64(0.25), np.float32(0.25), jnp.float32(0.25), Fraction(1, 4), 0.25):
        assert first_step_below(cfg, v) == want
    assert first_step_below(cfg, 1) == 1 and first_step_below(cfg, np.int8(1)) == 1


def test_batched_and_traced_configs_are_refused():
    batch = stack([ExponentialDecayConfig(1.0, 10, 0.5), ExponentialDecayConfig(1.0, 10, 0.25)])
    with pytest.raises(TypeError, match=r"array of shape \(2,\) \(a batch\).*unstack"):
        first_step_below(batch, 0.1)

    def inside(rate):
        return first_step_below(ExponentialDecayConfig(1.0, 10, rate), 0.1)

    with pytest.raises(TypeError, match="decay_rate is a JAX tracer"):
        jax.jit(inside)(0.5)
    with pytest.raises(TypeError, match="value must be a concrete number"):
        jax.jit(lambda v: first_step_below(ExponentialDecayConfig(1.0, 10, 0.5), v))(0.1)


_FUZZ = {"tried": 0, "finite": 0, "none": 0}


@settings(max_examples=400)
@given(
    init=st.floats(1e-8, 10.0) | st.floats(-10.0, -1e-8),
    # 0, or a rate the config's float32 leaves can carry with x64 off (smaller ones are
    # refused: tests/test_bad_input.py)
    rate=st.just(0.0) | st.floats(2.0**-126, 3.0),
    d=st.integers(1, 10**6),
    tb=st.integers(0, 10**6),
    staircase=st.booleans(),
    end=st.none() | st.floats(1e-12, 1.0),
    value=st.floats(-1.0, 20.0) | st.floats(1e-30, 1e-3),
)
def test_fuzz_against_mpmath(init, rate, d, tb, staircase, end, value):
    """Random configs: the answer is below (exactly, 300-bit mpmath), the step or stair
    before is not; None is checked far out (the rate is monotone)."""
    cfg = ExponentialDecayConfig(init, d, rate, staircase=staircase, transition_begin=tb,
                                 end_value=end)  # fmt: skip
    _FUZZ["tried"] += 1
    got = first_step_below(cfg, value)

    def below(step: int) -> bool:
        with mpmath.workprec(300):
            p = exact_p(step, d, staircase, tb)
            lr = mpmath.mpf(init)
            if p is not None and p != 0:
                r = mpmath.mpf(rate)
                lr = lr * r ** (mpmath.mpf(p.numerator) / p.denominator) if rate else lr * 0
            if end is not None:
                lr = max(lr, mpmath.mpf(end)) if rate < 1 else min(lr, mpmath.mpf(end))
            return lr < mpmath.mpf(value)

    if got is None:
        _FUZZ["none"] += 1
        assert not below(0) and not below(tb + d * 10**12)
    else:
        _FUZZ["finite"] += 1
        assert below(got)
        if got > 0:
            assert not below(got - 1)


def test_fuzz_counts():
    """Runs after the fuzz test (file order): it tried many, with both outcomes."""
    if _FUZZ["tried"] == 0:
        pytest.skip("run with test_fuzz_against_mpmath")
    assert _FUZZ["finite"] >= 100 and _FUZZ["none"] >= 20, _FUZZ
