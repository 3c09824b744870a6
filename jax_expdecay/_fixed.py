"""The accurate path: ``init * rate ** p`` rounded from exact integers, on the host.

Run only for the values the fast path's rounding test cannot decide (about one in 2^17
to 2^30 values, see ``_evaluate``), through a host call under ``lax.cond`` (``_host_call``:
an XLA FFI handler on CPU, ``jax.pure_callback`` elsewhere): the traced program carries a
call instead of the ~1000 integer operations this takes, so compiling a schedule costs
what it did without it.

The argument (Python integers, so every operation below is exact unless it says floor):

* ``A = 64 log2|init|`` and ``K = 64 log2(rate) [/ d]`` arrive as floor digits (12 bits
  each; ``_exponent._digits_of``, from 60-digit ``decimal``): ``A`` to 2^-120, ``K`` to
  2^-144. ``t = A + (N + f) K`` is formed exactly at scale 2^144 (``f``, a float step's
  fraction, is an exact dyadic): error below ``2^-120 + (N + 1) 2^-144`` in ``t``
  (2^-112 for a 32-bit step, 2^-80 for a 64-bit one).
* ``t = 64 m + j + F`` (``m``, ``j`` integers, ``F`` in [0, 1)); ``r = F ln2/64`` at scale
  2^150 (floor; ``ln2/64`` floored at 2^-150): error < 2^-149.
* ``exp(r)``, ``r < 0.01083``: the Taylor sum to degree 16 (remainder < 2^-170), each term
  floored from the previous (``term * r >> 150``, ``// k``): < 17 * 2^-150 below.
* ``Y = 2^(j/64) exp(r)`` with ``2^(j/64)`` floored at 2^-150 (60-digit ``decimal``),
  the product floored: ``Y`` in [1, 2), below the value of the computed ``t`` by
  < 2^-144; the error of ``t`` moves ``Y`` by ``Y ln2/64`` (< 0.022) times itself.
* Rounding to ``bits`` significant bits (fewer below the format's smallest normal): the
  rest below the last place minus half an ulp, ``D``, is compared with the error bound
  of ``Y`` (``_bound``, all of the above, taken generously). Beyond it the rounding is
  decided.
* Within it (``|D| <= bound``, about 2^-111 of ``Y`` for a 32-bit step: a value that
  close to a midpoint, or an exact midpoint) ``_side`` decides from the exact config
  (``|init|``, ``rate`` and ``decay_steps`` as the exact doubles and integer, ``p`` as a
  ``Fraction``) on which side of the midpoint ``M`` the exact ``|init| rate^p`` lies:
  in rationals wherever equality is possible (``_exact_side``; an exact tie rounds to
  even), else, the value being provably not ``M``, by Ziv's loop on ``ln|init| + p
  ln(rate) - ln(M)`` in ``decimal`` (each ``ln`` correctly rounded) at doubling
  precision until its sign exceeds the written error bound. No value is assumed to be
  a tie: every rounding is proved.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

_S = 150  # fixed-point scale of Y, r and the tables


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


def _bound(n: int) -> int:
    """An upper bound on ``|y - Y 2^150|`` (``y`` the fixed-point ``Y``, ``Y`` exact) for a
    step offset or stair ``n``: ``t`` is off by < 2^-120 + (n + 1) 2^-144, which moves
    ``Y < 2`` by less than that (``dY/dt = Y ln2/64 < 0.022``, taken as 1); the reduction,
    the Taylor sum and the products add < 2^-143. At scale 2^150: 2^30 + (n + 1) 2^6 +
    2^7, here doubled."""
    return (1 << 31) + ((n + 1) << 7) + (1 << 8)


def _iroot(x: int, q: int) -> int | None:
    """The integer ``q``-th root of ``x >= 0`` when it is exact, else None."""
    if x < 2 or q == 1:
        return x
    if q >= x.bit_length():  # 2^q > x: no integer r >= 2 has r^q == x
        return None
    c = round(math.exp(math.log(x) / q))  # within 1 of the root (q < 1100 here)
    for r in (c - 1, c, c + 1):
        if r >= 0 and r**q == x:
            return r
    return None


def _twos(x: int) -> int:
    return (x & -x).bit_length() - 1


def _exact_side(a: Fraction, rate: Fraction, p: Fraction, mid: Fraction) -> int | None:
    """``sign(a rate^p - mid)`` in exact rationals wherever ``a rate^p == mid`` is
    possible; None where it provably is not (the difference is then nonzero).

    ``p = P/Q`` in lowest terms. ``rate^p`` is rational only if ``rate`` is a perfect
    ``Q``-th power (each prime's exponent in ``rate``, times ``P``, must be a multiple of
    ``Q``, and ``gcd(P, Q) = 1``): ``rate = root^Q``; otherwise ``a rate^p`` is irrational,
    not ``mid``. With ``root = (o_n / o_d) 2^e`` (odd ``o_n``, ``o_d``): if both are 1,
    ``a rate^p = a 2^(eP)`` exactly. Else ``a root^P == mid`` needs ``o_n^P`` to divide
    the odd part of ``mid`` times ``a``'s denominator's (``a`` and ``mid`` are dyadic: only
    the odd numerators, below 2^54 and 2^55, remain) and ``o_d^P`` to divide ``a``'s odd
    numerator: impossible once ``o^P > 2^110``. The power is computed exactly up to 8192
    bits (any ``mid`` then), beyond that only a dyadic ``mid`` (every midpoint of a binary
    format is) is accepted."""
    if p == 0 or rate == 1:
        v = a
    else:
        big, q = p.numerator, p.denominator
        num, den = _iroot(rate.numerator, q), _iroot(rate.denominator, q)
        if num is None or den is None:
            return None
        odd_n, odd_d = num >> _twos(num), den >> _twos(den)
        if odd_n == 1 and odd_d == 1:
            v = a * Fraction(2) ** ((_twos(num) - _twos(den)) * big)
        elif big * max(num.bit_length(), den.bit_length()) <= 8192:
            v = a * Fraction(num, den) ** big  # small enough to compute: exact
        elif mid.denominator & (mid.denominator - 1) == 0:
            return None  # o^P > 2^8191 > 2^110: not a dyadic midpoint
        else:
            raise ValueError(f"_exact_side: mid must be dyadic, got {mid!r}")
    return (v > mid) - (v < mid)


def _side(a: Fraction, rate: Fraction, p: Fraction, mid: Fraction) -> int:
    """``sign(a rate^p - mid)``, proved: exactly where equality is possible, else Ziv's
    loop in ``decimal``: ``z = ln a + p ln rate - ln mid`` at ``prec`` digits, each ``ln``
    correctly rounded (< 10^(1-prec) relative), ``p ln rate`` by a correctly rounded
    multiply and divide, two correctly rounded sums, and the rationals converted by one
    correctly rounded division each (which moves each ``ln`` by < 10^(1-prec) more):
    ``|z - exact| < 10^(2-prec) (|ln a| + |p ln rate| + |ln mid| + 1)``. The sign is taken
    once ``|z|`` exceeds that."""
    exact = _exact_side(a, rate, p, mid)
    if exact is not None:
        return exact
    import decimal

    prec = 60
    while prec <= 40_000:
        ctx = decimal.Context(prec=prec, Emax=10**9, Emin=-(10**9))

        def dec(x: Fraction, ctx=ctx) -> decimal.Decimal:
            return ctx.divide(decimal.Decimal(x.numerator), decimal.Decimal(x.denominator))

        la, lm = ctx.ln(dec(a)), ctx.ln(dec(mid))
        lr = ctx.ln(dec(rate)) if p != 0 else decimal.Decimal(0)
        plr = ctx.divide(ctx.multiply(lr, p.numerator), p.denominator)
        z = ctx.subtract(ctx.add(la, plr), lm)
        size = abs(la) + abs(plr) + abs(lm) + 1
        if abs(z) > size * decimal.Decimal(10) ** (2 - prec):
            return 1 if z > 0 else -1
        prec *= 2
    raise RuntimeError(  # within 10^-40000 of a rounding midpoint, and not on it
        f"jax_expdecay: cannot decide the rounding of {float(a)!r} * {float(rate)!r} ** {p}"
    )


def one(
    n: int,
    frac: float,
    a_int: int,
    k_int: int,
    bits: int,
    emin: int,
    exact: tuple[Fraction, Fraction, Fraction] | None = None,
) -> tuple[float, int]:
    """The rounding (ties to even) of ``2^(t/64)``, ``t = (a_int 2^24 + (n + frac) k_int)
    2^-144``, to ``bits`` significant bits with gradual underflow below ``2^emin``: the
    value (a float, exact; inf past the float64 range) and the exponent ``m`` of ``2^m <=
    value < 2^(m+1)``. ``exact`` is ``(|init|, rate, p)`` of the config the digits come
    from: a value within the error bound of a midpoint is decided by ``_side`` from it."""
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
    if abs(d) <= _bound(n):
        if exact is None:
            raise ValueError("the accurate path needs the exact config near a midpoint")
        a, rate, p = exact
        side = _side(a, rate, p, Fraction(2 * sig + 1) * Fraction(2) ** (m - keep))
        sig += (sig & 1) if side == 0 else (1 if side > 0 else 0)
    elif d > 0:
        sig += 1
    if m - keep + 1 + sig.bit_length() > 1024:
        return math.inf, m
    return math.ldexp(sig, m - keep + 1), m


def _words(lo: int, hi: int) -> int:
    return (int(lo) & 0xFFFFFFFF) | ((int(hi) & 0xFFFFFFFF) << 32)


def _f32(bits: int) -> float:
    """The float32 with these bits, decoded with integers: this runs inside XLA's
    execution (``_host_call``), whose FPU flushes subnormal operands, so numpy's float32
    -> float64 conversion there turns a subnormal piece (a config leaf's ``mid`` for ``|init|`` below ~2^-121)
    into 0."""
    bits &= 0xFFFFFFFF
    sign = -1.0 if bits >> 31 else 1.0
    field, mant = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    if field == 255:
        return sign * math.inf if mant == 0 else math.nan
    if field == 0:
        return sign * math.ldexp(mant, -149)
    return sign * math.ldexp(mant | 0x800000, field - 150)


def _f64(lo: int, hi: int) -> float:
    return float(np.asarray(_words(lo, hi), np.uint64).view(np.float64))


@functools.lru_cache(maxsize=4096)
def _digits(init: float, d: int, rate: float, staircase: bool, umax: int) -> np.ndarray:
    from ._exponent import _digits_of

    return np.asarray(_digits_of(init, max(d, 1), rate, staircase, umax=umax))


def accurate(und, n, frac, dig, *, bits: int, emin: int, emax: int, na: int, out=np.float32):
    """Host side of the accurate path (``_host_call``): for each undecided element, the
    correctly rounded value (in ``out``, the working float: exactly the output format's
    value) and whether
    it applies (a normal result in range; float16's subnormals too). Others: (0, False).

    ``dig`` rows hold the exact config, by their last column: -1, a traced config's raw
    float32 pieces (``v = hi + mid 2^-24 + lo 2^-48``, exact in float64; ``_leaf_consts``);
    -2, the float64 bits of ``|init|`` and ``rate`` and the 64-bit ``decay_steps``
    (``_exponent.exact_rows``: host-built configs, and traced ones on the 64-bit path)."""
    from ._exponent import P32, P64

    und = np.asarray(und)
    shape = und.shape
    vals = np.zeros(und.size, out)
    ok = np.zeros(und.size, bool)
    # only the flagged elements are read (through broadcast views) and converted
    flat = np.flatnonzero(und)
    full = shape or (1,)  # a scalar as one element
    at = np.unravel_index(flat, full)
    n = np.broadcast_to(np.asarray(n).reshape(np.shape(n) or (1,)), full)[at]
    frac = np.broadcast_to(np.asarray(frac).reshape(np.shape(frac) or (1,)), full)[at]
    frac = frac.astype(np.float64)
    dig = np.asarray(dig)
    dig = np.broadcast_to(dig, (*full, dig.shape[-1]))[at]
    top = float(np.finfo(out).max)
    for k, idx in enumerate(flat):
        row = dig[k]
        if row[-1] == -1:

            def f32(i: int, row=row) -> float:
                return _f32(int(row[i]))

            # columns 4-8 (0 when absent): the exact values' mid and lo pieces and the
            # high word of decay_steps
            init = f32(0) + (f32(4) * 2.0**-24 + f32(5) * 2.0**-48)
            rate = f32(1) + (f32(6) * 2.0**-24 + f32(7) * 2.0**-48)
            d_ = int(np.asarray(row[2], np.int32).view(np.uint32)) + (int(row[8]) << 32)
            staircase, umax, beyond = bool(row[3] & 1), P32.umax, bool(row[3] & 2)
        else:
            init, rate = _f64(row[0], row[1]), _f64(row[2], row[3])
            d_ = _words(row[4], row[5])
            staircase = bool(row[6] & 1)
            umax = P64.umax if row[6] & 4 else P32.umax
            beyond = staircase and d_ > umax
        digits = _digits(init, d_, rate, staircase, umax)
        if beyond:  # staircase with decay_steps beyond the step range: p is 0
            digits = np.concatenate([digits[:na], np.zeros_like(digits[na:])])
        ni, fr = int(n[k]), float(frac[k])
        if beyond:
            p = Fraction(0)
        elif staircase:
            p = Fraction(ni)
        else:
            p = (ni + Fraction(fr)) / max(d_, 1)
        exact = (Fraction(abs(init)), Fraction(rate), p)
        v, m = one(ni, fr, _from_digits(digits[:na]), _from_digits(digits[na:]), bits, emin, exact)
        if emin <= -126:  # float32/bfloat16/float64 flush below the smallest normal,
            if m <= emax:  # keeping the values whose rounding (gradual) is 2^emin
                vals[idx] = out(0.0) if v < 2.0**emin else out(v) if v <= top else out(np.inf)
                ok[idx] = True
        elif emin - bits <= m <= emax:  # float16: its subnormals too
            vals[idx] = out(v) if v <= top else out(np.inf)
            ok[idx] = True
    return vals.reshape(shape), ok.reshape(shape)
