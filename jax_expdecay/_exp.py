"""``2 ** (t / 64)`` of a double-float ``t``, correctly rounded to float32, from IEEE + - x.

One job: the last step of the kernel, ``lr = sign * 2 ** (t / 64)`` where the exponent
``t = t_hi + t_lo`` (``64 * log2 |lr|``, a double-float built by ``_numerics.exponent``)
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
   (results below 2^-126) gives 0: subnormal results are flushed to zero (XLA flushes
   them on CPU and GPU anyway), except that a result whose correctly rounded value with
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

Subnormal inputs never matter: every quantity here is either exact or, when it is tiny
enough to be flushed (below 2^-126), contributes less than 2^-120 to a result near 1.
"""

from __future__ import annotations

import decimal
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_CTX = decimal.Context(prec=50)
_MASK12 = np.int32(~((1 << 12) - 1))  # clears the low 12 of the 23 stored significand bits
_SMALLEST_NORMAL_BITS = np.int32(0x00800000)
_INF_BITS = np.int32(0x7F800000)
_BELOW_ONE_BITS = np.int32(0x3F7FFFFF)  # 1 - 2^-24, the float32 just below 1
_CLAMP = np.float32(8400.0)


def _f32(x: decimal.Decimal) -> np.float32:
    return np.float32(float(x))


def _split12_host(x: decimal.Decimal) -> tuple[np.float32, decimal.Decimal]:
    """``x`` rounded to 12 significant bits (a float32) and the exact remainder."""
    m, e = math.frexp(float(x))
    hi = np.float32(math.ldexp(round(m * 2**12), e - 12))
    return hi, x - decimal.Decimal(float(hi))


def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``2^(j/64) = T1 + T2 + T3``, j = 0..63: T1 + T2 the nearest float32 (T1 its top 12
    bits), T3 the float32 nearest the rest. Made from 50-digit ``decimal`` arithmetic."""
    t1, t2, t3 = [], [], []
    for j in range(64):
        exact = _CTX.power(decimal.Decimal(2), _CTX.divide(decimal.Decimal(j), 64))
        near = np.float32(float(exact))
        top = (np.asarray(near).view(np.int32) & _MASK12).view(np.float32)[()]
        t1.append(top)
        t2.append(np.float32(near - top))  # exact: at most 12 bits
        t3.append(_f32(exact - decimal.Decimal(float(near))))
    return (np.asarray(t1, np.float32), np.asarray(t2, np.float32), np.asarray(t3, np.float32))


def _ln2_over_64() -> tuple[np.float32, np.float32, np.float32]:
    c = _CTX.divide(_CTX.ln(decimal.Decimal(2)), 64)
    c1, rest = _split12_host(c)
    c2, rest = _split12_host(rest)
    return c1, c2, _f32(rest)


class Tables(NamedTuple):
    """The constants of the kernel (made on first use: ~12 ms of ``decimal``)."""

    near: np.ndarray  # T1 + T2: the float32 nearest 2^(j/64), j = 0..63
    t1: np.ndarray  # its top 12 bits
    t2: np.ndarray  # the other 12
    t3: np.ndarray  # the float32 nearest 2^(j/64) - near
    c1: np.float32  # ln2/64 = c1 + c2 + c3, c1 and c2 of 12 bits
    c2: np.float32
    c3: np.float32
    c12: np.float32  # fl(c1 + c2)


@functools.cache
def tables() -> Tables:
    """The tables, generated from 50-digit ``decimal`` (and checked by the tests)."""
    t1, t2, t3 = _table()
    c1, c2, c3 = _ln2_over_64()
    return Tables(t1 + t2, t1, t2, t3, c1, c2, c3, np.float32(c1 + c2))


def _split12(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x = hi + lo`` exactly, ``hi`` the top 12 significand bits (bit mask, no Veltkamp)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    hi = jax.lax.bitcast_convert_type(bits & _MASK12, jnp.float32)
    return hi, x - hi


def _fast_two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Dekker's Fast2Sum: ``a + b = s + e`` exactly when ``exponent(a) >= exponent(b)``
    (or ``a == 0``). The barrier stops XLA rewriting ``(a + b) - a`` into ``b``."""
    s = jax.lax.optimization_barrier(a + b)
    return s, b - (s - a)


def exp2_64_parts(t_hi: jax.Array, t_lo: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Steps 0-4: ``2 ** ((t_hi + t_lo) / 64) = (hi + low) * 2 ** n``, unrounded.

    ``hi + low`` lies in ``[0.9946, 1.9893]`` and is within ~2^-47 of the exact value
    (``low`` below 2^-23); ``n`` is an int32. Used by :func:`exp2_64` and by the device
    logarithm (``_numerics._device_log2_64``).
    """
    f32, i32 = jnp.float32, jnp.int32
    tab = tables()
    C1, C2, C3, C12 = tab.c1, tab.c2, tab.c3, tab.c12
    clamped = jnp.abs(t_hi) > _CLAMP
    t_hi = jnp.clip(t_hi, -_CLAMP, _CLAMP)
    t_lo = jnp.where(clamped, f32(0), t_lo)
    # 1. t = 64 n + j + v, exactly
    kf = jnp.round(t_hi)
    k = kf.astype(i32)
    n, j = k >> 6, k & 63
    v_hi, v_lo = _fast_two_sum(t_hi - kf, t_lo)
    # 2. r = v * ln2/64 as a double-float (exact products, Fast2Sums)
    v1, v2 = _split12(v_hi)
    r_hi, e1 = _fast_two_sum(v1 * C1, v1 * C2)
    r_hi, e2 = _fast_two_sum(r_hi, v2 * C1)
    r_lo = (e1 + e2) + (v2 * C2 + (v_hi * C3 + v_lo * C12))
    # 3. s = expm1(r) as a double-float
    ra, rb = _split12(r_hi)
    s_hi, e3 = _fast_two_sum(r_hi, (ra * f32(0.5)) * ra)
    tail = (r_hi * r_hi) * (r_hi * (f32(1 / 6) + r_hi * (f32(1 / 24) + r_hi * f32(1 / 120))))
    s_lo = e3 + ((ra * rb + (rb * f32(0.5)) * rb) + (r_lo * (f32(1) + r_hi) + tail))
    # 4. T_j (1 + s): exact partial products, Fast2Sums, one float32 low-order sum
    tt = jnp.take(tab.near, j, mode="clip")  # the float32 nearest 2^(j/64)
    t3 = jnp.take(tab.t3, j, mode="clip")
    t1, t2 = _split12(tt)  # its top 12 bits and the other 12 (bit mask, exact)
    s1, s2 = _split12(s_hi)
    hi, a1 = _fast_two_sum(tt, t1 * s1)
    hi, a2 = _fast_two_sum(hi, t1 * s2)
    hi, a3 = _fast_two_sum(hi, t2 * s1)
    low = (a1 + a2 + a3) + (t2 * s2 + (tt * s_lo + t3 * (f32(1) + s_hi)))
    return hi, low, n


def exp2_64(t_hi: jax.Array, t_lo: jax.Array, *, round_to_odd: bool = False) -> jax.Array:
    """``2 ** ((t_hi + t_lo) / 64)`` as float32, correctly rounded (see the module doc).

    ``t_hi``, ``t_lo`` are float32 with ``|t_lo| <= ulp(t_hi) / 2`` (as Fast2Sum leaves
    them). Results below 2^-126 are 0 (except those that round to 2^-126), above the
    float32 range inf. With ``round_to_odd`` the last rounding is to odd instead (a
    float32 from which one more round-to-nearest to bfloat16/float16 is correct).
    NaN ``t_hi`` is not handled (the caller masks it).
    """
    i32 = jnp.int32
    hi, low, n = exp2_64_parts(t_hi, t_lo)
    # 5. the one rounding
    big = jax.lax.optimization_barrier(hi + low)
    err = low - (big - hi)  # exact rounding error of big (Fast2Sum)
    fb = jax.lax.bitcast_convert_type(big, i32)
    # 6. times 2^n on the exponent bits
    field = (fb >> 23) + n
    to_min_normal = (field == 0) & (fb == _BELOW_ONE_BITS) & (err >= 0)
    if round_to_odd:
        inexact_even = (err != 0) & ((fb & 1) == 0)
        fb = fb + jnp.where(inexact_even, jnp.where(err > 0, i32(1), i32(-1)), i32(0))
    out = fb + (n << 23)
    out = jnp.where(field >= 255, _INF_BITS, out)
    out = jnp.where(field <= 0, jnp.where(to_min_normal, _SMALLEST_NORMAL_BITS, i32(0)), out)
    return jax.lax.bitcast_convert_type(out, jnp.float32)
