"""``_exp.exp2_64``: our own ``2 ** (t/64)`` from IEEE + - x, correctly rounded float32.

Checked against mpmath (160 bits) on random double-float arguments over the whole range,
every power of two, both ends of the range (largest finite, smallest normal and what
rounds to it, overflow), near-midpoint arguments, and the constant tables against
``fractions``/mpmath. The benchmark (``benchmarks/bench_accuracy.py``) runs 10^6 random
arguments; CI runs fewer.
"""

from __future__ import annotations

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from jax_expdecay._exp import F32, _split, exp2_64, tables

NEAR, T3 = tables().near, tables().t3
T1 = (NEAR.view(np.int32) & np.int32(~0xFFF)).view(np.float32)
T2 = NEAR - T1
C1, C2, C3 = tables().c1, tables().c2, tables().c3

mpmath.mp.prec = 160
TINY = np.float32(2.0**-126)
exp2 = jax.jit(exp2_64)
exp2_odd = jax.jit(lambda h, lo: exp2_64(h, lo, round_to_odd=True))


def _sig_bits(x) -> int:
    """Significant bits of a float (0 for 0)."""
    if x == 0:
        return 0
    m = Fraction(float(x))
    while m.denominator != 1:
        m *= 2
    n = abs(m.numerator)
    while n % 2 == 0:
        n //= 2
    return n.bit_length()


def _correct(t_hi, t_lo) -> np.ndarray:
    """The float32 nearest ``2 ** ((t_hi + t_lo)/64)``, with results below 2^-126 flushed
    to 0 (those that round to 2^-126 kept), computed in mpmath."""
    out = []
    for h, lo in zip(np.asarray(t_hi, np.float64), np.asarray(t_lo, np.float64), strict=True):
        v = mpmath.power(2, (mpmath.mpf(h) + mpmath.mpf(lo)) / 64)
        out.append(_round32(v))
    return np.asarray(out, np.float32)


def _round32(v: mpmath.mpf) -> np.float32:
    """Round-to-nearest-even to float32 of a positive mpf, with gradual underflow, then
    flush what is below the smallest normal."""
    if v >= mpmath.mpf(2) ** 128 * (1 - mpmath.mpf(2) ** -25):
        return np.float32(np.inf)
    m, e = mpmath.frexp(v)  # v = m 2^e, m in [0.5, 1)
    e = max(int(e), -125)  # subnormal grid below 2^-126
    q = m * mpmath.mpf(2) ** (int(mpmath.frexp(v)[1]) - e + 24)
    n = int(mpmath.floor(q))
    frac = q - n
    if frac > 0.5 or (frac == 0.5 and n % 2 == 1):
        n += 1
    r = math.ldexp(n, e - 24)
    return np.float32(0.0) if r < 2.0**-126 else np.float32(r)


def _random_args(n: int, seed: int, lo: float = -8500.0, hi: float = 8300.0):
    rng = np.random.default_rng(seed)
    t_hi = rng.uniform(lo, hi, n).astype(np.float32)
    ulp = np.spacing(np.abs(t_hi)).astype(np.float64)
    t_lo = (rng.uniform(-0.5, 0.5, n) * ulp).astype(np.float32)
    return t_hi, t_lo


def test_tables_regenerate_exactly():
    """T1 + T2 + T3 = 2^(j/64) within 2^-48; T1, T2 have <= 12 bits; T1 + T2 is the nearest
    float32. ln2/64 = C1 + C2 + C3 within 2^-48 with C1, C2 of <= 12 bits."""
    for j in range(64):
        exact = mpmath.power(2, mpmath.mpf(j) / 64)
        total = mpmath.mpf(float(T1[j])) + mpmath.mpf(float(T2[j])) + mpmath.mpf(float(T3[j]))
        assert abs(total - exact) / exact < mpmath.mpf(2) ** -48, j
        assert _sig_bits(T1[j]) <= 12 and _sig_bits(T2[j]) <= 12, j
        near = np.float32(T1[j] + T2[j])
        assert float(near) == float(T1[j]) + float(T2[j])  # the sum is exact
        assert abs(mpmath.mpf(float(near)) - exact) <= mpmath.mpf(float(np.spacing(near))) / 2
    c = mpmath.log(2) / 64
    total = mpmath.mpf(float(C1)) + mpmath.mpf(float(C2)) + mpmath.mpf(float(C3))
    assert abs(total - c) / c < mpmath.mpf(2) ** -48
    assert _sig_bits(C1) <= 12 and _sig_bits(C2) <= 12


def test_random_arguments_whole_range_correctly_rounded():
    t_hi, t_lo = _random_args(20_000, seed=0)
    got = np.asarray(exp2(t_hi, t_lo))
    want = _correct(t_hi, t_lo)
    bad = np.nonzero(got.view(np.int32) != want.view(np.int32))[0]
    assert bad.size == 0, [(t_hi[i], t_lo[i], got[i], want[i]) for i in bad[:5]]


def test_every_power_of_two_exact():
    k = np.arange(-126, 128)
    t_hi = (64.0 * k).astype(np.float32)
    got = np.asarray(exp2(t_hi, np.zeros_like(t_hi)))
    np.testing.assert_array_equal(got, np.ldexp(np.float32(1), k).astype(np.float32))


def test_exactly_representable_values_exact():
    """2^(t/64) with t the double-float of 64 log2(m), m a random float32: exactly m."""
    rng = np.random.default_rng(1)
    m = np.exp(rng.uniform(-87, 88, 3000)).astype(np.float32)
    t = [64 * mpmath.log(mpmath.mpf(float(x)), 2) for x in m]
    t_hi = np.asarray([float(x) for x in t], np.float64).astype(np.float32)
    t_lo = np.asarray([float(x - mpmath.mpf(float(h))) for x, h in zip(t, t_hi, strict=True)])
    got = np.asarray(exp2(t_hi, t_lo.astype(np.float32)))
    np.testing.assert_array_equal(got, m)


def test_near_midpoints():
    """Values within 2^-40 (relative) of a rounding midpoint, on both sides."""
    rng = np.random.default_rng(2)
    m = np.exp(rng.uniform(-80, 80, 1500)).astype(np.float32)
    t_hi, t_lo = [], []
    for i, x in enumerate(m):
        mid = mpmath.mpf(float(x)) + mpmath.mpf(float(np.spacing(x))) / 2
        v = mid * (1 + (1 if i % 2 else -1) * mpmath.mpf(2) ** -40 * (1 + rng.uniform()))
        t = 64 * mpmath.log(v, 2)
        h = np.float32(float(t))
        t_hi.append(h)
        t_lo.append(np.float32(float(t - mpmath.mpf(float(h)))))
    t_hi, t_lo = np.asarray(t_hi), np.asarray(t_lo)
    got = np.asarray(exp2(t_hi, t_lo))
    want = _correct(t_hi, t_lo)
    np.testing.assert_array_equal(got, want)
    # and they are genuinely either side: half round up, half down
    assert np.sum(got > m) > 600 and np.sum(got == m) > 600


def test_range_edges():
    """Around FLT_MAX, overflow, the smallest normal and what rounds up to it."""
    big = np.float32(64 * 128)
    edges = []
    for center in (64 * 128, -64 * 126, 64 * 127.99999, -64 * 125.99999):
        h = np.float32(center)
        for k in range(-40, 41):
            hh = np.nextafter(h, np.float32(np.inf * np.sign(k))) if k else h
            for _ in range(abs(k) - 1):
                hh = np.nextafter(hh, np.float32(np.inf * np.sign(k)))
            for lo in (-0.4, -0.1, 0.0, 0.1, 0.4):
                edges.append((hh, np.float32(lo * float(np.spacing(hh)))))
    t_hi = np.asarray([e[0] for e in edges], np.float32)
    t_lo = np.asarray([e[1] for e in edges], np.float32)
    got = np.asarray(exp2(t_hi, t_lo))
    want = _correct(t_hi, t_lo)
    np.testing.assert_array_equal(got, want)
    assert np.isinf(got).any() and (got > 3.4e38).any()
    assert (got == TINY).any() and (got == 0).any() and (got < 1.2e-38).any()
    assert np.isinf(np.asarray(exp2(big + 1, np.float32(0))))
    # the largest finite float32 and its overflow threshold FLT_MAX + ulp/2 (ties: inf)
    fmax = np.finfo(np.float32).max
    for v, want in (
        (mpmath.mpf(float(fmax)), fmax),
        (mpmath.mpf(2) ** 128 * (1 - mpmath.mpf(2) ** -25) * (1 - mpmath.mpf(2) ** -40), fmax),
        (mpmath.mpf(2) ** 128 * (1 - mpmath.mpf(2) ** -25) * (1 + mpmath.mpf(2) ** -40), np.inf),
    ):
        t = 64 * mpmath.log(v, 2)
        h = np.float32(float(t))
        lo = np.float32(float(t - mpmath.mpf(float(h))))
        assert np.asarray(exp2(jnp.float32(h), jnp.float32(lo))) == np.float32(want), v


def test_subnormal_results_flush_except_to_smallest_normal():
    """Exact values just below 2^-126 that round to it (gradual underflow) give 2^-126;
    the rest below 2^-126 give +0."""
    # v = 2^-126 (1 - 2^-k): rounds to 2^-126 when 2^-k < 2^-24 (the subnormal midpoint)
    for k, want in ((30, TINY), (26, TINY), (25, TINY), (23, np.float32(0)), (10, np.float32(0))):
        t = 64 * mpmath.log(mpmath.mpf(2) ** -126 * (1 - mpmath.mpf(2) ** -k), 2)
        h = np.float32(float(t))
        lo = np.float32(float(t - mpmath.mpf(float(h))))
        got = np.asarray(exp2(jnp.float32(h), jnp.float32(lo)))
        assert got == want == _correct([h], [lo])[0], (k, got)


def test_round_to_odd_then_narrow_is_correct():
    """bfloat16/float16 from the round-to-odd float32: one correct rounding."""
    import ml_dtypes

    t_hi, t_lo = _random_args(4000, seed=3, lo=-64 * 20, hi=64 * 15)
    odd = np.asarray(exp2_odd(t_hi, t_lo))
    for dt in (ml_dtypes.bfloat16, np.float16):
        got = odd.astype(dt)
        for i in range(0, 4000, 7):
            v = mpmath.power(2, (mpmath.mpf(float(t_hi[i])) + mpmath.mpf(float(t_lo[i]))) / 64)
            want = np.asarray(float(v)).astype(dt)  # exact -> f64 -> dt: no tie at 2^-53
            assert got[i] == want, (dt, t_hi[i], t_lo[i], got[i], want)


def test_same_bits_eager_jit_vmap_and_array_lengths():
    t_hi, t_lo = _random_args(1000, seed=4)
    a = np.asarray(exp2(t_hi, t_lo))
    b = np.asarray(jax.vmap(exp2_64)(t_hi, t_lo))
    c = np.asarray([exp2(t_hi[i], t_lo[i]) for i in range(0, 1000, 50)])
    d = np.asarray(exp2(t_hi[:37], t_lo[:37]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[::50], c)
    np.testing.assert_array_equal(a[:37], d)


def test_no_exp_or_log_in_the_program():
    text = jax.jit(exp2_64).lower(jnp.zeros(8, jnp.float32), jnp.zeros(8, jnp.float32))
    hlo = text.as_text()
    for op in ("exponential", "log", "power", "expm1", "log_plus_one"):
        assert f"stablehlo.{op}" not in hlo, op


@pytest.mark.parametrize("seed", [5])
def test_contraction_cannot_change_the_result(seed):
    """Fused multiply-adds only see exact products: computing every product exactly in
    float64 (what an FMA would use) and rounding the sums gives the same bits."""
    # Emulate "all products fused": exact products are exact in either case, so the
    # only observable change would come from inexact products feeding error-free sums.
    # We check the claim structurally: every product feeding a Fast2Sum is exact.
    t_hi, _ = _random_args(2000, seed=seed, lo=-3000, hi=3000)
    v1, v2 = (np.asarray(x) for x in jax.jit(lambda x: _split(x, F32))(t_hi - np.round(t_hi)))
    for a in (v1, v2):
        for c in (C1, C2):
            prod32 = (a * c).astype(np.float64)
            prod64 = a.astype(np.float64) * np.float64(c)
            np.testing.assert_array_equal(prod32, prod64)


def test_float64_tables_and_values(x64):
    """The float64 variant (x64 outputs): tables to ~2^-100, values correctly rounded."""
    tab = tables(np.float64)
    for j in range(64):
        exact = mpmath.power(2, mpmath.mpf(j) / 64)
        total = mpmath.mpf(float(tab.near[j])) + mpmath.mpf(float(tab.t3[j]))
        assert abs(total - exact) / exact < mpmath.mpf(2) ** -100
    c = mpmath.log(2) / 64
    total = sum(mpmath.mpf(float(x)) for x in (tab.c1, tab.c2, tab.c3))
    assert abs(total - c) / c < mpmath.mpf(2) ** -100
    assert _sig_bits(tab.c1) <= 26 and _sig_bits(tab.c2) <= 26
    rng = np.random.default_rng(9)
    t_hi = rng.uniform(-64 * 1000, 64 * 1000, 3000)
    t_lo = rng.uniform(-0.5, 0.5, 3000) * np.spacing(np.abs(t_hi))
    got = np.asarray(jax.jit(exp2_64)(jnp.asarray(t_hi), jnp.asarray(t_lo)))
    mpmath.mp.prec = 200
    try:
        for h, lo, g in zip(t_hi, t_lo, got, strict=True):
            v = mpmath.power(2, (mpmath.mpf(float(h)) + mpmath.mpf(float(lo))) / 64)
            assert g == float(v), (h, lo, g, float(v))  # mpmath rounds to nearest
    finally:
        mpmath.mp.prec = 160


def test_checked_in_constant_regenerates():
    from jax_expdecay import _exponent

    assert _exponent._LN2_64 == float(mpmath.log(2) / 64)
