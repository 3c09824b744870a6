"""The accurate path: ``init * rate ** p`` rounded from exact integers, on the host.

Run only for the values the fast path's rounding test cannot decide (about one in 2^17
to 2^30 values, see ``_evaluate``), through ``jax.pure_callback`` under ``lax.cond``: the
traced program carries a callback instead of the ~1000 integer operations this takes, so
compiling a schedule costs what it did without it.

The argument (Python integers, so every operation below is exact unless it says floor):

* ``A = 64 log2|init|`` and ``K = 64 log2(rate) [/ d]`` arrive as floor digits (12 bits
  each; ``_exponent._digits_of``, from 60-digit ``decimal``): ``A`` to 2^-120, ``K`` to
  2^-144. ``t = A + (N + f) K`` is formed exactly at scale 2^144 (``f``, a float step's
  fraction, is an exact dyadic): error ``2^-120 + 2^32 2^-144 < 2^-119.9`` in ``t``.
* ``t = 64 m + j + F`` (``m``, ``j`` integers, ``F`` in [0, 1)); ``r = F ln2/64`` at scale
  2^150 (floor; ``ln2/64`` floored at 2^-150): error < 2^-149.
* ``exp(r)``, ``r < 0.01083``: the Taylor sum to degree 16 (remainder < 2^-170), each term
  floored from the previous (``term * r >> 150``, ``// k``): < 17 * 2^-150 below.
* ``Y = 2^(j/64) exp(r)`` with ``2^(j/64)`` floored at 2^-150 (60-digit ``decimal``),
  the product floored: ``Y`` in [1, 2), below the exact value by < 2^-144; with the error
  of ``t`` (2^-119.9 in t, i.e. < 2^-125.5 relative): ``|Y_int - Y| < 2^-125``.
* Rounding to ``bits`` significant bits (fewer below the format's smallest normal): the
  rest below the last place is compared with half an ulp; ``|D| < 2^-100`` is taken as
  an exact tie (rounded to even). An exact tie (``D = 0``) always is, since the error is
  below 2^-125; a value that is not a tie would need to lie within 2^-100 of a midpoint.
"""

from __future__ import annotations

import functools
import math

import numpy as np

_S = 150  # fixed-point scale of Y, r and the tables
_TIE = _S - 100  # |D| below 2^-100: a tie


@functools.cache
def _tables() -> tuple[int, tuple[int, ...]]:
    import decimal

    ctx = decimal.Context(prec=60)

    def floor_scaled(x: decimal.Decimal) -> int:
        y = ctx.multiply(x, 2**_S)
        return int(y.to_integral_value(rounding=decimal.ROUND_FLOOR, context=ctx))

    ln2_64 = floor_scaled(ctx.divide(ctx.ln(decimal.Decimal(2)), 64))
    two = tuple(
        floor_scaled(ctx.power(decimal.Decimal(2), ctx.divide(decimal.Decimal(j), 64)))
        for j in range(64)
    )
    return ln2_64, two


def _from_digits(digits: np.ndarray) -> int:
    v = 0
    for d in digits.tolist():
        v = v * 4096 + int(d)
    return v


def one(n: int, frac: float, a_int: int, k_int: int, bits: int, emin: int) -> tuple[float, int]:
    """The rounding (ties to even) of ``2^(t/64)``, ``t = (a_int 2^24 + (n + frac) k_int)
    2^-144``, to ``bits`` significant bits with gradual underflow below ``2^emin``: the
    value (a float, exact) and the exponent ``m`` of ``2^m <= value < 2^(m+1)``."""
    fm, fe = math.frexp(frac)  # frac = fm 2^fe exactly, fm with 53 bits
    fnum, fexp = int(fm * 2**53), fe - 53
    t = (a_int << 24) + n * k_int  # scale 2^144
    if fnum:
        prod = fnum * k_int
        t += prod >> -fexp if fexp < 0 else prod << fexp  # floor below 2^-144
    whole = t >> 144
    f = t - (whole << 144)  # [0, 2^144)
    m, j = whole >> 6, whole & 63
    ln2_64, two = _tables()
    r = (f * ln2_64) >> 144  # scale 2^150
    term, e = 1 << _S, 1 << _S
    for k in range(1, 17):
        term = ((term * r) >> _S) // k
        e += term
    y = (two[j] * e) >> _S  # [2^150, 2^151)
    keep = bits - min(max(emin - m, 0), bits)
    if keep < 1:
        return 0.0, m
    shift = _S - (keep - 1)
    sig = y >> shift
    d = (y - (sig << shift)) - (1 << (shift - 1))  # the rest minus half an ulp
    if abs(d) < (1 << _TIE):
        sig += sig & 1  # an exact tie: to even
    elif d > 0:
        sig += 1
    return math.ldexp(sig, m - keep + 1), m


def accurate(und, n, frac, dig, *, bits: int, emin: int, emax: int, na: int):
    """Host side of the callback: for each undecided element, the correctly rounded
    value (float32, exactly the output format's value) and whether it applies (a normal
    result in range; float16's subnormals too). Others: (0, False)."""
    und = np.asarray(und)
    shape = und.shape
    vals = np.zeros(und.size, np.float32)
    ok = np.zeros(und.size, bool)
    n = np.broadcast_to(np.asarray(n), shape).reshape(-1).astype(np.int64)
    frac = np.broadcast_to(np.asarray(frac, np.float64), shape).reshape(-1)
    dig = np.asarray(dig)
    dig = np.broadcast_to(dig, (*shape, dig.shape[-1])).reshape(-1, dig.shape[-1])
    for idx in np.flatnonzero(und):
        row = dig[idx]
        if row[-1] == -1:  # a traced config's raw float32 values (_exponent._device_digits)
            from ._exponent import _digits_of

            def f32(i: int, row=row) -> float:
                return float(np.asarray(row[i], np.int32).view(np.float32))

            # columns 4-8 (0 when absent): the exact values' mid and lo pieces and the
            # high word of decay_steps (_leaf_consts: v = hi + mid 2^-24 + lo 2^-48)
            init = f32(0) + (f32(4) * 2.0**-24 + f32(5) * 2.0**-48)
            rate = f32(1) + (f32(6) * 2.0**-24 + f32(7) * 2.0**-48)
            d_ = int(np.asarray(row[2], np.int32).view(np.uint32)) + (int(row[8]) << 32)
            digits = np.asarray(_digits_of(init, max(d_, 1), rate, bool(row[3] & 1)))
            if row[3] & 2:  # staircase with decay_steps beyond the step range
                digits[na:] = 0
        else:
            digits = row
        a_int = _from_digits(digits[:na])
        k_int = _from_digits(digits[na:])
        v, m = one(int(n[idx]), float(frac[idx]), a_int, k_int, bits, emin)
        lowest = emin - bits if emin > -126 else emin  # float32/bfloat16 flush there
        if lowest <= m <= emax:
            vals[idx] = np.float32(v) if v < 2.0**128 else np.float32(np.inf)
            ok[idx] = True
    return vals.reshape(shape), ok.reshape(shape)
