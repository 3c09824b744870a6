"""Device constants from a config's exact leaves (a config or schedule that is traced).

One job: ``leaf_consts(leaves, staircase, p)`` gives the :class:`Consts` of the exact
values the leaves hold (``_numbers``: a float field ``v = hi + mid 2^-24 + lo 2^-48``, an
integer field ``hi 2^32 + lo``), so that a config passed into ``jit``, mapped by ``vmap``
or carried by ``scan`` computes with the numbers it was built from, not with their
float32 roundings. A field built from a tracer inside the transformation is
``(tracer, 0, 0)`` / ``(0, tracer)``: exactly that traced value.

The error argument (float32 path, x64 off). ``L = 64 log2 v`` is ``_exponent.
_device_log2_64(hi, mid, lo)``: the tail ``mid 2^-24 + lo 2^-48`` joins the argument
``z`` of the one ``log1p`` (see there), so ``L`` is within ~2^-46 relative (also when
``hi == 1``, where ``L`` is ``64/ln2 log1p(v - 1)``), like the device constants of a
float32 value; init's and rate's go through one stacked call. ``K = L / d`` is
``_div_int`` for ``d < 2^32``; beyond (only an exact ``decay_steps`` >= 2^32 can be)
``d`` is a double-float from its words (16-bit pieces, exact to 2^-48) and ``L / d`` a
double-float quotient with an exact residual. The rounding test (``_evaluate.
_fast_bound``, 2^-42.5 of ``S`` in ``t``) covers these constants' error; what it cannot
decide goes to the accurate path, which reads the exact pieces (``_digits``).

With x64 on, the leaves are float64 ``(v, 0, 0)`` and the integer words combine exactly
into int64; the float64 path then uses ``traced_consts`` (XLA's float64 ``log2``, see
``_exponent``), and the float32 path splits each float64 value into float32 pieces first.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._exp import _fast_two_sum
from ._exponent import (
    _NA,
    _NK,
    P32,
    Consts,
    _device_log2_64,
    _df_add,
    _df_mul,
    _div_int,
    _Prec,
    _split,
    _to_uint,
    flush_subnormal,
    remainder,
    traced_consts,
)

_F32 = jnp.float32


def _f32_pieces(hi: Any, mid: Any, lo: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Float leaves as float32 pieces (a float64 leaf, x64 on, is split exactly)."""
    hi, mid, lo = (jnp.asarray(x) for x in (hi, mid, lo))
    if hi.dtype == np.float64 or mid.dtype == np.float64 or lo.dtype == np.float64:
        v = hi.astype(jnp.float64) + (
            mid.astype(jnp.float64) * 2.0**-24 + lo.astype(jnp.float64) * 2.0**-48
        )
        h = v.astype(_F32)
        r = (v - h.astype(jnp.float64)) * 2.0**24
        m = r.astype(_F32)
        return h, m, ((r - m.astype(jnp.float64)) * 2.0**24).astype(_F32)
    return hi.astype(_F32), mid.astype(_F32), lo.astype(_F32)


def _neg_if(x: jax.Array, neg: jax.Array) -> jax.Array:
    """``-x`` where ``neg``, by the sign bit (exact for subnormals, which XLA:CPU's
    arithmetic flushes)."""
    b = jax.lax.bitcast_convert_type(x, jnp.int32)
    flip = jnp.where(neg, jnp.int32(-(2**31)), jnp.int32(0))
    return jax.lax.bitcast_convert_type(b ^ flip, _F32)


def _log2_both(init_p: tuple, rate_p: tuple) -> tuple[tuple, tuple]:
    """``64 log2`` of init's and of rate's pieces in one ``_device_log2_64`` over a
    stacked pair (one copy of the log in the program: ~45% less to compile than two)."""
    shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in (*init_p, *rate_p)))
    h, m, lo = (
        jnp.stack([jnp.broadcast_to(a, shape), jnp.broadcast_to(b, shape)])
        for a, b in zip(init_p, rate_p, strict=True)
    )
    y_hi, y_lo = _device_log2_64(h, m, lo)
    # XLA fuses the ~300 cheap operations of the log into every consumer of its result
    # (four copies here, each compiled separately; an optimization_barrier does not stop
    # it). A division is "expensive" to XLA, so it is computed once and materialised. The
    # divisor is exactly 1 (2 only for a NaN hi, whose config is NaN anyway) but not a
    # constant XLA could fold; x / 1 is exact. Saves ~40 ms of compile per program.
    one = jnp.where(h == h, _F32(1), _F32(2))
    y_hi, y_lo = y_hi / one, y_lo / one
    return (y_hi[0], y_hi[1]), (y_lo[0], y_lo[1])


def _words_df(dh: jax.Array, dl: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``dh 2^32 + dl`` (uint32 words) as a double-float, within 2^-48 relative."""
    u32 = jnp.uint32
    hf = dh.astype(_F32)  # dh < 2^31: rounded to 24 bits
    err = jax.lax.bitcast_convert_type(dh - hf.astype(u32), jnp.int32).astype(_F32)  # exact
    lo_hi = (dl & u32(0xFFFF0000)).astype(_F32)  # exact: 16 significant bits
    lo_lo = (dl & u32(0xFFFF)).astype(_F32)
    s = _df_add((hf * _F32(2.0**32), jnp.zeros_like(hf)), (err * _F32(2.0**32), lo_hi))
    return _df_add(s, (lo_lo, jnp.zeros_like(lo_lo)))


def _div_words(x: tuple[jax.Array, jax.Array], d_u: jax.Array, d_df: tuple, big: jax.Array):
    """``x / d`` as a double-float, for ``d = d_u < 2^32`` (``_exponent._div_int``: an
    exact remainder from ``d``'s integer limbs) or, where ``big``, ``d >= 2^32`` given as
    the double-float ``d_df`` (``_words_df``; the remainder from a double-float product).

    The same operations as computing each quotient on its own and selecting, but with
    the divisor selected first, so the program holds two divisions instead of four: XLA
    makes every division with several consumers a kernel of its own (5 kernels and
    ~40 ms of compile less per traced program, measured)."""
    x_hi, x_lo = x
    df = jnp.where(big, d_df[0], d_u.astype(_F32))
    q = x_hi / df
    rem, lo = remainder(x_hi, q, d_u)  # d < 2^32: x - q d exactly
    # d >= 2^32: the residual of a double-float product
    p_hi, p_lo = _df_mul((q, jnp.zeros_like(q)), d_df)
    r = jnp.where(big, (x_hi - p_hi) - p_lo, rem + lo)
    return _fast_two_sum(q, (r + x_lo) / df)


def _int_parts(hi: Any, lo: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(big, lo_raw, hi_u32)``: ``big`` where the value is >= 2^32 (then ``lo`` is the
    low word); otherwise the value is ``lo`` itself (a word, or a traced raw value of any
    integer or float dtype)."""
    hi = jnp.asarray(hi)
    if jnp.issubdtype(hi.dtype, jnp.floating):
        big = hi >= 1
        hi_u = jnp.clip(jnp.floor(hi), 0, 2.0**31).astype(jnp.uint32)
    else:
        big = hi > 0
        hi_u = jnp.maximum(hi, jnp.zeros((), hi.dtype)).astype(jnp.uint32)
    return big, jnp.asarray(lo), hi_u


def _digits(init_p, rate_p, d_u, d_hi, beyond, staircase: bool) -> tuple[jax.Array, ...]:
    """``dig`` for traced leaves: 30 int32 columns, the last -1, stacked along a last axis
    (a 1-tuple; host-built configs have 30 leaves, ``_exponent.exact_rows``). The float32 bits of
    ``|init|`` and ``rate`` (hi), ``d``'s low word, flags; then the mid and lo pieces of
    both and ``d``'s high word, so that the accurate path (``_fixed.accurate``, on the
    host) takes the digits of the exact values, as for a host-built config."""
    i32 = jnp.int32

    def bits(x: Any) -> jax.Array:
        return jax.lax.bitcast_convert_type(jnp.asarray(x, _F32), i32)

    flags = jnp.asarray(beyond).astype(i32) * 2 + (1 if staircase else 0)
    cols = [bits(init_p[0]), bits(rate_p[0]), jax.lax.bitcast_convert_type(d_u, i32), flags]
    cols += [bits(init_p[1]), bits(init_p[2]), bits(rate_p[1]), bits(rate_p[2])]
    cols += [jax.lax.bitcast_convert_type(d_hi.astype(jnp.uint32), i32)]
    shape = jnp.broadcast_shapes(*(jnp.shape(c) for c in cols))
    # One array (batch shape + (30,)) in a 1-tuple. As 30 separate leaves, each was an
    # operand of the accurate path's lax.cond that XLA made a kernel of its own (8 kernels
    # of a traced scalar program, ~5-10 ms of compile each); jnp.stack did not help (XLA
    # split the concatenate back into one kernel per column). Selects on the column index
    # are one elementwise kernel.
    n = _NA + _NK
    idx = jax.lax.broadcasted_iota(i32, (*shape, n), len(shape))
    out = jnp.where(idx == n - 1, i32(-1), i32(0))  # a last digit no host-built config has
    for i, c in enumerate(cols):
        out = jnp.where(idx == i, c[..., None], out)
    return (out,)


def leaf_consts(leaves: tuple[Any, ...], staircase: bool, p: _Prec) -> Consts:
    """The constants of the exact values the (traced) leaves hold."""
    ih, im, il, dh, dl, rh, rm, rl, th, tl = leaves[:10]
    if p is not P32:  # float64 path (x64 on): exact float64 values and int64 counts
        w = jnp.float64

        def val(h, m, lo_):
            return jnp.asarray(h).astype(w) + (
                jnp.asarray(m).astype(w) * 2.0**-24 + jnp.asarray(lo_).astype(w) * 2.0**-48
            )

        def count(h, lo_):
            lo_ = jnp.asarray(lo_)
            h = jnp.asarray(h)
            if not jnp.issubdtype(lo_.dtype, jnp.integer):
                return lo_ + h.astype(lo_.dtype) * 2.0**32
            return (h.astype(jnp.int64) << 32) + lo_.astype(jnp.int64)

        return traced_consts(
            val(ih, im, il), count(dh, dl), val(rh, rm, rl), count(th, tl), staircase, p
        )
    one = _F32(1)
    i_h, i_m, i_l = _f32_pieces(ih, im, il)
    r_h, r_m, r_l = _f32_pieces(rh, rm, rl)
    i_h, r_h = flush_subnormal(i_h), flush_subnormal(r_h)
    sign = jnp.sign(i_h)
    init0 = i_h == 0
    # |init|'s pieces: the sign flipped in the bits (a multiply would flush a subnormal mid)
    init_nz = (jnp.where(init0, one, jnp.abs(i_h)), _neg_if(i_m, i_h < 0), _neg_if(i_l, i_h < 0))
    zero = r_h == 0
    rate_nz = (jnp.where(zero, one, r_h), jnp.where(zero, 0, r_m), jnp.where(zero, 0, r_l))
    (a_hi, l_hi), (a_lo, l_lo) = _log2_both(init_nz, rate_nz)
    d_big, d_raw, d_hi = _int_parts(dh, dl)
    d_u = jnp.where(d_big, jnp.uint32(P32.umax), _to_uint(d_raw, P32, 1))
    if staircase:  # no uint32 step reaches the first stair of a longer period
        k_hi = jnp.where(d_big, _F32(0), l_hi)
        k_lo = jnp.where(d_big, _F32(0), l_lo)
        d_f = d_raw.astype(_F32) + d_hi.astype(_F32) * _F32(2.0**32)
    else:
        if jnp.issubdtype(d_raw.dtype, jnp.integer):
            d_df = _words_df(d_hi, d_raw.astype(jnp.uint32))
            k_hi, k_lo = _div_words((l_hi, l_lo), d_u, d_df, d_big)
            d_f = d_df[0]
        else:  # a traced float decay_steps (below 2^32 in float32 anyway)
            k_hi, k_lo = _div_int(l_hi, l_lo, d_u)
            d_f = d_raw.astype(_F32)
    t_big, t_raw, _ = _int_parts(th, tl)
    tb_u = jnp.where(t_big, jnp.uint32(P32.umax), _to_uint(t_raw, P32, 0))
    k_hh, k_hl = _split(k_hi, P32)
    # rate compared with 1 exactly: the sign of the tail decides when hi == 1
    tail = r_m + r_l * _F32(2.0**-24)
    below_one = (r_h < 1) | ((r_h == 1) & (tail < 0))
    bad_d = (d_raw < 1) & ~d_big
    if jnp.issubdtype(d_raw.dtype, jnp.floating):
        bad_d = bad_d | (jnp.floor(d_raw) != d_raw)
    finite = jnp.isfinite(i_h) & jnp.isfinite(i_m) & jnp.isfinite(i_l)
    finite = finite & jnp.isfinite(r_h) & jnp.isfinite(r_m) & jnp.isfinite(r_l)
    bad = ~finite | (r_h < 0) | bad_d
    dig = _digits(
        init_nz,
        rate_nz,
        jnp.where(d_big, d_raw.astype(jnp.uint32), d_u),  # the exact count's low word
        jnp.where(d_big, d_hi, jnp.uint32(0)),
        d_big & staircase,  # no step reaches the first stair (continuous: p is just small)
        staircase,
    )
    return Consts(
        dig=dig,
        a_hi=a_hi,
        a_lo=a_lo,
        k_hi=k_hi,
        k_hh=k_hh,
        k_hl=k_hl,
        k_lo=k_lo,
        sign=sign,
        d=d_u,
        inv_d=1 / d_f,
        tb=tb_u,
        zero=zero,
        floor=below_one,
        one=(r_h == 1) & (r_m == 0) & (r_l == 0),
        bad=bad,
    )
