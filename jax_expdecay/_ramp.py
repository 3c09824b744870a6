"""The linear warmup ramp ``a + (b - a) * s / w``, correctly rounded, from IEEE + - x.

One job: for float endpoints ``a, b >= 0`` (the schedule's values at step 0 and at the
end of the warmup, already in the output dtype), an integer step ``1 <= s < w`` and a
warmup length ``w <= 2**24``, return the float nearest the exact rational

    v = a + (b - a) * s / w = (a * (w - s) + b * s) / w,

ties to even (exact midpoints happen: ``a = 0, b = 1, s / w = 2**-25 * odd``). Step 0 is
``a`` itself and is handled by the caller. The same code runs in float32 and in float64
(x64 outputs); ``u`` below is 2^-24 (float32) or 2^-53.

The argument, step by step
--------------------------
0. Scale. Let ``M = max(a, b)``. Both endpoints are shifted by the same power of two
   (integer arithmetic on the exponent field: exact) so that ``M`` lands in ``[1, 2)``;
   the result is shifted back the same way at the end. The caller guarantees (the
   factory refuses anything else) that every nonzero endpoint is in ``[2^-100, 2^100]``,
   so with ``s >= 1``: ``v >= M / w >= M 2^-24 >= 2^-124``, a normal float, and nothing
   is ever subnormal (XLA:CPU flushes subnormals, XLA:GPU does not: neither matters here;
   a traced endpoint below 2^-126 is made 0 first, ``_warmup``).
1. Clamp. Let ``m`` be the smaller endpoint, scaled. If ``0 < m < 2^-79`` (float32;
   ``2^-109`` for float64), it is replaced by ``2^-79`` (``2^-109``). This changes no
   result: say ``b = M``; then ``v = b s / w + a (w - s) / w`` and the second term is in
   ``[0, m)``. The first is ``>= 2^-24``, so any rounding midpoint ``q`` near ``v`` has
   its last bit ``>= 2^-49`` (float32: a 25-bit midpoint ``>= 2^-25``; float64: 2^-78),
   and ``b s - q w`` is a multiple of ``2^-49`` (``b`` is a multiple of ``2^-23``): if
   ``b s / w != q`` they are at least ``2^-49 / 2^24 = 2^-73`` apart (float64: 2^-102).
   A second term below ``2^-79`` (``2^-109``) can therefore never carry ``v`` across a
   midpoint, and when ``b s / w`` *is* a midpoint any positive second term breaks the
   tie the same way. The case ``a = M`` is symmetric (``w - s >= 1``). After the clamp
   every nonzero scaled endpoint is ``>= 2^-80`` (``2^-110``), so its last bit is
   ``>= 2^-103`` (``2^-162``): every exact product and every TwoSum error below is a
   multiple of that, far above the subnormal range.
2. ``X = a (w - s) + b s`` as 8 exact products. ``a = a1 + a2`` and ``b = b1 + b2`` by
   a bit mask (12 + 12 bits; float64 26 + 27), the integers ``c = c1 * 4096 + c0`` by
   integer masks (12-bit limbs, exact in the float). Each partial product has at most
   24 (float64: 39) significant bits: exact, so FMA contraction cannot change it. All
   eight are ``>= 0`` (truncating masks), so their float sum ``Xh`` is within ``7u``.
3. First quotient ``r0 = fl(Xh * fl(1 / w))``: within ``~10u < 2^-20`` relative (an
   approximate division of a few ulp, as some GPUs use, changes nothing below).
4. Correction. ``D = X - r0 w`` is formed *exactly* as a nonoverlapping expansion
   (Shewchuk's grow-expansion of the 8 products and the 4 exact products ``-r0_i w_j``,
   TwoSum only) and summed (relative error ``< 2^-19``); ``corr = Dsum / w`` and the
   double-float ``r0 + corr`` is within ``2^-19 * 2^-20 < 2^-38`` (relative) of ``v``
   (``|D| / w = |v - r0| < 2^-20 v``). ``r = fl(r0 + corr)`` and ``e = (r0 + corr) - r``
   exactly (Fast2Sum).
5. Decision. ``r`` is the nearest float to the approximation. The only midpoint the
   exact ``v`` can be on the other side of is the one between ``r`` and its neighbour
   ``nb`` in the direction of ``e`` (the other is ``>= ulp/4 >> 2^-38`` away); if
   ``e == 0`` there is none. For that midpoint ``q = r + (nb - r) / 2`` (exact: a power
   of two times an integer), the sign of ``X - q w`` is computed exactly, again by
   grow-expansion (8 + 4 + 1 exact terms) and the sign of its largest nonzero
   component: ``> 0`` beyond the midpoint, ``= 0`` an exact tie (round to even),
   ``< 0`` short of it. So every result is the correctly rounded value; no case is
   left to chance.

TwoSum (Knuth, six operations) is error-free for any two floats with no overflow and no
subnormal result, both ensured above; the optimization barriers keep XLA's algebraic
simplifier from rewriting ``(a + b) - a`` to ``b``. Only exact products feed the
error-free sums, so FMA contraction changes nothing (see ``_exp`` for the rule).
Cost: 144 TwoSums per element (~1,000 operations; the ramp is evaluated for every step
under ``jnp.where``): 1M steps of a warmup schedule took 43.5 ms against 8.3 ms for
``exponential_decay`` (jitted, XLA:CPU, 2 shared cores) — nothing next to a training step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["MAX_VALUE", "MAX_WARMUP", "MIN_NONZERO", "ramp"]

MAX_WARMUP = 2**24  # s and w are exact in float32, and 12-bit limbs give exact products
MIN_NONZERO = 2.0**-100  # nonzero endpoints are in [MIN_NONZERO, MAX_VALUE]
MAX_VALUE = 2.0**100


class _RSpec(NamedTuple):
    fdt: np.dtype
    idt: np.dtype
    mant: int  # stored significand bits
    bias: int
    cut: int  # bits cleared by the split mask
    clamp_diff: int  # exponent-field distance at which the smaller endpoint is clamped


_R32 = _RSpec(np.dtype(np.float32), np.dtype(np.int32), 23, 127, 12, 80)
_R64 = _RSpec(np.dtype(np.float64), np.dtype(np.int64), 52, 1023, 27, 110)


def _bits(x: jax.Array, sp: _RSpec) -> jax.Array:
    return jax.lax.bitcast_convert_type(x, sp.idt)


def _float(b: jax.Array, sp: _RSpec) -> jax.Array:
    return jax.lax.bitcast_convert_type(b, sp.fdt)


def _split(x: jax.Array, sp: _RSpec) -> tuple[jax.Array, jax.Array]:
    """``x = hi + lo`` exactly (``x >= 0``): the top significand bits by a mask."""
    hi = _float(_bits(x, sp) & sp.idt.type(~((1 << sp.cut) - 1)), sp)
    return hi, x - hi


def _limbs(c: jax.Array, sp: _RSpec) -> tuple[jax.Array, jax.Array]:
    """An integer ``0 <= c <= 2^24`` as ``c1 * 4096 + c0``, both exact floats."""
    hi = (c >> 12).astype(sp.fdt) * sp.fdt.type(4096)
    return hi, (c & 4095).astype(sp.fdt)


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Knuth's TwoSum: ``a + b = s + e`` exactly (no ordering needed)."""
    s = jax.lax.optimization_barrier(a + b)
    bv = jax.lax.optimization_barrier(s - a)
    av = jax.lax.optimization_barrier(s - bv)
    return s, (a - av) + (b - bv)


def _expansion(terms: list[jax.Array]) -> list[jax.Array]:
    """The exact sum of ``terms`` as a nonoverlapping expansion, smallest component
    first (zeros may be interspersed): Shewchuk's GROW-EXPANSION, term by term."""
    comps: list[jax.Array] = []
    for x in terms:
        q, out = x, []
        for c in comps:
            q, h = _two_sum(q, c)
            out.append(h)
        out.append(q)
        comps = out
    return comps


def _sign(comps: list[jax.Array]) -> jax.Array:
    """The sign of an expansion: that of its largest nonzero component."""
    sign = jnp.zeros_like(comps[0])
    for c in comps:  # smallest first, so the last nonzero one wins
        sign = jnp.where(c != 0, jnp.sign(c), sign)
    return sign


def ramp(a: jax.Array, b: jax.Array, s: jax.Array, w: jax.Array) -> jax.Array:
    """``a + (b - a) * s / w`` correctly rounded (see the module doc).

    ``a``, ``b``: floats of one dtype (float32 or float64), 0 or in ``[2^-100, 2^100]``;
    ``s``, ``w``: unsigned integers with ``1 <= s < w <= 2^24``. Lanes outside these
    ranges give unspecified values (the caller masks them).
    """
    sp = _R64 if a.dtype == np.float64 else _R32
    f, i = sp.fdt.type, sp.idt.type
    # 0. scale by the exponent of M = max(a, b)
    big = jnp.maximum(a, b)
    fm = _bits(big, sp) >> sp.mant
    shift = (fm - sp.bias) << sp.mant

    def scaled(x: jax.Array) -> jax.Array:
        fx = _bits(x, sp) >> sp.mant
        clamp = (x > 0) & (fm - fx >= sp.clamp_diff)  # 1. the clamp
        out = _float(_bits(x, sp) - shift, sp)
        out = jnp.where(clamp, f(2.0 ** (1 - sp.clamp_diff)), out)
        return jnp.where(x == 0, f(0), out)

    a_s, b_s = scaled(a), scaled(b)
    # 2. X = a (w - s) + b s as exact partial products
    c1h, c1l = _limbs(w - s, sp)
    c2h, c2l = _limbs(s, sp)
    wh, wl = _limbs(w, sp)
    a1, a2 = _split(a_s, sp)
    b1, b2 = _split(b_s, sp)
    x_terms = [a1 * c1h, a1 * c1l, a2 * c1h, a2 * c1l, b1 * c2h, b1 * c2l, b2 * c2h, b2 * c2l]
    # 3. a first quotient
    xh = x_terms[0]
    for t in x_terms[1:]:
        xh = xh + t
    w_f = wh + wl
    inv_w = f(1) / w_f
    r0 = xh * inv_w
    # 4. the exact residual X - r0 w, then one correction
    p1, p2 = _split(r0, sp)
    d_comps = _expansion([*x_terms, -(p1 * wh), -(p1 * wl), -(p2 * wh), -(p2 * wl)])
    dsum = d_comps[0]
    for c in d_comps[1:]:
        dsum = dsum + c
    corr = dsum * inv_w
    r = jax.lax.optimization_barrier(r0 + corr)
    e = corr - (r - r0)
    # 5. the decision at the one midpoint that matters
    rb = _bits(r, sp)
    nb = _float(jnp.where(e > 0, rb + i(1), rb - i(1)), sp)
    half = (nb - r) * f(0.5)  # exact: a power of two
    q1, q2 = _split(r, sp)
    mid = _expansion([*x_terms, -(q1 * wh), -(q1 * wl), -(q2 * wh), -(q2 * wl), -(half * w_f)])
    side = jnp.sign(e)
    beyond = _sign(mid) * side  # > 0: v is past the midpoint, towards nb
    nb_even = (_bits(nb, sp) & 1) == 0
    take_nb = (side != 0) & ((beyond > 0) | ((beyond == 0) & nb_even))
    res = jnp.where(take_nb, nb, r)
    # back to the endpoints' scale (exact: results are normal, see 0.)
    out = _float(_bits(res, sp) + shift, sp)
    return jnp.where(big == 0, f(0), out)
