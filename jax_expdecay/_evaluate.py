"""The evaluation of ``init * rate ** p`` from its exponent: ``sign * 2 ** (t/64)``.

The exponent ``t = t_hi + t_lo`` (a double-float, ``_exponent``) goes through ``_exp``'s
``2 ** (t/64)`` from IEEE basic operations, then into the output dtype, then ``end_value``
and NaN. The derivative rules of the whole are in ``_derivatives``.

``2 ** (t/64)`` is correctly rounded from ``t`` (``_exp``), with the same bits on every
backend. The total error of ``t`` (``_exponent``) before the final rounding is ~2^-48
relative for moderate ``|t|`` and ~2^-41 for ``|t|`` near 9600, so on its own the fast
path is one ulp off when the exact value lies that close to a rounding midpoint (225 of
the 2^31 int32 steps of the Keras documentation example). Hence Ziv's strategy: the fast
path comes with a rigorous bound (``_fast_bound``), ``_exp.exp2_64_checked``'s rounding
test flags every value whose nearest midpoint of the output format is not provably
farther than the bound, and ``_resolve`` replaces those by the accurate path's
(``_fixed``: exact integers, exact ties to even) under ``lax.cond``.

Results below 2^-126 are flushed to 0 (``2^-126`` itself and the values that round up to
it are kept); results beyond the float32 range are inf exactly where the correctly
rounded value overflows. bfloat16/float16 results are rounded once from the double-float
(round-to-odd to float32, then to nearest), so there is no double rounding.

Costs: ~90 vector operations per element, no extra memory traffic; see
``benchmarks/bench_kernel.py`` for measured ratios to the bare ``exp`` and to optax.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from . import _host_call
from ._exp import exp2_64_checked
from ._exponent import Consts, _Prec, _Step, exponent, flush_subnormal


def _magnitude(
    st: _Step, c: Consts, p: _Prec, out_dtype: Any, with_init: bool = True, mask_zero: bool = True
):
    """``|init| rate ** p`` (or ``rate ** p``) at the parsed steps, in ``out_dtype``."""
    w = p.float_dtype.type
    hi, lo = exponent(st.n, st.frac, c if with_init else _no_init(c), p)
    narrow = np.dtype(out_dtype).itemsize < p.float_dtype.itemsize
    bits, emin, emax = _FORMATS[np.dtype(out_dtype).name]
    sub_emin = emin if emin > -126 else None  # float16's subnormals are float32 normals
    if not with_init:  # rate ** p for the derivatives: the fast path suffices
        val, _ = exp2_64_checked(hi, lo, round_to_odd=narrow)
    else:  # rounding test; the undecided values go to the accurate path
        bound = _fast_bound(st, c) if p.float_dtype == np.float32 else _fast_bound64(st, c)
        val, und = exp2_64_checked(
            hi, lo, round_to_odd=narrow, bound=bound, out_bits=bits, out_emin=sub_emin
        )
        assert und is not None
        val = _resolve(val, und, st, c, bits, emin, emax)
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


def _round_once(x: Any, out_dtype: Any) -> jax.Array:
    return (
        jnp.asarray(end_value_in(x, out_dtype))
        if not isinstance(x, Tracer)
        else x.astype(out_dtype)
    )


def end_value_in(x: Any, out_dtype: Any) -> Any:
    """``end_value`` in the output dtype, rounded once from the value given.

    Comparing the rounded result with the rounded ``end_value`` equals rounding the
    exact comparison (rounding is monotone), so only this rounding must be single. A
    concrete value goes through round-to-odd to float64 (Python ints beyond 2^53) and
    then to float32 (for bfloat16/float16), from which one round-to-nearest is the
    correct one; a traced value is cast by XLA."""
    out = np.dtype(out_dtype)
    if isinstance(x, int) and not isinstance(x, bool):
        f = float(x)
        if int(f) != x and int(np.float64(f).view(np.int64)) % 2 == 0:
            f = math.nextafter(f, math.inf if x > f else -math.inf)
        x64 = np.asarray(f, np.float64)
    else:
        x64 = np.asarray(x, np.float64)
    if out == np.float64:
        return x64
    f32 = x64.astype(np.float32)
    if out.itemsize < 4:
        bits = f32.view(np.int32)
        inexact = f32.astype(np.float64) != x64
        toward = np.where(np.abs(x64) > np.abs(f32.astype(np.float64)), 1, -1).astype(np.int32)
        bits = np.where(inexact & (bits % 2 == 0), bits + toward, bits)
        f32 = bits.view(np.float32)
    r = np.asarray(f32).astype(out)
    if out != np.float16:  # below the smallest normal: 0, as results are (float16's
        # subnormals are float32 normals and are kept); explicit, so that no backend's
        # handling of subnormal operands decides the clamp
        r = np.where(np.abs(r) < float(jnp.finfo(out).tiny), r * out.type(0), r)
    return r


def _finish(st: _Step, c: Consts, p: _Prec, out_dtype: Any, end_value: Any):
    """``sign * magnitude``, then ``end_value`` and NaN: (value, magnitude, clamped)."""
    mag = _magnitude(st, c, p, out_dtype)
    out = jnp.where(c.sign == 0, jnp.zeros((), p.float_dtype), mag * c.sign).astype(out_dtype)
    clamped = None
    if end_value is not None:
        ev = _round_once(end_value, out_dtype) if c.ev is None else c.ev.astype(out_dtype)
        if isinstance(ev, Tracer) and np.dtype(out_dtype) != np.float16:
            ev = flush_subnormal(ev)  # as end_value_in does on the host
        # Strict comparisons, not max/min: which zero max(+0, -0) returns is up to the
        # backend; here a zero end_value replaces a zero result of the other sign only
        # if it is strictly beyond it, i.e. never. A NaN end_value still gives NaN.
        beyond = jnp.where(c.floor, ev > out, ev < out) | (ev != ev)
        new = jnp.where(beyond, ev, out)
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


# ----------------------------------------------------------------------------------------
# The rounding test's bound (error of the fast path) and the accurate path.
# ----------------------------------------------------------------------------------------
_FORMATS = {  # significant bits, exponent of the smallest normal, of the largest finite
    "float32": (24, -126, 127),
    "bfloat16": (8, -126, 127),
    "float16": (11, -14, 15),
    "float64": (53, -1022, 1023),
}


def _fast_bound(st: _Step, c: Consts) -> jax.Array:
    """Upper bound on ``|hi + low - Y|`` of the float32 fast path, ``Y = V 2^-n < 2``.

    Error of ``t_hi + t_lo`` (units of t, ``S = |A| + |N K| + |f K|``): constants 2^-52.9
    (numpy ``log2``) and 2^-48 (the float32 ``lo`` of A, K); ``N K_lo`` with ``N`` rounded
    to float32: 2^-47; the ``lo`` sum of five Fast2Sum errors (each <= 2^-24 of a sum
    <= |N K|) with its own roundings: <= 2^-43.6; the last TwoSum/``a_lo`` additions:
    2^-45. Total < 2^-42.5 S. A traced config's device constants (2^-47) are inside it.
    In the result that is a relative ``2^-42.5 S ln2/64``; the exp adds < 2^-47 relative
    (``_exp``, steps 2-4; taken as 2^-46). With ``Y < 2`` and float32 rounding of the
    bound itself (a few 2^-24, covered by the factor 1.01):
        B = 2.02 (2^-46 + 2^-42.5 * 0.01083 * S).
    """
    f32 = np.float32
    s = jnp.abs(c.a_hi) + st.n.astype(jnp.float32) * jnp.abs(c.k_hi)
    if st.frac is not None:
        s = s + st.frac * jnp.abs(c.k_hi)
    return f32(2.02 * 2.0**-46) + s * f32(2.02 * 2.0**-42.5 * 0.01083)


def _fast_bound64(st: _Step, c: Consts) -> jax.Array:
    """The same for the float64 path: constants from 60-digit ``decimal`` as float64
    pairs (2^-104), limbs and sums as above with 2^-53 for 2^-24: < 2^-95 S in t. The
    float64 exp is the float32 algorithm with float64 operations, and its polynomial was
    sized for float32: the Taylor tail stops after ``r^7/7!`` (remainder ``r^8/8! <
    2^-75.4`` relative, ``|r| <= ln2/128``) and is summed in plain float64 (five
    roundings of 2^-53 on a tail below ``r^3/6 < 2^-25.1``: < 2^-75.8), so it is within
    2^-74.6 relative (measured: 2^-74.8 worst of 4,000 random t against mpmath); taken
    as 2^-72. What the bound leaves undecided (exact midpoints, and values within ~2^-72
    relative of one: about one value in 2^19 for float64 output) goes to the accurate
    path like float32's.

    A traced float64 config's constants come from XLA's ``log2`` (``_exponent.
    traced_consts``), measured within ~1 float64 ulp but with no written bound: they are
    taken to be within 2^-40 relative (4096 ulp), i.e. ``2^-40 S`` in ``t``. Then a
    float64 result is almost always undecided and comes from the accurate path, which
    reads the exact float64 config: slow (the host, per element) but the host-built
    bits; a float32 result is undecided about once in 2^11."""
    f64 = np.float64
    w = jnp.float64
    s = jnp.abs(c.a_hi) + st.n.astype(w) * jnp.abs(c.k_hi)
    if st.frac is not None:
        s = s + st.frac * jnp.abs(c.k_hi)
    rel_t = 2.0**-40 if isinstance(c.a_hi, jax.Array) else 2.0**-95  # traced: XLA's log2
    return f64(2.02 * 2.0**-72) + s * f64(2.02 * rel_t * 0.01083)


def _accurate(und, n, frac, c: Consts, bits: int, emin: int, emax: int):
    """The accurate path (``_fixed``) on the host (``_host_call``: an FFI handler on CPU,
    ``jax.pure_callback`` elsewhere): the output format's rounding, as a float32 equal to
    it, where ``und``; and where it applies. Elementwise; the host broadcasts (so a scalar config's digits travel once);
    under ``vmap`` one call takes the batch."""
    shape = und.shape
    # every operand with und's rank (leading 1s), so that the host's broadcasting also
    # holds after vmap has put its batch axis in front of each
    wdt = jnp.float64 if n.dtype.itemsize == 8 else jnp.float32
    ones = (1,) * len(shape)  # an integer step's zero fraction, broadcast on the host
    frac = jnp.zeros(ones, wdt) if frac is None else jnp.broadcast_to(frac, shape)
    n = jnp.broadcast_to(n, shape)
    if len(c.dig) == 1:  # a traced config's digits, already stacked (``_leaf_consts``)
        dig = c.dig[0]
        lead = dig.shape[:-1]
    else:
        lead = jnp.broadcast_shapes(*(jnp.shape(x) for x in c.dig))
        dig = jnp.stack([jnp.broadcast_to(x, lead) for x in c.dig], axis=-1)
    dig = dig.reshape((1,) * (len(shape) - len(lead)) + dig.shape)
    out = (jax.ShapeDtypeStruct(shape, wdt), jax.ShapeDtypeStruct(shape, jnp.bool_))
    return _host_call.call(out, und, n, frac, dig, bits=bits, emin=emin, emax=emax)


def _resolve(
    val: jax.Array, und: jax.Array, st: _Step, c: Consts, bits: int, emin: int, emax: int
) -> jax.Array:
    """Replaces the undecided values by the accurate path's, calling it only when some
    value is undecided (``lax.cond``).

    The flag travels in the value itself: an undecided value is a normal float (the test
    never flags 0, inf or NaN), so its negation is exact and marks it. The marked array
    is materialised once (the barrier) and ``any(marked < 0)`` reads it back: the
    reduction cannot pull the ~90-operation kernel into itself (XLA duplicated it there,
    ~3x the cost of an array schedule), and no boolean array or parsed step stays alive
    for the branch. The branch, when taken, parses the step again (``st.again``) for the
    host. (Gathering the undecided elements first, by ``nonzero``, made compiling a
    jitted array schedule ~8x slower; the host skips the decided ones anyway.)"""
    marked = jax.lax.optimization_barrier(jnp.where(und, -val, val))
    assert st.again is not None  # _parse_step always sets it
    step, c_step, p, staircase = st.again.args
    return _resolver(p, staircase, bits, emin, emax)(marked, step, c_step, c)


@functools.cache
def _resolver(p: _Prec, staircase: bool, bits: int, emin: int, emax: int) -> Any:
    """``_resolve``'s ``lax.cond`` as a function of its operands ``(marked, step, c_step,
    c)``: the branch parses the step again and asks the host (``_accurate``)."""
    from ._exponent import _parse_step

    def fix_one(v: jax.Array, step: Any, c_step: Consts, c: Consts) -> jax.Array:
        flagged = v < 0
        s = _parse_step(step, c_step, p, staircase)
        acc, ok = _accurate(flagged, s.n, s.frac, c, bits, emin, emax)
        return jnp.where(flagged & ok, acc, jnp.abs(v))

    return _cond_over_batch(fix_one)


def _cond_over_batch(fix: Any) -> Any:
    """``lax.cond(any(marked < 0), fix, identity)`` whose predicate stays one boolean
    under ``vmap``.

    Under ``vmap`` a ``lax.cond`` whose predicate is batched becomes a ``select`` of both
    branches: the host call ran at every call of a ``vmap``ped schedule (over steps,
    or over configs with a scalar step, as in a sweep of training steps), undecided
    values or not (100 of 100 calls, measured). The ``vmap`` rule takes the predicate
    over the whole batch and ``vmap``s the branch inside the ``cond``; the result is the
    same construction again, so an outer ``vmap`` does the same."""

    @jax.custom_batching.custom_vmap
    def resolve(marked: jax.Array, *ops: Any) -> jax.Array:
        return jax.lax.cond(jnp.any(marked < 0), lambda v: fix(v, *ops), lambda v: v, marked)

    @resolve.def_vmap
    def _rule(axis_size: int, in_batched: Any, marked: jax.Array, *ops: Any):
        if not any(jax.tree.leaves(in_batched)):
            return resolve(marked, *ops), False
        if not in_batched[0]:  # the value not batched but an operand is: batch it too
            marked = jnp.broadcast_to(marked, (axis_size, *jnp.shape(marked)))
        axes = jax.tree.map(lambda b: 0 if b else None, list(in_batched[1:]))
        return _cond_over_batch(jax.vmap(fix, in_axes=(0, *axes)))(marked, *ops), True

    return resolve
