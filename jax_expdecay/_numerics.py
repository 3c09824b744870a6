"""The numerics of ``init * rate ** p``: exact stairs, and float32 results within 2 ulp.

One job: turn a step into a learning rate, exactly enough. Everything else (validation,
serialisation, the user-facing factory) lives elsewhere.

The numerical argument
----------------------
We evaluate ``lr = sign(init) * exp(E)`` with the exponent

    E = log|init| + N * K (+ f * K)

where ``N`` is a non-negative *integer* and ``K`` a constant of the schedule:

* staircase: ``N = floor(s / d)`` computed exactly in integers (XLA turns division by
  a compile-time constant into a multiply-shift; a runtime divisor gets a float32
  estimate corrected exactly in integers, see ``_floor_div``), ``K = log(rate)``;
* continuous: ``N = s`` (the integer part of the step offset ``s = step - begin``) and
  ``f`` its fractional part for float steps, ``K = log(rate) / d``. No division happens
  on the device at all, so there is no ``/ d`` for XLA to turn into ``* (1 / d)``.

Why it is accurate. The relative error of ``exp(E)`` is (to first order) the absolute
error of ``E``, and ``|E|`` reaches ~104 in float32, so ``E`` rounded once to float32
already costs up to 2^-18 relative error (~30 ulp); optax additionally rounds ``rate``
to float32 and raises it to a power of up to 2^31, which is how it gets to millions of
ulp. We instead carry ``E`` as an unevaluated sum ``hi + lo`` of two working-precision
floats (a *double-float*) with absolute error far below one ulp of the result:

1. Host constants. ``log|init|`` and ``K`` are computed on the host with Python's
   ``decimal`` at 60 digits from the exact double values of the hyperparameters, then
   split into ``hi + lo`` floats. ``K_hi`` is further split into halves ``K_hh + K_hl``
   of at most 12 (float32) / 26-27 (float64) significant bits.
2. Error-free product. ``N`` (an unsigned 32- or 64-bit integer) is split by *integer*
   masking into limbs ``n2 + n1 + n0`` of 12, 12 and 8 bits (float32; 26, 26, 12 for
   float64), each exactly representable. Every limb-times-half product is then exact,
   and Dekker's product (``p = fl(nh * K_hi)`` with ``nh = n2 + n1`` and its exact
   error ``e``) gives ``nh * K_hi = p + e`` exactly. No fused multiply-add is needed,
   so the result does not depend on whether the compiler contracts ``a * b + c``.
3. Error-free sums. Dekker's Fast2Sum and Knuth's TwoSum add ``p``, ``n0 * K_hh``,
   ``n0 * K_hl`` and ``log|init|_hi`` without error (an optimization barrier keeps XLA
   from simplifying ``(a + b) - a`` to ``b``, which would drop the very error being
   captured); the small terms (``e``, the sums' errors, ``N * K_lo``, ``log|init|_lo``)
   go into ``lo``, and a last Fast2Sum renormalises ``hi + lo``.
4. ``exp(hi + lo) = exp(hi) * (1 + lo) + O(lo^2)``, evaluated as ``y + y * lo``, with
   ``y`` scaled up by ``2^64`` and back when tiny, so that ``y * lo`` never underflows
   and is flushed to zero (that would cost up to 50 ulp near 1e-35). The remaining
   error is that of XLA's ``exp`` (measured <= 1.0 ulp for float32 on CPU) plus one
   rounding, so the total stays below 2 ulp (measured worst 1.23, median 0.24: see
   ``tests/test_accuracy.py`` and ``benchmarks/bench_accuracy.py``).

Costs: about 40 extra cheap vector operations per element and no extra memory traffic;
measured at about 1.5x the bare ``init * exp(step * c)`` over a large int32 step array,
and 0.6x optax (``benchmarks/bench_kernel.py``).

Overflow is impossible in the products (``|N * K| <= 2^64 * 745``), and ``exp``
saturates to ``inf``/``0`` exactly where the true value leaves the range.

Float steps ``x`` are split exactly into ``floor(x)`` (converted to the integer path,
saturating at ``2^32 - 256`` or ``2^64 - 2048``: finite float steps beyond that give the
value there; ``+inf`` gives the limit, 0 or inf) and ``f = x - floor(x)``; ``f * K`` is
made exact with a Veltkamp split. Traced hyperparameters (a config built inside
``jit``/``vmap``) have no host: the same constants are then computed with ``jnp`` in the
working precision, ``K_lo = 0``, so the stairs stay exact but values carry the rounding
of ``log`` and ``/ d``: relative error within ``(|log init| + |p log rate| + 1) * 2^-21``
(tested in ``tests/test_accuracy.py``).
"""

from __future__ import annotations

import decimal
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_CTX = decimal.Context(prec=60)


class Consts(NamedTuple):
    """Device-ready constants of one working precision (a JAX pytree)."""

    a_hi: Any  # log|init|, hi part
    a_lo: Any  # log|init|, lo part
    k_hi: Any  # K, hi part
    k_hh: Any  # K_hi, upper half of its significant bits
    k_hl: Any  # K_hi - K_hh
    k_lo: Any  # K - K_hi
    sign: Any  # sign(init) as a working float: -1, 0 or +1
    d: Any  # decay_steps, unsigned int (clamped to the integer range)
    inv_d: Any  # 1 / decay_steps in the working float (for the runtime-divisor quotient)
    tb: Any  # transition_begin, unsigned int (clamped)
    zero: Any  # bool: decay_rate == 0 (rate ** p is 0 once p > 0)
    floor: Any  # bool: decay_rate < 1 (end_value is a floor, else a cap)


class _Prec(NamedTuple):
    float_dtype: Any
    uint_dtype: Any
    mant: int  # significand bits of the float type
    half: int  # bits in K_hh
    limb: int  # bits in n1 and n2
    low: int  # bits in n0
    umax: int
    umax_float: float  # largest float <= umax


P32 = _Prec(np.dtype(np.float32), np.dtype(np.uint32), 24, 12, 12, 8, 2**32 - 1, 2.0**32 - 256)
P64 = _Prec(np.dtype(np.float64), np.dtype(np.uint64), 53, 26, 26, 12, 2**64 - 1, 2.0**64 - 2048)


# ----------------------------------------------------------------------------------------
# Host-side constants (concrete hyperparameters): exact decimal arithmetic.
# ----------------------------------------------------------------------------------------
def _dec(x: Any) -> decimal.Decimal:
    return decimal.Decimal(int(x)) if isinstance(x, int | np.integer) else decimal.Decimal(float(x))


def _split2(x: decimal.Decimal, dt: np.dtype) -> tuple[float, float]:
    hi = float(dt.type(float(x)))
    lo = float(dt.type(float(_CTX.subtract(x, decimal.Decimal(hi)))))
    return hi, lo


def _halve(hi: float, bits: int) -> tuple[float, float]:
    if hi == 0.0:
        return 0.0, 0.0
    m, e = math.frexp(hi)
    hh = math.ldexp(round(m * 2**bits), e - bits)
    return hh, hi - hh


def _host_scalar(
    init: Any, d: int, rate: Any, tb: int, staircase: bool, p: _Prec
) -> tuple[Any, ...]:
    init_d, rate_d = _dec(init), _dec(rate)
    sign = float((init_d > 0) - (init_d < 0))
    a = _CTX.ln(abs(init_d)) if init_d != 0 else decimal.Decimal(0)
    zero = rate_d == 0
    log_rate = _CTX.ln(rate_d) if not zero else decimal.Decimal(0)
    if staircase:
        k = log_rate
        if d > p.umax:  # no step of this precision reaches the first stair
            k, zero = decimal.Decimal(0), False
    else:
        k = _CTX.divide(log_rate, decimal.Decimal(int(d)))
    a_hi, a_lo = _split2(a, p.float_dtype)
    k_hi, k_lo = _split2(k, p.float_dtype)
    k_hh, k_hl = _halve(k_hi, p.half)
    return (
        a_hi,
        a_lo,
        k_hi,
        k_hh,
        k_hl,
        k_lo,
        sign,
        min(int(d), p.umax),
        1.0 / int(d),
        min(int(tb), p.umax),
        zero,
        rate_d < 1,
    )


def host_consts(init: Any, d: Any, rate: Any, tb: Any, staircase: bool, p: _Prec) -> Consts:
    """Constants for concrete hyperparameters (scalars or broadcastable numpy arrays)."""
    arrays = np.broadcast_arrays(
        np.asarray(init, dtype=object if isinstance(init, int) else None),
        np.asarray(d, dtype=object),
        np.asarray(rate),
        np.asarray(tb, dtype=object),
    )
    shape = arrays[0].shape
    rows = [
        _host_scalar(
            i.item() if hasattr(i, "item") else i,
            int(dd),
            r.item() if hasattr(r, "item") else r,
            int(t),
            staircase,
            p,
        )
        for i, dd, r, t in zip(*(a.reshape(-1) for a in arrays), strict=True)
    ]
    cols = list(zip(*rows, strict=True))
    fdt, udt = p.float_dtype, p.uint_dtype
    dtypes = (fdt,) * 7 + (udt, fdt, udt, np.dtype(bool), np.dtype(bool))
    return Consts(
        *(np.asarray(c, dtype=dt).reshape(shape) for c, dt in zip(cols, dtypes, strict=True))
    )


# ----------------------------------------------------------------------------------------
# Traced constants (hyperparameters are tracers): the same with jnp, in working precision.
# ----------------------------------------------------------------------------------------
def _to_uint(x: Any, p: _Prec, lo: int) -> jax.Array:
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating):
        x = jnp.clip(jnp.floor(x), lo, p.umax_float)
    else:
        x = jnp.maximum(x, jnp.asarray(lo, x.dtype))
    return x.astype(p.uint_dtype)


def traced_consts(init: Any, d: Any, rate: Any, tb: Any, staircase: bool, p: _Prec) -> Consts:
    w = p.float_dtype
    init_w = jnp.asarray(init).astype(w)
    rate_w = jnp.asarray(rate).astype(w)
    one = jnp.ones((), w)
    zero = rate_w == 0
    a = jnp.log(jnp.where(init_w == 0, one, jnp.abs(init_w)))
    log_rate = jnp.log(jnp.where(zero, one, rate_w))
    k = log_rate if staircase else log_rate / jnp.asarray(d).astype(w)
    k_hh, k_hl = _veltkamp(k, p)  # exact: XLA does not reassociate float arithmetic
    zeros = jnp.zeros_like(k)
    return Consts(
        a_hi=a,
        a_lo=jnp.zeros_like(a),
        k_hi=k,
        k_hh=k_hh,
        k_hl=k_hl,
        k_lo=zeros,
        sign=jnp.sign(init_w),
        d=_to_uint(d, p, 1),
        inv_d=1 / jnp.asarray(d).astype(w),
        tb=_to_uint(tb, p, 0),
        zero=zero,
        floor=rate_w < 1,
    )


# ----------------------------------------------------------------------------------------
# The kernel.
# ----------------------------------------------------------------------------------------
def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Knuth's TwoSum. The barrier stops XLA's algebraic simplifier from rewriting
    # (a + b) - a into b, which would silently drop the rounding error we are after.
    s = jax.lax.optimization_barrier(a + b)
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Dekker's Fast2Sum: exact when exponent(a) >= exponent(b) or a == 0.
    s = jax.lax.optimization_barrier(a + b)
    return s, b - (s - a)


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


def _veltkamp(x: jax.Array, p: _Prec) -> tuple[jax.Array, jax.Array]:
    c = p.float_dtype.type(2.0 ** (p.mant - p.half) + 1)
    t = x * c
    hi = t - (t - x)
    return hi, x - hi


def exponent(n: jax.Array, frac: jax.Array | None, c: Consts, p: _Prec):
    """Returns ``(hi, lo)`` with ``hi + lo = log|init| + (n + frac) * K`` (double-float)."""
    n2, n1, n0 = _limbs(n, p)
    nh = n2 + n1  # exact: at most 2 * limb bits
    prod = nh * c.k_hi
    err = ((n2 * c.k_hh - prod) + n2 * c.k_hl + n1 * c.k_hh) + n1 * c.k_hl  # Dekker, exact
    # n0 * k_hh and n0 * k_hl are exact, and each is smaller in magnitude than the running
    # sum unless nh == 0 (prod == 0, where Fast2Sum is exact too).
    h, e1 = _fast_two_sum(prod, n0 * c.k_hh)
    h, e2 = _fast_two_sum(h, n0 * c.k_hl)
    h, e3 = _two_sum(c.a_hi, h)
    lo = (err + e1) + (e2 + e3) + ((nh + n0) * c.k_lo + c.a_lo)
    if frac is not None:  # float steps: f * K with f in [0, 1)
        fh, fl = _veltkamp(frac, p)
        fprod = frac * c.k_hi
        ferr = ((fh * c.k_hh - fprod) + fh * c.k_hl + fl * c.k_hh) + fl * c.k_hl
        h, e4 = _two_sum(h, fprod)
        lo = lo + (e4 + ferr + frac * c.k_lo)
    # Every term of lo is an ulp-sized error of a term of at most |log init| + |N K|, so
    # |lo| < 2^-20 * 745 wherever the result is in range. Renormalising makes hi the
    # rounded exponent whichever way it was summed, so the staircase and the continuous
    # schedule agree bit for bit at stair starts. Fast2Sum suffices: if |hi| < |lo| its
    # error term is off by at most 2^-25 |lo|, below 2^-38 absolute.
    return _fast_two_sum(h, lo)


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


def evaluate(
    step: Any,
    c: Consts,
    p: _Prec,
    *,
    staircase: bool,
    init: Any,
    end_value: Any,
    out_dtype: Any,
) -> jax.Array:
    """The learning rate at ``step`` (any shape, any integer or float dtype)."""
    step = jnp.asarray(step)
    sdt = step.dtype
    u = p.uint_dtype
    frac = None
    nan = posinf = None
    if jnp.issubdtype(sdt, jnp.integer):
        if jnp.issubdtype(sdt, jnp.signedinteger):
            su = jnp.where(step < 0, jnp.zeros((), sdt), step).astype(u)
        else:
            su = step.astype(u)
        hold = su <= c.tb
    elif jnp.issubdtype(sdt, jnp.floating):
        x = step.astype(p.float_dtype)
        fl = jnp.floor(x)
        finite = jnp.isfinite(x)
        su = jnp.clip(fl, 0, p.umax_float).astype(u)
        f = jnp.where(finite, x - fl, jnp.zeros((), p.float_dtype))
        posinf = x == np.inf
        hold = ((x <= 0) | (su < c.tb) | ((su == c.tb) & (f == 0))) & ~posinf
        nan = jnp.isnan(x)
        frac = None if staircase else f
    else:
        raise TypeError(f"step must be an integer or float array, got dtype {sdt}")
    n = su - c.tb  # only used where not hold; no wraparound there
    if staircase:
        n = _floor_div(n, c.d, c.inv_d, p)
        decayed = (n > 0) & ~hold
        if posinf is not None:
            decayed = decayed | posinf
        unchanged = ~decayed  # rate ** 0: exactly the initial rate
    else:
        decayed = ~hold
        unchanged = hold
    hi, lo = exponent(n, frac, c, p)
    # y * lo underflows (and is flushed to zero on CPU/GPU) once y is below ~1e-31; so
    # scale tiny y up by an exact power of two and back down in the last multiply.
    w = p.float_dtype.type
    tiny = hi < w(-40.0)
    up = jnp.where(tiny, w(2.0**64), w(1.0))
    down = jnp.where(tiny, w(2.0**-64), w(1.0)) * c.sign
    y = jnp.exp(hi) * up
    val = jnp.where(jnp.isinf(y), y, y + y * lo) * down
    if posinf is not None:  # the limit p -> inf: 0 (decay) or inf (growth); rate 1 below
        limit = jnp.where((c.k_hi < 0) | (c.sign == 0), w(0.0), jnp.multiply(w(np.inf), c.sign))
        val = jnp.where(posinf & (c.k_hi != 0), limit, val)  # rate 1: finite init below
    val = val.astype(out_dtype)
    init_out = jnp.asarray(init).astype(out_dtype)
    # decay_rate == 1 (or 0, masked below): exactly the initial rate, but keep the
    # gradient of rate ** p (init * p at rate 1) for hypergradient methods.
    flat = init_out + (val - jax.lax.stop_gradient(val))
    out = jnp.where(unchanged, init_out, jnp.where(c.k_hi == 0, flat, val))
    out = jnp.where(c.zero & decayed, jnp.zeros((), out_dtype), out)
    if end_value is not None:
        ev = jnp.asarray(end_value).astype(out_dtype)
        out = jnp.where(c.floor, jnp.maximum(out, ev), jnp.minimum(out, ev))
    if nan is not None:
        out = jnp.where(nan, jnp.asarray(np.nan, out_dtype), out)
    return out
