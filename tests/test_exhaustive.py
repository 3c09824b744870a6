"""Correct rounding without exception: the CI slice of ``benchmarks/bench_exhaustive.py``
and the exact cases (ties, held values, ``end_value``) of issue 16, by name.

The full exhaustive runs (every int32 step) take minutes per config and stay out of CI;
their table is in docs/numerics.md. Here: the checker's self-test (planted one-ulp errors
and swapped stair boundaries are all reported; the float64 filter agrees with mpmath),
windows of steps around the steps that were one ulp off before the accurate path, and
exact ties in every output dtype against ``fractions.Fraction``.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys
from fractions import Fraction

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from jax_expdecay import ExponentialDecayConfig, exponential_decay

_PATH = pathlib.Path(__file__).parent.parent / "benchmarks" / "bench_exhaustive.py"
_spec = importlib.util.spec_from_file_location("bench_exhaustive", _PATH)
assert _spec is not None and _spec.loader is not None
be = importlib.util.module_from_spec(_spec)
sys.modules["bench_exhaustive"] = be  # dataclasses look their module up
_spec.loader.exec_module(be)

# The first 10 of the 225 steps of the Keras documentation example (continuous) that were
# one ulp off before the accurate path (bench_exhaustive.py over all 2^31 steps).
KNOWN_BAD = [
    750390, 2232630, 3884015, 10235751, 12892327,
    15658333, 23815629, 26060165, 26809114, 28091075,
]  # fmt: skip


def test_checker_self_test():
    """Every planted one-ulp error and swapped stair boundary is reported; the filter
    agrees with pure mpmath on random steps."""
    counts = be.selftest(n=2**14, samples=40)
    assert all(v > 0 for v in counts.values()), counts


def test_checker_reports_the_old_kernel_errors():
    """The checker itself finds a one-ulp error at a known step: feed it the old answer."""
    cfg, fmt = be.CONFIGS["keras"], be.FMTS["float32"]

    def old(steps):
        out = np.asarray(be.make_schedule(cfg, False, fmt)(jnp.asarray(steps))).view(np.uint32)
        return np.where(steps == 750390, np.uint32(0x3D96C35A), out)

    res = be.check_range(cfg, False, fmt, 750390 - 100, 750390 + 100, ours=old)
    assert res.mismatches == 1 and res.first == [(750390, 0x3D96C35A, 0x3D96C35B)]


@pytest.mark.parametrize("staircase", [False, True])
def test_keras_example_slice(staircase):
    """2^16 steps around each known bad step (10 windows, 655,360 steps): 0 mismatches."""
    cfg, fmt = be.CONFIGS["keras"], be.FMTS["float32"]
    sched = be.make_schedule(cfg, staircase, fmt)

    def ours(steps):
        return np.asarray(sched(jnp.asarray(steps))).view(np.uint32)

    total = 0
    for s in KNOWN_BAD:
        res = be.check_range(cfg, staircase, fmt, s - 2**15, s + 2**15, ours=ours, chunk=2**16)
        assert res.mismatches == 0, res.first
        total += res.checked
    assert total == 10 * 2**16


def test_first_bad_step_by_name():
    s = exponential_decay(0.1, 100_000, 0.96)
    assert np.asarray(jax.jit(s)(750390)).view(np.uint32) == 0x3D96C35B
    assert np.asarray(s(750390)).view(np.uint32) == 0x3D96C35B


# ----------------------------------------------------------------------------------------
# Exact cases (issue 16's examples by name).
# ----------------------------------------------------------------------------------------
def test_float16_tie_three_quarters_to_the_seventh():
    got = exponential_decay(jnp.float16(1), 1, 0.75, staircase=True)(7)
    assert got.dtype == jnp.float16 and float(got) == 0.133544921875  # 0.75**7, to even


def test_float16_tie_one_and_a_half_to_the_seventh():
    got = exponential_decay(jnp.float16(1), 2, 1.5, staircase=True)(14)
    assert float(got) == 17.09375


def test_float16_tie_at_the_smallest_normal():
    # 65504 * 2**-30: exactly between 2**-14 and the float16 below it; even is 2**-14
    got = exponential_decay(jnp.float16(65504), 1, 0.5, staircase=True)(30)
    assert float(got) == 2.0**-14


def test_bfloat16_tie_rate_just_above_one():
    got = exponential_decay(jnp.bfloat16(0.5), 1, 1 + 2**-8, staircase=True)(1)
    assert got.dtype == jnp.bfloat16 and float(got) == 0.5


def test_held_value_is_the_nearest_float_of_init():
    init = 1 + 2**-24 + 2**-50
    want = float(np.float32(init))  # 1.0000001
    assert want == 1.0000001192092896
    for sched in (exponential_decay(init, 1, 0.5), exponential_decay(init, 10, 1.0)):
        assert float(sched(0)) == want
    assert float(exponential_decay(init, 10, 1.0)(12345)) == want  # rate 1: never moves


def test_end_value_rounded_once_bfloat16():
    got = exponential_decay(jnp.bfloat16(2.0), 1, 0.5, end_value=1 + 2**-8 + 2**-30)(100)
    assert float(got) == 1.0078125


def test_end_value_rounded_once_float16():
    got = exponential_decay(jnp.float16(2.0), 1, 0.5, end_value=1 + 2**-11 + 2**-30)(100)
    assert float(got) == 1.0009765625


# ----------------------------------------------------------------------------------------
# Ties in every dtype against fractions.Fraction.
# ----------------------------------------------------------------------------------------
_FORMATS = {  # significant bits, smallest normal exponent, largest finite exponent
    "float32": (24, -126, 127, np.float32),
    "bfloat16": (8, -126, 127, ml_dtypes.bfloat16),
    "float16": (11, -14, 15, np.float16),
}


def round_fraction(q: Fraction, bits: int, emin: int, emax: int) -> float:
    """``q >= 0`` rounded to nearest-even with ``bits`` significant bits, gradual
    underflow below 2^emin, inf beyond the largest finite value: exactly."""
    if q == 0:
        return 0.0
    e = math.floor(math.log2(q.numerator) - math.log2(q.denominator))
    while Fraction(2) ** e > q:
        e -= 1
    while Fraction(2) ** (e + 1) <= q:
        e += 1
    quantum = Fraction(2) ** (max(e, emin) - bits + 1)
    n, r = divmod(q, quantum)
    n = int(n)
    if r > quantum / 2 or (r == quantum / 2 and n % 2 == 1):
        n += 1
    val = n * quantum
    if val > (2 - Fraction(2) ** (1 - bits)) * Fraction(2) ** emax:
        return math.inf
    return float(val)


@st.composite
def dyadic_cases(draw):
    name = draw(st.sampled_from(sorted(_FORMATS)))
    bits = _FORMATS[name][0]
    init = Fraction(draw(st.integers(1, 2 ** min(bits + 1, 13))), 2 ** draw(st.integers(0, 12)))
    odd = draw(st.sampled_from([1, 3, 5, 7, 9, 11, 13, 15]))
    rate = Fraction(odd, 2 ** draw(st.integers(0, 5)))
    if rate == 0 or rate == 1:
        rate = Fraction(3, 4)
    n = draw(st.integers(0, 12))
    return name, init, rate, n


@jax.jit
def _traced(init, rate, n):
    return exponential_decay(ExponentialDecayConfig(init, 1, rate, staircase=True))(n)


@settings(max_examples=examples(25, 600))
@given(dyadic_cases())
def test_dyadic_ties_against_fractions(case):
    """init, rate dyadic, p an integer: the value is exact, often a midpoint of the
    output format; ours must be its ties-to-even rounding, host-built and traced."""
    name, init, rate, n = case
    bits, emin, emax, dt = _FORMATS[name]
    init_f = float(init)
    if float(dt(init_f)) != init_f:  # init must be a value of the dtype itself
        return
    exact = init * rate**n
    want = round_fraction(exact, bits, emin, emax)
    if want != 0 and abs(want) < 2.0**emin:  # subnormal outputs: not claimed (flushed)
        return
    if name == "float32" and want == 0:
        return
    typed = jnp.asarray(init_f, dt) if name != "float32" else init_f
    sched = exponential_decay(typed, 1, float(rate), staircase=True)
    got = float(sched(n))
    assert got == want, (name, init, rate, n, got, want)
    # the same config built inside jit (traced values) gives the same bits
    traced = _traced(jnp.asarray(init_f, dt), jnp.asarray(float(rate), jnp.float32), n)
    assert float(traced) == want, (name, init, rate, n, float(traced), want)
