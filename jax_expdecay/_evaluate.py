"""The evaluation of ``init * rate ** p`` from its exponent: ``sign * 2 ** (t/64)``.

The exponent ``t = t_hi + t_lo`` (a double-float, ``_exponent``) goes through ``_exp``'s
``2 ** (t/64)`` from IEEE basic operations, then into the output dtype, then ``end_value``
and NaN. The derivative rules of the whole are in ``_derivatives``.

``2 ** (t/64)`` is correctly rounded from ``t`` (``_exp``), with the same bits on every
backend. The total error of ``t`` (``_exponent``) before the final rounding is ~2^-48
relative for moderate ``|t|`` and ~2^-41 for ``|t|`` near 9600, so a result differs from
the float32 nearest the exact value only when the exact value lies that close to a
rounding midpoint (measured: 0 of 45,204 typical-config values, 0 of 10^6 random
arguments; ``benchmarks/bench_accuracy.py``).

Results below 2^-126 are flushed to 0 (``2^-126`` itself and the values that round up to
it are kept); results beyond the float32 range are inf exactly where the correctly
rounded value overflows. bfloat16/float16 results are rounded once from the double-float
(round-to-odd to float32, then to nearest), so there is no double rounding.

Costs: ~90 vector operations per element, no extra memory traffic; see
``benchmarks/bench_kernel.py`` for measured ratios to the bare ``exp`` and to optax.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from ._exp import exp2_64
from ._exponent import Consts, _Prec, _Step, exponent


def _magnitude(
    st: _Step, c: Consts, p: _Prec, out_dtype: Any, with_init: bool = True, mask_zero: bool = True
):
    """``|init| rate ** p`` (or ``rate ** p``) at the parsed steps, in ``out_dtype``."""
    w = p.float_dtype.type
    hi, lo = exponent(st.n, st.frac, c if with_init else _no_init(c), p)
    narrow = np.dtype(out_dtype).itemsize < p.float_dtype.itemsize
    val = exp2_64(hi, lo, round_to_odd=narrow)
    if st.posinf is not None:  # the limit p -> inf: 0 (decay) or inf (growth)
        limit = jnp.where(c.floor, w(0.0), w(np.inf))  # from the rate, not K (K is 0
        val = jnp.where(st.posinf & ~c.one, limit, val)  # when no step reaches a stair)
    if mask_zero:
        val = jnp.where(c.zero & st.decayed, w(0), val)
    return val


def _no_init(c: Consts) -> Consts:
    z = jnp.zeros_like(c.a_hi)
    return c._replace(a_hi=z, a_lo=z)


class _Static:
    """Concrete constants, passed to the custom-JVP function as a non-differentiable
    argument so that they stay numpy (XLA then folds them, e.g. division by a constant
    ``decay_steps`` becomes a multiply-shift). Traced constants go as ordinary args."""

    __slots__ = ("c",)

    def __init__(self, c: Consts):
        self.c = c


def _finish(st: _Step, c: Consts, p: _Prec, out_dtype: Any, end_value: Any):
    """``sign * magnitude``, then ``end_value`` and NaN: (value, magnitude, clamped)."""
    mag = _magnitude(st, c, p, out_dtype)
    out = jnp.where(c.sign == 0, jnp.zeros((), p.float_dtype), mag * c.sign).astype(out_dtype)
    clamped = None
    if end_value is not None:
        ev = jnp.asarray(end_value).astype(out_dtype)
        new = jnp.where(c.floor, jnp.maximum(out, ev), jnp.minimum(out, ev))
        clamped = new != out
        out = new
    nan = c.bad if st.nan is None else (st.nan | c.bad)
    out = jnp.where(nan, jnp.asarray(np.nan, out_dtype), out)
    return out, mag, clamped


class Hyper(NamedTuple):
    """The config's own values, for the derivatives (and float64's held value)."""

    init: Any
    rate: Any
    decay_steps: Any
    transition_begin: Any
    end_value: Any
