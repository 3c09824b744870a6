"""``2 ** (t / 64)`` of a double-float ``t``, correctly rounded, from IEEE + - x.

One job: the last step of the kernel, ``lr = sign * 2 ** (t / 64)`` where the exponent
``t = t_hi + t_lo`` (``64 * log2 |lr|``, a double-float built by ``_exponent.exponent``)
carries about 48 bits. It replaces the backend's ``exp``, which is neither correctly
rounded nor the same on every backend (XLA:CPU's float32 ``exp`` is up to 5.5 ulp off
near 88.7; CUDA documents 2 ulp for ``expf``). Only additions, subtractions,
multiplications, comparisons, integer/bit operations, bitcasts and a 64-entry constant
table are used, so every backend whose ``+ - x`` are IEEE binary32 with round-to-nearest
gives the same bits.

The argument, step by step (``u`` = one float32 ulp relative, 2^-24)
-------------------------------------------------------------------
0. Range. ``t_hi`` is clamped to ``[-8400, 8400]`` (``t_lo`` zeroed there): beyond, the
   result is 0 or inf whatever the clamp keeps. Inside, ``|t_hi| < 2^14``, so
   ``ulp(t_hi) <= 2^-10`` and ``|t_lo| <= 2^-11``.
1. Reduction, exact. ``k = round(t_hi)`` (round half to even), ``n = k >> 6``,
   ``j = k & 63``, so ``t = 64 n + j + v`` with ``v = t - k``. ``d = t_hi - k`` is exact
   (both are multiples of ``ulp(t_hi)`` and ``|d| <= 1/2``), and ``v = d + t_lo`` is
   formed exactly by Fast2Sum: when ``d != 0`` it is a nonzero multiple of ``ulp(t_hi)
   >= 2 |t_lo|``, so its exponent is at least that of ``t_lo``.
2. ``r = v * ln2/64``, a double-float. ``ln2/64 = C1 + C2 + C3`` with ``C1``, ``C2`` of
   12 significant bits and ``C3`` a float32 (together ~48 bits). ``v_hi`` is split by a
   *bit mask* into ``v1 + v2`` of at most 12 bits each, so ``v1*C1``, ``v1*C2`` and
   ``v2*C1`` are exact products; two Fast2Sums add them without error (each addend is
   at most 2^-11 of the running sum). The rest (``v2*C2``, ``v_hi*C3``, ``v_lo*C``),
   below 2^-31 in size, goes to ``r_lo`` with rounding errors below 2^-55. ``|r| <=
   ln2/128 + 2^-17 < 0.0055``.
3. ``s = expm1(r)`` as a double-float. ``r_hi = ra + rb`` (mask split, 12 bits each):
   ``ra^2/2`` is exact and Fast2Sum adds it to ``r_hi`` exactly (it is at most
   0.003 ``|r_hi|``); ``ra*rb`` and ``rb^2/2`` are exact; the cubic tail
   ``r^3 (1/6 + r/24 + r^2/120)`` (|.| < 2^-25, Taylor remainder < 2^-55) and
   ``r_lo (1 + r_hi)`` are formed in float32, so ``s_lo`` is off by < 2^-48.
4. Reconstruction ``T_j (1 + s)``. The table holds ``2^(j/64) = T1 + T2 + T3`` exactly
   to 2^-48, with ``T1 + T2`` the float32 nearest (``T1`` its top 12 bits, ``T2`` the
   rest, 12 bits) and ``T3`` a float32 of the remainder (generated at import from
   ``decimal`` at 50 digits; tested against ``fractions``/mpmath). ``s_hi = s1 + s2``
   (mask split), so ``T1*s1``, ``T1*s2``, ``T2*s1``, ``T2*s2`` are exact; three
   Fast2Sums add the first three to ``T = T1 + T2`` without error, and everything
   below 2^-24 (their errors, ``T2*s2``, ``T*s_lo``, ``T3 (1 + s_hi)``) is summed in
   float32 into ``low`` with an error below 2^-47.
5. One rounding: ``F = fl(hi + low)`` with ``hi + low`` within ~2^-47 (relative) of the
   exact ``2^(j/64 + r/ln2 ...)``. ``F`` is in ``[0.9946, 1.9893]``, a normal float, so
   it is the float32 nearest the exact value unless the exact value lies within ~2^-47
   of a rounding midpoint (measured: 0 misses in 10^6 random arguments, see
   ``benchmarks/bench_accuracy.py``; such a miss is off by one ulp at most).
6. ``2^n`` is applied by adding ``n << 23`` to the bits of ``F``: exact, no rounding,
   no multiplication by a subnormal power of two. Exponent field >= 255 gives inf
   (exactly the values whose correctly rounded float32 overflows, since ``F`` was
   rounded first: ``F`` rounding up to 1.0 with ``n = 128`` is ``2^128``). Field <= 0
   (results below 2^-126) gives 0: subnormal results are flushed to zero, from the bits,
   so on every backend (XLA's arithmetic flushes them on CPU, not on GPU), except that a result whose correctly rounded value with
   gradual underflow is the smallest normal ``2^-126`` gives ``2^-126``; with ``F`` in
   ``[0.9946, 1)`` and ``n = -126`` that is ``exact >= (1 - 2^-24) 2^-126``, decided from
   ``F`` and its exact rounding error.

Contraction safety. XLA:CPU contracts ``a*b + c`` into an FMA (and ``optimization_barrier``
does not stop LLVM from doing it); NVPTX does too. Every product that feeds an
error-free transform above is *exact* (mask splits of at most 12 x 12 bits, or a product
by a power of two), so fusing it into an FMA changes nothing; inexact products feed only
``low``-order sums, where a fused rounding changes the sum by less than 2^-48. Splits are
by bit masks (no Veltkamp ``x * 4097``, whose ``t - (t - x)`` an FMA would break). The
barriers in ``_fast_two_sum`` stop XLA's algebraic simplifier from rewriting
``(a + b) - a`` to ``b``, which would remove the very rounding being captured.

The same code runs in float64 (x64 outputs) with 26 + 27-bit splits, 26-bit ``C1``,
``C2``, a float64 table pair (~106 bits) and ``expm1`` to degree 7: the same argument with
2^-53 in place of 2^-24, except that the degree-7 polynomial (sized for float32) leaves a
remainder ``r^8/8! < 2^-75.4`` and its plain float64 sum ~2^-75.8: the error before the
final rounding is below 2^-74.6 relative (``_evaluate._fast_bound64`` takes 2^-72).

Subnormal inputs never matter: every quantity here is either exact or, when it is tiny
enough to be flushed (below 2^-126), contributes less than 2^-120 to a result near 1,
whether the backend flushes it (XLA:CPU) or not (XLA:GPU).
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    import decimal


class _Spec(NamedTuple):
    """One working precision: float32 (the correctly rounded path) or float64."""

    float_dtype: np.dtype
    int_dtype: np.dtype
    cut: int  # low significand bits cleared by a split: the top part keeps 24-cut / 53-cut
    mant: int  # stored significand bits
    clamp: float  # |t| beyond: the result is 0 or inf anyway
    tail: tuple[float, ...]  # expm1 tail r^3 (c0 + c1 r + ...): Taylor 1/3!, 1/4!, ...


F32 = _Spec(np.dtype(np.float32), np.dtype(np.int32), 12, 23, 8400.0, (1 / 6, 1 / 24, 1 / 120))
F64 = _Spec(
    np.dtype(np.float64), np.dtype(np.int64), 27, 52, 64 * 1080.0,
    (1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040),
)  # fmt: skip


def _spec(dtype: Any) -> _Spec:
    return F64 if np.dtype(dtype) == np.float64 else F32


def _round_bits(x: decimal.Decimal, bits: int, dt: np.dtype) -> Any:
    """``x`` rounded to ``bits`` significant bits, as a float of ``dt``."""
    m, e = math.frexp(float(x))
    return dt.type(math.ldexp(round(m * 2**bits), e - bits))


class Tables(NamedTuple):
    """The constants of the kernel (made on first use: ~12 ms of ``decimal``)."""

    near: np.ndarray  # the float nearest 2^(j/64), j = 0..63
    t3: np.ndarray  # the float nearest 2^(j/64) - near
    c1: Any  # ln2/64 = c1 + c2 + c3 (numpy scalars), c1 and c2 short enough for exact products
    c2: Any
    c3: Any
    c12: Any  # fl(c1 + c2)


@functools.cache
def tables(dtype: Any = np.float32) -> Tables:
    """The tables of a precision, generated from 50-digit ``decimal`` (and checked by the
    tests): ``2^(j/64) = near + t3`` to twice the precision, ``ln2/64 = c1 + c2 + c3``
    with ``c1``, ``c2`` of 12 (float32) or 26 (float64) significant bits."""
    import decimal  # here, not at import: ~7 ms

    ctx = decimal.Context(prec=50)
    sp = _spec(dtype)
    dt = sp.float_dtype
    near, t3 = [], []
    for j in range(64):
        exact = ctx.power(decimal.Decimal(2), ctx.divide(decimal.Decimal(j), 64))
        n = dt.type(float(exact))
        near.append(n)
        t3.append(dt.type(float(exact - decimal.Decimal(float(n)))))
    short = sp.mant + 1 - sp.cut
    c = ctx.divide(ctx.ln(decimal.Decimal(2)), 64)
    c1 = _round_bits(c, short, dt)
    rest = c - decimal.Decimal(float(c1))
    c2 = _round_bits(rest, short, dt)
    c3 = dt.type(float(rest - decimal.Decimal(float(c2))))
    return Tables(np.asarray(near, dt), np.asarray(t3, dt), c1, c2, c3, dt.type(c1 + c2))


def _split(x: jax.Array, sp: _Spec) -> tuple[jax.Array, jax.Array]:
    """``x = hi + lo`` exactly, ``hi`` the top 12 (float32) / 26 (float64) significand bits,
    ``lo`` the rest (12 / 27 bits), by a bit mask (no Veltkamp)."""
    bits = jax.lax.bitcast_convert_type(x, sp.int_dtype)
    mask = sp.int_dtype.type(~((1 << sp.cut) - 1))
    hi = jax.lax.bitcast_convert_type(bits & mask, sp.float_dtype)
    return hi, x - hi


def _fast_two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Dekker's Fast2Sum: ``a + b = s + e`` exactly when ``exponent(a) >= exponent(b)``
    (or ``a == 0``). The barrier stops XLA rewriting ``(a + b) - a`` into ``b``."""
    s = jax.lax.optimization_barrier(a + b)
    return s, b - (s - a)


def exp2_64_parts(t_hi: jax.Array, t_lo: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Steps 0-4: ``2 ** ((t_hi + t_lo) / 64) = (hi + low) * 2 ** n``, unrounded.

    ``hi + low`` lies in ``[0.9946, 1.9893]`` and is within ~2^-47 (float32; 2^-74.6 for
    float64) of the exact value, ``low`` below half an ulp of ``hi``-ish; ``n`` an int32.
    In float64 every split keeps 26 + 27 bits: the products that feed error-free sums
    (26 x 26, 26 x 27 bits) are exact; 27 x 27-bit ones only feed ``low``.
    """
    sp = _spec(t_hi.dtype)
    w = sp.float_dtype.type
    tab = tables(sp.float_dtype)
    C1, C2, C3, C12 = tab.c1, tab.c2, tab.c3, tab.c12  # the names of the argument
    clamped = jnp.abs(t_hi) > w(sp.clamp)
    t_hi = jnp.clip(t_hi, w(-sp.clamp), w(sp.clamp))
    t_lo = jnp.where(clamped, w(0), t_lo)
    # 1. t = 64 n + j + v, exactly
    kf = jnp.round(t_hi)
    k = kf.astype(jnp.int32)
    n, j = k >> 6, k & 63
    v_hi, v_lo = _fast_two_sum(t_hi - kf, t_lo)
    # 2. r = v * ln2/64 as a double-float (exact products, Fast2Sums)
    v1, v2 = _split(v_hi, sp)
    r_hi, e1 = _fast_two_sum(v1 * C1, v1 * C2)
    r_hi, e2 = _fast_two_sum(r_hi, v2 * C1)
    r_lo = (e1 + e2) + (v2 * C2 + (v_hi * C3 + v_lo * C12))
    # 3. s = expm1(r) as a double-float
    ra, rb = _split(r_hi, sp)
    s_hi, e3 = _fast_two_sum(r_hi, (ra * w(0.5)) * ra)
    poly = w(sp.tail[-1])
    for coef in reversed(sp.tail[:-1]):
        poly = w(coef) + r_hi * poly
    tail = (r_hi * r_hi) * (r_hi * poly)
    s_lo = e3 + ((ra * rb + (rb * w(0.5)) * rb) + (r_lo * (w(1) + r_hi) + tail))
    # 4. T_j (1 + s): exact partial products, Fast2Sums, one low-order sum
    tt = jnp.take(tab.near, j, mode="clip")  # the float nearest 2^(j/64)
    t3 = jnp.take(tab.t3, j, mode="clip")
    t1, t2 = _split(tt, sp)  # its top bits and the rest (bit mask, exact)
    s1, s2 = _split(s_hi, sp)
    hi, a1 = _fast_two_sum(tt, t1 * s1)
    hi, a2 = _fast_two_sum(hi, t1 * s2)
    hi, a3 = _fast_two_sum(hi, t2 * s1)
    low = (a1 + a2 + a3) + (t2 * s2 + (tt * s_lo + t3 * (w(1) + s_hi)))
    return hi, low, n


def exp2_64(t_hi: jax.Array, t_lo: jax.Array, *, round_to_odd: bool = False) -> jax.Array:
    """``2 ** ((t_hi + t_lo) / 64)``, correctly rounded (see the module doc).

    ``t_hi``, ``t_lo`` are float32 (or both float64) with ``|t_lo| <= ulp(t_hi) / 2`` (as
    Fast2Sum leaves them). Results below the smallest normal are 0 (except those that
    round to it), above the range inf. With ``round_to_odd`` the last rounding is to odd
    instead (a float32 from which one more round-to-nearest to bfloat16/float16 is
    correct). NaN ``t_hi`` is not handled (the caller masks it).
    """
    return exp2_64_checked(t_hi, t_lo, round_to_odd=round_to_odd)[0]


def _narrow_shift(fb, n, sp: _Spec, bits: int, out_emin: int | None):
    """Low bits of ``big`` below the output format's last place: ``mant + 1 - bits``, plus
    the shortfall of the result's exponent below ``out_emin`` (capped at ``mant``)."""
    it = sp.int_dtype.type
    sh = it(sp.mant + 1 - bits)
    if out_emin is None:
        return sh
    bias = (1 << (sp.float_dtype.itemsize * 8 - 2 - sp.mant)) - 1
    e_out = (fb >> sp.mant) - it(bias) + n
    return jnp.minimum(sh + jnp.clip(it(out_emin) - e_out, 0, sp.mant), it(sp.mant))


def exp2_64_checked(
    t_hi: jax.Array,
    t_lo: jax.Array,
    *,
    round_to_odd: bool = False,
    bound: Any = None,
    out_bits: int | None = None,
    out_emin: int | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """``exp2_64`` and its rounding test: ``(value, undecided)``.

    ``bound`` is an upper bound on ``|hi + low - Y|`` (``Y = 2^(t/64) 2^-n`` the exact
    value, ``hi + low`` in [0.9946, 1.9893] from steps 0-4, both in the working float),
    including the error of ``t`` itself. ``undecided`` is true where the exact value may
    lie on the other side of a rounding midpoint of the output format (``out_bits``
    significant bits: 24/8/11, or 53 for float64; the working precision when None) than
    the returned value, i.e. where the distance from ``hi + low`` to the nearest
    midpoint is not provably above ``bound``. That distance is formed exactly up to one
    rounding: ``big = fl(hi + low)`` and its error ``err`` are exact (Fast2Sum); for the
    working precision the nearest midpoint is half-way to ``big``'s neighbour on the
    side of ``err``; for a narrower format it is at a fixed bit pattern of ``big``'s low
    bits, and ``(low bits - half) * ulp + err`` is an exact integer times a power of two
    plus ``err``. Results that leave the normal range (flushed, or inf) are not flagged,
    except those within ``bound`` of the threshold at which a result below the smallest
    normal rounds up to it. Without ``bound``, ``undecided`` is None.
    """
    sp = _spec(t_hi.dtype)
    it = sp.int_dtype.type
    w = sp.float_dtype.type
    hi, low, n = exp2_64_parts(t_hi, t_lo)
    n = n.astype(sp.int_dtype)
    # 5. the one rounding
    big = jax.lax.optimization_barrier(hi + low)
    err = low - (big - hi)  # exact rounding error of big (Fast2Sum)
    fb = jax.lax.bitcast_convert_type(big, sp.int_dtype)
    # 6. times 2^n on the exponent bits
    exp_max = (1 << (sp.float_dtype.itemsize * 8 - 1 - sp.mant)) - 1  # 255 / 2047
    below_one = it(((exp_max >> 1) << sp.mant) - 1)  # the float just below 1
    field = (fb >> sp.mant) + n
    # A result below 2^-126 (2^-1022) is flushed unless its rounding with gradual
    # underflow in the output format (nb significant bits, so a spacing of 2^-(nb-1) in
    # units of the smallest normal below it) is the smallest normal itself: exactly when
    # big (in [0.5, 1) here) is at or above 1 - 2^-nb (a tie goes to the even 2^-126).
    # For float32 that threshold is the float just below 1; for bfloat16 it is 1 - 2^-8.
    nb = sp.mant + 1 if out_bits is None or out_emin is not None else out_bits
    thr = it(((exp_max >> 1) << sp.mant) - (1 << (sp.mant + 1 - nb)))  # 1 - 2^-nb
    above = fb - thr  # big - thr in units of 2^-(mant+1), exact where big < 1
    to_min_normal = (field == 0) & (fb <= below_one) & ((above > 0) | ((above == 0) & (err >= 0)))
    undecided = None
    if bound is not None:
        bits = sp.mant + 1 if out_bits is None else out_bits
        if bits >= sp.mant + 1:  # the nearest midpoint is half an ulp from big
            # (the smaller half-ulp below 1 also for big == 1, whose lower neighbour is
            # closer: a conservative distance, exact up to one rounding)
            half = jnp.where(big <= w(1), w(2.0 ** -(sp.mant + 2)), w(2.0 ** -(sp.mant + 1)))
            dist = half - jnp.abs(err)
        else:  # the narrow format's midpoint: low bits of big equal to 100...0
            sh = _narrow_shift(fb, n, sp, bits, out_emin)
            low_bits = fb & ((it(1) << sh) - it(1))
            ulp = jax.lax.bitcast_convert_type(
                (fb & it(exp_max << sp.mant)) - it(sp.mant << sp.mant), sp.float_dtype
            )  # 2^(e(big) - mant): big's ulp (big is in [0.99, 2): never subnormal)
            dist = jnp.abs((low_bits - (it(1) << (sh - 1))).astype(sp.float_dtype) * ulp + err)
        in_range = (field > 0) & (field < exp_max)
        undecided = in_range & ~(dist > bound)
        if out_emin is None:  # (float16 results that small are 0 in any case)
            # the flush threshold 1 - 2^-nb below the smallest normal: |big + err - thr|,
            # exact up to one rounding (the integer difference is below 2^24 / 2^53)
            dist_min = jnp.abs(above.astype(sp.float_dtype) * w(2.0 ** -(sp.mant + 1)) + err)
            near_min = (field == 0) & (fb <= below_one) & ~(dist_min > bound)
            undecided = undecided | near_min
            # returned as 2^-126 (a normal, so that the caller can mark it by its sign)
            to_min_normal = to_min_normal | near_min
    if round_to_odd:
        inexact_even = (err != 0) & ((fb & 1) == 0)
        fb_odd = fb + jnp.where(inexact_even, jnp.where(err > 0, it(1), it(-1)), it(0))
    else:
        fb_odd = fb
    fb = fb_odd
    out = fb + (n << sp.mant)
    out = jnp.where(field >= exp_max, it(exp_max << sp.mant), out)
    out = jnp.where(field <= 0, jnp.where(to_min_normal, it(1 << sp.mant), it(0)), out)
    return jax.lax.bitcast_convert_type(out, sp.float_dtype), undecided
