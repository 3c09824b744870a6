"""The exponent of ``init * rate ** p``: ``t = 64 log2|init| + p * 64 log2(rate)``.

One job: turn a step into the double-float ``t_hi + t_lo``, with the constants it needs
(on the host for concrete hyperparameters, on the device for traced ones: ``log2`` from
``+ - x`` and a table, the exact division by ``decay_steps``) and the exact stair index.
Evaluating ``2 ** (t/64)`` and rounding it into the output dtype is ``_evaluate``'s job
(the exp itself is in ``_exp``); the derivative rules are in ``_derivatives``.

The numerical argument
----------------------
float32 results (the default) are ``sign(init) * 2 ** (t / 64)`` with

    t = 64 log2|init| + (N + f) * K,     K = 64 log2(rate)  [/ decay_steps]

carried as a double-float ``t_hi + t_lo`` (two float32 whose sum holds ~48 bits), where
``N`` is a non-negative *integer* and ``f`` the fraction of a float step:

* staircase: ``N = floor(s / d)`` computed exactly in integers (XLA turns division by a
  compile-time constant into a multiply-shift; a runtime divisor gets a float32
  estimate corrected exactly in integers, see ``_floor_div``), ``K = 64 log2(rate)``;
* continuous: ``N + f = s`` (``f`` only for float steps), ``K = 64 log2(rate) / d``. No
  division happens on the device.

Why it is exact enough. ``|t|`` reaches ~9600 where the result is a float32, and an error
``e`` in ``t`` is a relative error of ``e ln2/64`` in the result. So ``t`` is never rounded
to one float32 (that alone would cost up to ~30 ulp; optax also raises a float32 rate to
a power of up to 2^31, which is how it gets to millions of ulp):

1. Constants. ``A = 64 log2|init|`` and ``K`` come from the host (numpy float64
   ``log2``, measured within 0.55 float64 ulp of 60-digit ``decimal``; see the tests), so
   they are within ~2^-52 relative; each is split into float32 ``hi + lo`` (2^-48). A
   config built inside ``jit``/``vmap`` (traced values) gets the same constants on the
   device from ``_device_log2_64`` and ``_div_int`` (Newton steps through our own exp,
   and an exact remainder), within ~2^-47: values then equal the host-built ones except
   in a vanishing share of near-midpoint cases.
2. Error-free product. ``N`` (uint32) is split by *integer masks* into limbs
   ``n2 + n1 + n0`` of 12, 12 and 8 bits, and ``K_hi`` by a bit mask into halves
   ``K_hh + K_hl`` of 12 bits, so all six products ``n_i * K_h*`` are exact. All have the
   sign of ``K`` and each is at most the running sum of those before it (or that sum is
   0), so Fast2Sum adds them without error. ``N * K_lo`` and ``A_lo`` are below 2^-24 of
   the rest and go to ``t_lo`` with their rounding (2^-48 relative). Only exact products
   feed error-free transforms, so XLA/LLVM contracting ``a*b + c`` into an FMA changes
   nothing (see ``_exp`` for the rule).
3. ``A_hi`` is added by TwoSum, the fraction ``f`` (split by mask, 12 + 12 bits) the same
   way as ``N``; a last Fast2Sum renormalises, so the staircase and the continuous
   schedule agree bit for bit at stair starts.

What the evaluation does with ``t`` (and the error bound it relies on) is in
``_evaluate``.

float64 results (x64 on) take the same route in float64: constants from 60-digit
``decimal`` as float64 pairs (~106 bits), limbs of 26/26/12 bits and 26-bit mask halves,
and ``_exp``'s float64 variant (26 + 27-bit splits, a degree-7 ``expm1``): correctly
rounded too (measured worst 0.4993 float64 ulp). A float32 output computed on the 64-bit
path (x64 on, 64-bit or float steps) is rounded to odd in float64, then once to float32.
A config built from traced values with x64 on uses XLA's float64 ``log2`` for its
constants (within ~1 float64 ulp, no written bound): ``_evaluate._fast_bound64`` takes
them to be within 2^-40, and the accurate path gives the host-built bits.

Float steps ``x`` are split exactly into ``floor(x)`` (converted to the integer path,
saturating at ``2^32 - 256``/``2^64 - 2048``; ``+inf`` gives the limit) and
``f = x - floor(x)``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._exp import _fast_two_sum

if TYPE_CHECKING:
    import decimal


@functools.cache
def _ctx() -> decimal.Context:
    """60-digit ``decimal`` (imported on first use, not at import: ~7 ms)."""
    import decimal

    return decimal.Context(prec=60)


class Consts(NamedTuple):
    """Device-ready constants of one working precision (a JAX pytree)."""

    a_hi: Any  # A = 64 log2|init| (float32 path) or ln|init| (float64 path), hi part
    a_lo: Any  # A, lo part
    k_hi: Any  # K, hi part
    k_hh: Any  # K_hi, top half of its significand (bit mask)
    k_hl: Any  # K_hi - K_hh
    k_lo: Any  # K - K_hi
    sign: Any  # sign(init) as a working float: -1, 0 or +1
    d: Any  # decay_steps, unsigned int (clamped to the integer range)
    inv_d: Any  # 1 / decay_steps in the working float (for the runtime-divisor quotient)
    tb: Any  # transition_begin, unsigned int (clamped)
    zero: Any  # bool: decay_rate == 0 (rate ** p is 0 once p > 0)
    floor: Any  # bool: decay_rate < 1 (end_value is a floor, else a cap)
    one: Any  # bool: decay_rate == 1 (the value never moves, even at step +inf)
    bad: Any  # bool: an invalid traced hyperparameter (the value is NaN at every step)
    dig: Any  # the accurate path's exact config: 30 int32 leaves (``exact_rows``), or for a
    # traced float32 config one array of 30 columns (``_leaf_consts._digits``)
    ev: Any = None  # end_value rounded once into the output dtype (host-built configs)


class _Prec(NamedTuple):
    float_dtype: Any
    uint_dtype: Any
    int_dtype: Any
    limb: int  # bits in n1 and n2
    low: int  # bits in n0
    cut: int  # significand bits cleared by the split mask
    rnd: int  # added to the bits before masking (0: truncate; else round)
    umax: int
    umax_float: float  # largest float <= umax


P32 = _Prec(
    np.dtype(np.float32), np.dtype(np.uint32), np.dtype(np.int32), 12, 8, 12, 0,
    2**32 - 1, 2.0**32 - 256,
)  # fmt: skip
P64 = _Prec(
    np.dtype(np.float64), np.dtype(np.uint64), np.dtype(np.int64), 26, 12, 27, 1 << 26,
    2**64 - 1, 2.0**64 - 2048,
)  # fmt: skip


# ----------------------------------------------------------------------------------------
# Host-side constants (concrete hyperparameters).
# ----------------------------------------------------------------------------------------
def _split_np(x: np.ndarray, p: _Prec) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of ``_split``: the same mask, so host and device halves agree."""
    it = p.int_dtype.type
    bits = (x.view(p.int_dtype) + it(p.rnd)) & it(~((1 << p.cut) - 1))
    hi = np.where(x == 0, x, bits.view(p.float_dtype))
    return hi, x - hi


def _host32(init: np.ndarray, d: np.ndarray, rate: np.ndarray, staircase: bool) -> tuple:
    """``A = 64 log2|init|`` and ``K`` in float64, vectorised (numpy's ``log2`` is within
    ~0.55 float64 ulp, tested against ``decimal``): 2^-52 relative before the split."""
    absinit = np.abs(init)
    a = 64.0 * np.log2(np.where(absinit == 0, 1.0, absinit))
    k = 64.0 * np.log2(np.where(rate == 0, 1.0, rate))
    if staircase:
        k = np.where(d > P32.umax, 0.0, k)  # no uint32 step reaches the first stair
    else:
        k = k / d.astype(np.float64)
    return a, k


def _dec(x: Any) -> decimal.Decimal:
    import decimal

    return decimal.Decimal(int(x)) if isinstance(x, int | np.integer) else decimal.Decimal(float(x))


def _host64_scalar(init: Any, d: int, rate: Any, staircase: bool) -> tuple[Any, ...]:
    import decimal

    ctx = _ctx()
    init_d, rate_d = _dec(init), _dec(rate)
    scale = ctx.divide(64, ctx.ln(decimal.Decimal(2)))  # natural log -> 64 log2
    a = ctx.multiply(ctx.ln(ctx.abs(init_d)), scale) if init_d != 0 else decimal.Decimal(0)
    k = ctx.multiply(ctx.ln(rate_d), scale) if rate_d != 0 else decimal.Decimal(0)
    if staircase:
        if d > P64.umax:
            k = decimal.Decimal(0)
    else:
        k = ctx.divide(k, decimal.Decimal(int(d)))
    out = []
    for x in (a, k):
        hi = float(x)
        out += [hi, float(ctx.subtract(x, decimal.Decimal(hi)))]
    return tuple(out)


def host_consts(init: Any, d: Any, rate: Any, tb: Any, staircase: bool, p: _Prec) -> Consts:
    """Constants for concrete hyperparameters (scalars or broadcastable numpy arrays)."""
    init_a, d_a, rate_a, tb_a = np.broadcast_arrays(
        np.asarray(init, dtype=np.float64),
        np.asarray(d, dtype=np.uint64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(tb, dtype=np.uint64),
    )
    shape = init_a.shape
    fdt = p.float_dtype
    if p.float_dtype == np.float32:
        a, k = _host32(init_a, d_a, rate_a, staircase)
        a_hi = a.astype(fdt)
        a_lo = (a - a_hi).astype(fdt)
        k_hi = k.astype(fdt)
        k_lo = (k - k_hi).astype(fdt)
    else:
        rows = [
            _host64_scalar(i, int(dd), r, staircase)
            for i, dd, r in zip(init_a.ravel(), d_a.ravel(), rate_a.ravel(), strict=True)
        ]
        cols = [np.asarray(c, dtype=fdt).reshape(shape) for c in zip(*rows, strict=True)]
        if not rows:
            cols = [np.zeros(shape, fdt)] * 4
        a_hi, a_lo, k_hi, k_lo = cols
    k_hh, k_hl = _split_np(np.asarray(k_hi, dtype=fdt), p)
    umax = p.uint_dtype.type(p.umax)
    with np.errstate(divide="ignore"):
        inv_d = (1.0 / d_a.astype(np.float64)).astype(fdt)
    return Consts(
        a_hi=np.asarray(a_hi, fdt),
        a_lo=np.asarray(a_lo, fdt),
        k_hi=np.asarray(k_hi, fdt),
        k_hh=np.asarray(k_hh, fdt),
        k_hl=np.asarray(k_hl, fdt),
        k_lo=np.asarray(k_lo, fdt),
        sign=np.asarray(np.sign(init_a), fdt),
        d=np.asarray(np.minimum(d_a, umax), p.uint_dtype),
        inv_d=np.asarray(inv_d, fdt),
        tb=np.asarray(np.minimum(tb_a, umax), p.uint_dtype),
        zero=np.asarray(rate_a == 0),
        floor=np.asarray(rate_a < 1),
        one=np.asarray(rate_a == 1),
        bad=np.zeros(shape, bool),
        dig=_host_digits(init_a, d_a, rate_a, staircase, p),
    )


# ----------------------------------------------------------------------------------------
# Double-float building blocks (device).
# ----------------------------------------------------------------------------------------
def _split(x: jax.Array, p: _Prec) -> tuple[jax.Array, jax.Array]:
    """``x = hi + lo`` exactly, by a bit mask: 12 + 12 bits (float32), 26 + 26 (float64).

    float32 truncates (the top 12 bits and the other 12); float64 rounds at bit 26 so
    that both halves have at most 26 bits. Products of two halves are exact, with or
    without FMA contraction. (Veltkamp's ``t - (t - x)`` is not used: an FMA breaks it.)
    """
    it = p.int_dtype.type
    bits = jax.lax.bitcast_convert_type(x, p.int_dtype)
    if p.rnd:
        bits = bits + it(p.rnd)
    hi = jax.lax.bitcast_convert_type(bits & it(~((1 << p.cut) - 1)), p.float_dtype)
    return hi, x - hi


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Knuth's TwoSum. The barrier stops XLA's algebraic simplifier from rewriting
    # (a + b) - a into b, which would silently drop the rounding error we are after.
    s = jax.lax.optimization_barrier(a + b)
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _limbs(n: jax.Array, p: _Prec) -> tuple[jax.Array, jax.Array, jax.Array]:
    u, w = p.uint_dtype.type, p.float_dtype
    bits = p.uint_dtype.itemsize * 8
    low_mask = (1 << p.low) - 1
    mid_mask = ((1 << p.limb) - 1) << p.low
    top_mask = ((1 << bits) - 1) ^ low_mask ^ mid_mask
    n2 = (n & u(top_mask)).astype(w)
    n1 = (n & u(mid_mask)).astype(w)
    n0 = (n & u(low_mask)).astype(w)
    return n2, n1, n0


def _accumulate(terms: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """Sum of same-signed exact terms, each at most the sum of those before it (or that
    sum is 0): Fast2Sum after Fast2Sum, errors summed into ``lo``."""
    hi, lo = terms[0], None
    for t in terms[1:]:
        hi, e = _fast_two_sum(hi, t)
        lo = e if lo is None else lo + e
    assert lo is not None
    return hi, lo


def exponent(n: jax.Array, frac: jax.Array | None, c: Consts, p: _Prec):
    """Returns ``(hi, lo)`` with ``hi + lo = A + (n + frac) * K`` (double-float)."""
    n2, n1, n0 = _limbs(n, p)
    hi, lo = _accumulate(
        [n2 * c.k_hh, n2 * c.k_hl, n1 * c.k_hh, n1 * c.k_hl, n0 * c.k_hh, n0 * c.k_hl]
    )
    lo = lo + (n2 + n1 + n0) * c.k_lo  # inexact products: low order only
    if frac is not None:  # float steps: f * K with f in [0, 1), below N * K unless N == 0
        f1, f2 = _split(frac, p)
        hf, lf = _accumulate([f1 * c.k_hh, f1 * c.k_hl, f2 * c.k_hh, f2 * c.k_hl])
        hi, e = _two_sum(hi, hf)
        lo = lo + (e + lf + frac * c.k_lo)
    hi, e = _two_sum(c.a_hi, hi)
    lo = (e + lo) + c.a_lo
    # Every term of lo is an ulp-sized error of a term of at most |A| + |N K|. Fast2Sum
    # renormalises (if |hi| < |lo| its error term is off by < 2^-24 |lo|, harmless).
    return _fast_two_sum(hi, lo)


# ----------------------------------------------------------------------------------------
# Traced constants (hyperparameters are tracers): the same constants on the device.
# ----------------------------------------------------------------------------------------
def _to_uint(x: Any, p: _Prec, lo: int) -> jax.Array:
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating):
        x = jnp.clip(jnp.floor(x), lo, p.umax_float)
    elif x.dtype.itemsize > p.uint_dtype.itemsize:  # int64 with x64 on: clamp, don't wrap
        x = jnp.clip(x, jnp.asarray(lo, x.dtype), jnp.asarray(p.umax, x.dtype))
    else:
        x = jnp.maximum(x, jnp.asarray(lo, x.dtype))
    return x.astype(p.uint_dtype)


_LN2_64 = 0.010830424696249145  # ln(2)/64 as a float64 (tests regenerate it)


def _df_const(x: decimal.Decimal) -> tuple[np.float32, np.float32]:
    import decimal

    hi = np.float32(float(x))
    return hi, np.float32(float(x - decimal.Decimal(float(hi))))


@functools.cache
def _log_consts() -> tuple[tuple[np.float32, np.float32], tuple[np.float32, np.float32]]:
    """64/ln2 and 1/3 as float32 pairs."""
    import decimal

    ctx = _ctx()
    return _df_const(ctx.divide(64, ctx.ln(decimal.Decimal(2)))), _df_const(ctx.divide(1, 3))


def _log_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``j = -76..106``: ``r_j`` ~ ``1 / (1 + j/256)`` with 10 significant bits
    (``r_0 = 1``), and ``-64 log2 r_j`` as a float32 pair (50-digit ``decimal``)."""
    import decimal

    ctx = _ctx()
    r, hi, lo = [], [], []
    for j in range(-76, 107):
        c = 1 + j / 256
        m, e = np.frexp(1 / c)
        rj = float(np.ldexp(np.round(m * 2**10), e - 10))
        lj = -64 * ctx.divide(ctx.ln(decimal.Decimal(rj)), ctx.ln(decimal.Decimal(2)))
        h, lo_ = _df_const(lj)
        r.append(rj)
        hi.append(h)
        lo.append(lo_)
    return np.asarray(r, np.float32), np.asarray(hi, np.float32), np.asarray(lo, np.float32)


_log_table = functools.cache(_log_table)  # made on first use (~30 ms of decimal)


@functools.cache
def _log_rows() -> np.ndarray:
    """``_log_table`` as rows ``(r_j, hi_j, lo_j)``: one gather per lookup."""
    return np.stack(_log_table(), axis=-1)


def _df_add(a: tuple, b: tuple) -> tuple[jax.Array, jax.Array]:
    s, e = _two_sum(a[0], b[0])
    return _fast_two_sum(s, (e + a[1]) + b[1])


def _df_mul(a: tuple, b: tuple) -> tuple[jax.Array, jax.Array]:
    """Double-float product from exact 12 x 12-bit partial products (no FMA needed)."""
    a1, a2 = _split(jnp.asarray(a[0]), P32)
    b1, b2 = _split(jnp.asarray(b[0]), P32)
    s, e1 = _two_sum(a1 * b1, a1 * b2)
    s, e2 = _two_sum(s, a2 * b1)
    lo = (e1 + e2) + (a2 * b2 + (a[0] * b[1] + a[1] * b[0]))
    return _fast_two_sum(s, lo)


def _pow2(k: jax.Array) -> jax.Array:
    """``2^k`` as a float32 for integer ``-126 <= k <= 127`` (built from its bits: exact)."""
    return jax.lax.bitcast_convert_type((k + 127) << 23, jnp.float32)


def _scaled(x: jax.Array, k: jax.Array) -> jax.Array:
    """``x 2^k`` for a float32 ``x`` with ``|x 2^k| < 2^24``, from ``x``'s bits: exact when
    the result is a normal float32; a subnormal product is 0 on CPU (XLA:CPU flushes it)
    and kept on GPU, a difference below 2^-126 that the callers' bounds cover. A subnormal ``x`` counts too
    (XLA:CPU's arithmetic would flush it as an operand; a bit field is the same everywhere)."""
    f32, i32 = jnp.float32, jnp.int32
    b = jax.lax.bitcast_convert_type(x, i32)
    field = (b >> 23) & 0xFF
    sig = jnp.where(field == 0, b & 0x7FFFFF, (b & 0x7FFFFF) | 0x800000).astype(f32)  # exact
    # |x| = sig 2^(max(field, 1) - 150); the two factors are normal powers of two
    kk = jnp.clip(jnp.maximum(field, 1) - 150 + k, -252, 0)
    half = kk // 2
    mag = (sig * _pow2(half)) * _pow2(kk - half)
    return jnp.where(b < 0, -mag, mag)


def _device_log2_64(
    x: jax.Array, mid: jax.Array | None = None, lo: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """``64 log2 v`` for ``v = x + mid 2^-24 + lo 2^-48`` (``x`` a normal float32 ``> 0``;
    ``mid``/``lo`` the exact pieces of a config leaf, ``_numbers.float_leaves``, or absent),
    a double-float within ~2^-46 relative. Only ``+ - x``, bit operations and a table.

    ``x = 2^e M`` with ``M`` in ``[0.707, 1.414)``; ``j = round(256 (M - 1))``; ``r_j``
    (10 significant bits) ~ ``1 / (1 + j/256)``. Then ``v = 2^e (M + u)`` with the tail
    ``u = (mid 2^-24 + lo 2^-48) 2^-e`` and

        64 log2 v = 64 e + (-64 log2 r_j) + 64/ln2 log1p(z),   z = (M + u) r_j - 1.

    ``z`` as a double-float: ``M``'s 12-bit halves times ``r_j`` are exact, ``M1 r_j - 1``
    is exact (Sterbenz), so ``(M1 r_j - 1) + M2 r_j`` is exact by TwoSum; ``mid 2^(-e-24)``
    (``_scaled``: from ``mid``'s bits, so a subnormal ``mid``, which ``hi`` below ~2^-102
    can have, is not flushed) is split into 12-bit halves whose products by ``r_j`` are
    exact, and is added as a double-float (``_df_add``); ``lo`` (``|lo| <= |mid|``) adds
    one float32 product in the low word (a part of it below 2^-126 after scaling is
    below 2^-126 relative: dropped). Since ``x`` is the float32 nearest ``v`` (a leaf's
    ``hi``), ``|u| <= 2^-24 M`` and, where ``z`` is small (``e = j = 0``),
    ``|z| >= |M - 1| / 2`` or ``M = 1``:
    no cancellation beyond a factor 2, so ``z`` is within ~2^-47 relative (exact when
    ``mid = lo = 0``); ``|z| < 2^-8.3``. ``log1p(z) = z + z^2 (-1/2 + z/3 - z^2/4 + z^3/5 -
    z^4/6)`` (truncation < 2^-58 |z|) in double-float arithmetic, the last three terms in
    float32 (2^-48). Near 1 (``e = j = 0``, ``r_0 = 1``) the result is ``64/ln2
    log1p(v - 1)``: relative accuracy for rates like ``1 - 1e-6``. Elsewhere ``|64 log2 v|
    >= 0.18`` and every absolute error above is below 2^-48.
    """
    f32, i32 = jnp.float32, jnp.int32
    bits = jax.lax.bitcast_convert_type(x, i32)
    e = (bits >> 23) - 127
    m = jax.lax.bitcast_convert_type((bits & 0x007FFFFF) | 0x3F800000, f32)  # [1, 2)
    big = m > f32(1.4142135)
    m = jnp.where(big, m * f32(0.5), m)  # exact
    e = jnp.where(big, e + 1, e)
    j = jnp.round((m - f32(1)) * f32(256)).astype(i32) + 76
    # one gather of the three columns (each gather is a kernel of its own to XLA)
    row = jnp.take(_log_rows(), j, axis=0, mode="clip")
    rj, table_hi, table_lo = row[..., 0], row[..., 1], row[..., 2]
    m1, m2 = _split(m, P32)
    z = _two_sum(m1 * rj - f32(1), m2 * rj)  # exact: Sterbenz, then TwoSum
    if mid is not None:
        t1, t2 = _split(_scaled(mid, -e - 24), P32)
        low = _scaled(lo, -e - 48) * rj if lo is not None else 0
        z = _df_add(z, _two_sum(t1 * rj, t2 * rj + low))
    zh = z[0]
    tail = zh * zh * (f32(-0.25) + zh * (f32(0.2) + zh * f32(-1 / 6)))
    d64, third = _log_consts()
    q = _df_add((f32(-0.5), f32(0)), _df_mul(z, third))
    q = _df_add(q, (tail, f32(0)))
    log1p = _df_add(z, _df_mul(_df_mul(z, z), q))
    y = _df_mul(log1p, d64)
    y = _df_add((table_hi, table_lo), y)
    return _df_add(((e * 64).astype(f32), f32(0)), y)


def _div_int(x_hi: jax.Array, x_lo: jax.Array, d: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(x_hi + x_lo) / d`` for a uint32 ``d >= 1``, as a double-float (~2^-47).

    ``q = fl(x_hi / d)`` is any close float32; the remainder ``x - q d`` is formed
    exactly from ``q``'s halves times ``d``'s 12/12/8-bit limbs, and ``q_lo = rem / d``.
    """
    df = d.astype(jnp.float32)
    q = x_hi / df
    rem, lo = remainder(x_hi, q, d)
    q_lo = ((rem + lo) + x_lo) / df
    return _fast_two_sum(q, q_lo)


def remainder(x_hi: jax.Array, q: jax.Array, d: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``x_hi - q d`` for a float32 ``q`` and a uint32 ``d``, as ``rem + lo``: ``q``'s
    12-bit halves times ``d``'s 12/12/8-bit limbs are exact products, subtracted by TwoSum
    (``rem`` carries the sum, ``lo`` the accumulated errors)."""
    d2, d1, d0 = _limbs(d, P32)
    q1, q2 = _split(q, P32)
    rem, e = _two_sum(x_hi, -(q1 * d2))
    lo = e
    for t in (q1 * d1, q2 * d2, q1 * d0, q2 * d1, q2 * d0):
        rem, e = _two_sum(rem, -t)
        lo = lo + e
    return rem, lo


def _invalid(init_w: jax.Array, d: Any, rate_w: jax.Array) -> jax.Array:
    """Traced values the constructor would refuse: a non-finite init or rate, a negative
    rate, ``decay_steps < 1`` or fractional. (A traced ``transition_begin`` below 0 or
    NaN acts as 0.) They make the schedule NaN at every step, never a plausible number."""
    d = jnp.asarray(d)
    bad_d = d < 1
    if jnp.issubdtype(d.dtype, jnp.floating):
        bad_d = bad_d | (jnp.floor(d) != d)  # also NaN
    bad = ~jnp.isfinite(init_w) | ~jnp.isfinite(rate_w) | (rate_w < 0) | bad_d
    return bad


def flush_subnormal(x: jax.Array) -> jax.Array:
    """``x``, or a zero of ``x``'s sign where ``|x|`` is below the smallest normal.

    A traced init, rate or end_value that small (the factory refuses such concrete
    values) is 0 on every backend: XLA's arithmetic on CPU treats subnormal operands as
    0, on GPU it does not, so without this a subnormal traced init gave 0 on CPU and
    ``inf`` (growth) on GPU. The comparison is true on both (a flushed operand compares as
    0), and ``x * 0`` is a zero of ``x``'s sign on both."""
    return jnp.where(jnp.abs(x) < jnp.finfo(x.dtype).tiny, x * jnp.zeros((), x.dtype), x)


def traced_consts(init: Any, d: Any, rate: Any, tb: Any, staircase: bool, p: _Prec) -> Consts:
    """Constants of a traced config on the float64 path (x64 on): XLA's float64 ``log2``
    (within ~1 float64 ulp, no written bound: ``_evaluate._fast_bound64`` takes 2^-40 and
    the accurate path reads the exact values). Float32 traced configs: ``_leaf_consts``."""
    assert p is P64, "float32 traced constants come from _leaf_consts"
    w = p.float_dtype
    init_w = flush_subnormal(jnp.asarray(init).astype(w))
    rate_w = flush_subnormal(jnp.asarray(rate).astype(w))
    one = jnp.ones((), w)
    zero = rate_w == 0
    d_u = _to_uint(d, p, 1)
    absinit = jnp.where(init_w == 0, one, jnp.abs(init_w))
    rate_nz = jnp.where(zero, one, rate_w)
    a_hi, a_lo = w.type(64) * jnp.log2(absinit), jnp.zeros_like(absinit)
    k_hi = w.type(64) * jnp.log2(rate_nz)
    if not staircase:
        k_hi = k_hi / jnp.asarray(d).astype(w)
    k_lo = jnp.zeros_like(k_hi)
    k_hh, k_hl = _split(k_hi, p)
    return Consts(
        a_hi=a_hi,
        a_lo=a_lo,
        k_hi=k_hi,
        k_hh=k_hh,
        k_hl=k_hl,
        k_lo=k_lo,
        sign=jnp.sign(init_w),
        d=d_u,
        inv_d=1 / jnp.asarray(d).astype(w),
        tb=_to_uint(tb, p, 0),
        zero=zero,
        floor=rate_w < 1,
        one=rate_w == 1,
        bad=_invalid(init_w, d, rate_w),
        dig=_device_digits(absinit, rate_nz, d_u, staircase, p),
    )


# ----------------------------------------------------------------------------------------
# The kernel.
# ----------------------------------------------------------------------------------------
def _floor_div(n: jax.Array, d: Any, inv_d: Any, p: _Prec) -> jax.Array:
    """``n // d`` for unsigned ``n`` and ``d >= 1``, exact.

    A compile-time divisor (a schedule closed over by ``jit``) is left to XLA, which turns
    it into a multiply and shift. A runtime divisor (a schedule passed as an argument)
    would be a scalar integer division per element on CPU (~2x slower overall), so for
    32 bits we estimate the quotient in float32 and correct it exactly in integers:
    ``q0 = floor(f32(n) / d)`` is within ``n * 2^-22 + 1`` of the quotient, so the
    remainder ``r0 = n - q0 * d`` satisfies ``|r0| <= 2^10 + d`` (an int32 when
    ``d < 2^30``); a second estimate from ``r0`` is off by at most one, which the final
    integer comparison fixes. Divisors ``>= 2^30`` give quotients 0..3, counted directly.
    """
    if isinstance(d, np.ndarray) or p.uint_dtype != np.uint32:
        return jnp.floor_divide(n, d)
    f32, u32, i32 = np.float32, np.uint32, np.int32
    q0 = jnp.minimum(jnp.floor(n.astype(f32) * inv_d), f32(p.umax_float)).astype(u32)
    r0 = jax.lax.bitcast_convert_type(n - q0 * d, i32)
    di = jax.lax.bitcast_convert_type(d, i32)
    q1 = jnp.floor(r0.astype(f32) * inv_d).astype(i32)
    r1 = r0 - q1 * di
    adj = q1 + (r1 >= di).astype(i32) - (r1 < 0).astype(i32)
    q = q0 + jax.lax.bitcast_convert_type(adj, u32)
    ge1 = n >= d
    n1 = jnp.where(ge1, n - d, n)
    ge2 = n1 >= d
    ge3 = jnp.where(ge2, n1 - d, n1) >= d
    q_big = ge1.astype(u32) + ge2.astype(u32) + ge3.astype(u32)
    return jnp.where(d >= u32(2**30), q_big, q)


class _Step(NamedTuple):
    n: jax.Array  # the stair (staircase) or the integer step offset (continuous)
    frac: jax.Array | None  # fraction of a float step offset (continuous), else None
    hold: jax.Array  # bool: s <= 0, the initial rate
    decayed: jax.Array  # bool: rate ** p with p > 0
    nan: jax.Array | None
    posinf: jax.Array | None
    p: jax.Array  # p as a working float (for derivatives)
    # the same parse traced again: where the accurate path needs ``n`` and ``frac``, it
    # recomputes them inside its ``lax.cond`` branch (from the step, which is there
    # anyway) instead of keeping them alive as arrays for the common case
    again: functools.partial[_Step] | None = None


def _parse_step(step: jax.Array, c: Consts, p: _Prec, staircase: bool) -> _Step:
    sdt = step.dtype
    u = p.uint_dtype
    w = p.float_dtype.type
    frac = nan = posinf = None
    if jnp.issubdtype(sdt, jnp.integer):
        if jnp.issubdtype(sdt, jnp.signedinteger):
            su = jnp.where(step < 0, jnp.zeros((), sdt), step).astype(u)
        else:
            su = step.astype(u)
        hold = su <= c.tb
        f = None
    else:
        x = flush_subnormal(step.astype(p.float_dtype))  # 0 on every backend (see there)
        fl = jnp.floor(x)
        finite = jnp.isfinite(x)
        su = jnp.clip(fl, 0, p.umax_float).astype(u)
        f = jnp.where(finite, x - fl, jnp.zeros((), p.float_dtype))
        posinf = x == np.inf
        hold = ((x <= 0) | (su < c.tb) | ((su == c.tb) & (f == 0))) & ~posinf
        nan = jnp.isnan(x)
        frac = None if staircase else jnp.where(hold, jnp.zeros((), p.float_dtype), f)
    n = jnp.where(hold, jnp.zeros((), u), su - c.tb)  # s <= 0 holds: p = 0, A alone
    if staircase:
        n = _floor_div(n, c.d, c.inv_d, p)
        decayed = (n > 0) & ~hold
        if posinf is not None:
            decayed = decayed | posinf
        pf = n.astype(p.float_dtype)
    else:
        decayed = ~hold
        pf = n.astype(p.float_dtype) if f is None else n.astype(p.float_dtype) + f
        pf = pf * c.inv_d
    pf = jnp.where(hold, w(0), pf)
    again = functools.partial(_parse_step, step, c, p, staircase)
    return _Step(n, frac, hold, decayed, nan, posinf, pf, again)


# ----------------------------------------------------------------------------------------
# The exact constants of the accurate path (``_fixed``): A and K as floor digits.
# ----------------------------------------------------------------------------------------
# The fast ``t_hi + t_lo`` above carries ~48 bits, so near |t| ~ 9600 it is off by up to
# ~2^-35 absolute (~2^-41 relative in the result). The accurate path (used only where the
# rounding test in ``_evaluate`` cannot decide) recomputes ``t`` exactly from
#
#   A = sum_i a_i 2^(12 (3 - i)), i = 0..13  (weights 2^36 .. 2^-120)
#   K = sum_i k_i 2^(12 (3 - i)), i = 0..15  (weights 2^36 .. 2^-144)
#
# with ``a_0``, ``k_0`` signed and the other digits in [0, 4096) (floor digits), from
# 60-digit ``decimal`` (A to 2^-120, K to 2^-144): int32 leaves, so a schedule passed
# through ``jit``, ``vmap`` or ``device_put`` carries them exactly.
_DIG_TOP = 3  # the first digit has weight 2^(12 * 3)
_NA, _NK = 14, 16  # digits of A and of K


def _int_digits(x: int, count: int) -> list[int]:
    """Floor digits of the integer ``x`` (a fixed-point number scaled by 2^(12 (count -
    1 - 3))): the first digit signed, the others in [0, 4096)."""
    out = []
    for _ in range(count - 1):
        x, r = divmod(x, 4096)
        out.append(r)
    out.append(x)
    return out[::-1]


@functools.cache
def _digits_of(
    init: float, d: int, rate: float, staircase: bool, umax: int = 2**32 - 1
) -> tuple[int, ...]:
    """A and K of one config as digits, from 60-digit ``decimal`` (< 2^-190 relative);
    ``umax`` the largest step of the path (a longer stair is never reached: K is 0)."""
    import decimal

    ctx = _ctx()
    scale = ctx.divide(64, ctx.ln(decimal.Decimal(2)))
    init_d, rate_d = _dec(init), _dec(rate)
    a = ctx.multiply(ctx.ln(ctx.abs(init_d)), scale) if init_d != 0 else decimal.Decimal(0)
    k = ctx.multiply(ctx.ln(rate_d), scale) if rate_d > 0 else decimal.Decimal(0)
    if staircase:
        if d > umax:
            k = decimal.Decimal(0)
    else:
        k = ctx.divide(k, decimal.Decimal(d))
    fa = int(
        ctx.multiply(a, 2 ** (12 * (_NA - 1 - _DIG_TOP))).to_integral_value(
            rounding=decimal.ROUND_FLOOR, context=ctx
        )
    )
    fk = int(
        ctx.multiply(k, 2 ** (12 * (_NK - 1 - _DIG_TOP))).to_integral_value(
            rounding=decimal.ROUND_FLOOR, context=ctx
        )
    )
    return tuple(_int_digits(fa, _NA) + _int_digits(fk, _NK))


def _host_digits(init: np.ndarray, d: np.ndarray, rate: np.ndarray, staircase: bool, p: _Prec):
    """``dig`` for concrete configs: the exact config itself (``exact_rows``); the accurate
    path, on the host, makes its digits (``_digits_of``) only when it runs."""
    u64 = np.uint64
    ab = np.where(init == 0, 1.0, np.abs(init)).astype(np.float64).view(u64)
    rb = np.where(rate == 0, 1.0, rate).astype(np.float64).view(u64)
    return exact_rows(ab, rb, np.asarray(d, u64), staircase, p, np)


def exact_rows(init_bits, rate_bits, d, staircase: bool, p: _Prec, xp: Any) -> tuple:
    """The 30 ``dig`` leaves of an exact config, marked by a last leaf of -2: the low and
    high words of the float64 bits of ``|init|`` and ``rate`` (0 taken as 1: the value is
    masked there) and of the 64-bit ``decay_steps``, then flags (1: staircase, 4: the
    64-bit path). ``xp`` is numpy (host-built) or ``jax.numpy`` (traced, x64 on)."""
    i32 = np.int32

    def words(x):
        x = xp.asarray(x)
        lo = (x & x.dtype.type(0xFFFFFFFF)).astype(np.uint32)
        hi = (x >> x.dtype.type(32)).astype(np.uint32)
        if xp is np:
            return lo.view(i32), hi.view(i32)
        return (
            jax.lax.bitcast_convert_type(lo, i32),
            jax.lax.bitcast_convert_type(hi, i32),
        )

    cols = [*words(init_bits), *words(rate_bits), *words(d)]
    flags = (1 if staircase else 0) | (4 if p.float_dtype == np.float64 else 0)
    shape = np.broadcast_shapes(*(np.shape(c) for c in cols))
    cols = [xp.broadcast_to(c, shape) for c in cols]
    cols.append(xp.full(shape, flags, i32))
    pad = [xp.zeros(shape, i32)] * (_NA + _NK - len(cols) - 1)
    return (*cols, *pad, xp.full(shape, -2, i32))


def _device_digits(init_w, rate_w, d_u, staircase: bool, p: _Prec) -> tuple:
    """``dig`` for a traced config on the float64 path: the exact float64 values and count
    (``exact_rows``' layout), from which the accurate path (on the host, ``_fixed.
    accurate``) takes the same digits as a host-built config of these values."""
    u64 = jnp.uint64

    def bits(x: Any) -> jax.Array:  # 0 taken as 1, as on the host (masked there)
        x = jnp.asarray(x, jnp.float64)
        return jax.lax.bitcast_convert_type(jnp.where(x == 0, 1.0, x), u64)

    return exact_rows(bits(init_w), bits(rate_w), jnp.asarray(d_u, u64), staircase, p, jnp)
