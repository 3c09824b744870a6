"""The derivatives of the schedule: a ``custom_jvp`` with analytic rules.

The value is computed with bit tricks (masks, error-free transforms, ``_exp``) that have no
useful derivative, so ``jax.grad`` never differentiates through them: ``_schedule_value``
is a ``jax.custom_jvp`` whose rule gives ``rate ** p`` and friends in closed form.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from ._evaluate import _finish, _Static
from ._exponent import _LN2_64, Consts, _parse_step


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _schedule_value(p, staircase, out_dtype, static, step, c, hyper):
    c = static.c if static is not None else c
    st = _parse_step(step, c, p, staircase)
    return _finish(st, c, p, out_dtype, hyper.end_value)[0]


def _is_zero(t: Any) -> bool:
    """A tangent that is known to be zero: JAX's symbolic zero (an argument not being
    differentiated), None, or float0 (an integer argument)."""
    return (
        t is None
        or isinstance(t, SymbolicZero)
        or (hasattr(t, "dtype") and t.dtype == jax.dtypes.float0)
    )


def _times(k: jax.Array, tan: Any) -> jax.Array:
    """``k * tan`` with ``inf * 0 = 0``: an infinite coefficient (a true derivative that
    is infinite) times a tangent that is zero (another argument's direction, when the
    arguments are one vector) contributes nothing, not NaN. Linear in ``tan`` (so it
    transposes): where ``k`` is inf, ``(tan * ±max) * max`` (inf unless ``tan`` is 0);
    elsewhere ``k * tan`` with the inf replaced by 0, so that neither branch of the
    ``where`` is NaN in reverse mode.

    The barrier between the two factors matters: when ``k`` is a compile-time constant
    (under ``jit`` with the step closed over), XLA folds ``(x * c1) * c2`` into
    ``x * (c1 * c2)``, and ``max * max`` is inf; the transposed branch not taken then
    gave ``0 * inf = NaN`` (``jax.jit(jax.grad(...))`` w.r.t. the rate at a held step
    was NaN, eagerly 0: 102 of 672 grid cases). And ``huge`` has ``k``'s sign bit (also
    at ``k = ±0``), so that the branch not taken transposes to a zero of the same sign as
    ``k * ct``: XLA drops an added constant zero, and the two zeros must not disagree
    (``+max`` at ``k = -0``, e.g. d/d step of an underflowed value, turned its ``-0``
    into ``+0``; ``-max`` at ``k = +0`` gave ``-0`` under jit, ``+0`` eagerly)."""
    tan = jnp.asarray(tan).astype(k.dtype)
    big = k.dtype.type(np.finfo(k.dtype).max)
    inf = jnp.isinf(k)
    finite_k = jnp.where(inf, jnp.zeros((), k.dtype), k)
    huge = jnp.where(jnp.signbit(k), -big, big)  # the unused branch: a zero of k's sign
    return jnp.where(inf, jax.lax.optimization_barrier(tan * huge) * big, finite_k * tan)


def _div(a: Any, b: Any) -> jax.Array:
    """``a / b``, correctly rounded whatever the batch: XLA's algebraic simplifier turns a
    division by a broadcast scalar into a multiplication by its reciprocal (under
    ``vmap`` over steps, or with array steps and scalar hyperparameters), which is not
    correctly rounded: ``U / rate`` for 8 copies of ``U = fl(0.001 * 0.96)`` gave
    0x3a831270, one copy the correct 0x3a83126f, so a derivative depended on the batch
    it was computed in. The divisor is given ``a``'s batch (a ``where`` with equal
    branches, which is ``b`` in value and derivatives) behind a barrier the simplifier
    cannot see through."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    full = jax.lax.optimization_barrier(jnp.where(a == a, b, b))
    return a / full


@jax.custom_jvp
def _log_rate_per_step(k: Any, rate: Any, d: Any) -> Any:
    """``ln(rate) / d`` from the constant ``K`` (continuous: ``64 log2(rate) / d``), with
    its own derivatives ``1 / (rate d)`` and ``-ln(rate) / d^2``, so that it has
    derivatives of every order without a ``log`` op (``rate == 0`` is never read)."""
    return k * k.dtype.type(_LN2_64)


@_log_rate_per_step.defjvp
def _log_rate_per_step_jvp(primals, tangents):
    k, rate, d = primals
    _, rate_t, d_t = tangents
    v = _log_rate_per_step(k, rate, d)
    safe = jnp.where(rate == 0, jnp.ones_like(rate), rate)
    return v, _div(rate_t, safe * d) - _div(v * d_t, d)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _at_rate0(k: int, init: Any, p: Any, rate: Any) -> Any:
    """``d^k/d rate^k (init rate^p)`` at ``rate = 0``: ``init p (p-1)...(p-k+1) 0^(p-k)``,
    with ``0^0 = 1``, ``0^q = 0`` for ``q > 0`` and inf for ``q < 0``; 0 once the falling
    factorial is (an integer ``p < k``). Its derivative in ``rate`` is the next order,
    in ``init`` the same order for ``init = 1``, so every order is right at rate 0."""
    fall = jnp.ones_like(p)
    for j in range(k):
        fall = fall * (p - j)
    q = p - k
    pow0 = jnp.where(q == 0, 1.0, jnp.where(q > 0, 0.0, np.inf)).astype(p.dtype)
    val = jnp.where((fall == 0) | (init == 0), jnp.zeros_like(p), init * fall * pow0)
    return val


@functools.partial(_at_rate0.defjvp, symbolic_zeros=True)
def _at_rate0_jvp(k, primals, tangents):
    init, p, rate = primals
    init_t, _, rate_t = tangents
    val = _at_rate0(k, init, p, rate)
    t = jnp.zeros_like(val)
    if not _is_zero(rate_t):
        t = t + _times(_at_rate0(k + 1, init, p, rate), rate_t)
    if not _is_zero(init_t):
        t = t + _times(_at_rate0(k, jnp.ones_like(init), p, rate), init_t)
    return val, t


def _unit_consts(static: Any, c: Any) -> tuple[Any, Any]:
    """The constants of ``init = 1`` (``rate ** p`` alone), static or traced as given."""

    def unit(k: Consts) -> Consts:
        z = np.zeros((), np.asarray(k.a_hi).dtype) if static is not None else jnp.zeros_like(k.a_hi)
        one = z + 1
        return k._replace(
            a_hi=z + 0 * k.a_hi,
            a_lo=z + 0 * k.a_lo,
            sign=one + 0 * k.sign,
            dig=_unit_dig(k.dig, np if static is not None else jnp),
        )

    if static is not None:
        return _Static(unit(static.c)), None
    return None, unit(c)


def _unit_dig(dig: tuple, xp: Any) -> tuple:
    """The accurate path's exact config (``Consts.dig``) with ``init`` set to 1, so that
    ``rate ** p`` near a midpoint is decided for ``rate ** p``, not for ``init rate ** p``:
    rows marked -2 (``_exponent.exact_rows``) hold the float64 bits of ``|init|`` in
    columns 0-1 (1.0: low word 0, high word 0x3FF00000); rows marked -1 (a traced float32
    config) its float32 bits in column 0 (1.0f: 0x3F800000) and the mid and lo pieces in
    columns 4-5 (0)."""
    if len(dig) == 1:  # a traced float32 config's columns in one array (``_leaf_consts``)
        arr = dig[0]
        idx = jax.lax.broadcasted_iota(np.int32, arr.shape, arr.ndim - 1)
        arr = jnp.where(idx == 0, np.int32(0x3F800000), arr)  # elementwise: no new kernel
        return (jnp.where((idx == 4) | (idx == 5), np.int32(0), arr),)
    cols = list(dig)
    mark = cols[-1]
    i32 = np.int32

    def put(i: int, where: Any, value: int) -> None:
        cols[i] = xp.where(where, xp.asarray(value, i32), cols[i]).astype(i32)

    exact, raw = mark == -2, mark == -1
    put(0, exact, 0)
    put(1, exact, 0x3FF00000)
    put(0, raw, 0x3F800000)
    put(4, raw, 0)
    put(5, raw, 0)
    return tuple(cols)


@functools.partial(_schedule_value.defjvp, symbolic_zeros=True)
def _schedule_value_jvp(p, staircase, out_dtype, static, primals, tangents):
    """Analytic derivatives written through the value function itself, so that the rule
    is differentiable again (``jvp`` of ``jvp``, ``hessian``): with ``U = init rate^p``
    (this function, unclamped) and ``rate^p`` (this function with ``init = 1``),

        d/d init = rate^p,   d/d rate = p U / rate,   d/d step = U ln(rate) / d,
        d/d transition_begin = -d/d step,   d/d decay_steps = -p d/d step,

    ``p`` with its own derivatives (continuous: ``(s - tb) / d``; 0 on stairs and while
    holding), ``ln(rate)/d`` by ``_log_rate_per_step``; where ``end_value`` clamps the
    output its derivative is ``end_value``'s tangent. A tangent JAX knows is zero is
    never multiplied (an inf coefficient times a zero tangent would be NaN), and
    coefficients are zeroed where they do not act (clamps, NaN), so that reverse mode
    never multiplies an unused inf by a zero cotangent. At ``rate == 0`` the rate
    derivative is the one-sided limit (``init`` for ``p == 1``, 0 for ``p > 1``, inf for
    ``p < 1``), to first order only."""
    step, c, hyper = primals
    step_t, _, hyper_t = tangents
    if static is None:  # the constants' own derivatives (through bit tricks) are unused:
        c = jax.lax.stop_gradient(c)  # the rule says what depends on what
    cc = static.c if static is not None else c
    w = p.float_dtype
    # Masks and p from values only: nothing below is differentiated through the bit
    # tricks (or the accurate path's callback, which has no JVP)
    st = _parse_step(jax.lax.stop_gradient(step), cc, p, staircase)
    ev_sg = None if hyper.end_value is None else jax.lax.stop_gradient(hyper.end_value)
    _, _, clamped = _finish(st, cc, p, out_dtype, ev_sg)
    # The value through the function itself, so that a derivative of this rule's output
    # (jvp of jvp of jvp) sees this rule again, not the bit tricks
    out = _schedule_value(p, staircase, out_dtype, static, step, c, hyper)
    fz = jnp.zeros((), w)
    free = hyper._replace(end_value=None)
    u_val = _schedule_value(p, staircase, w, static, step, c, free)  # init rate^p
    us, uc = _unit_consts(static, c)
    unit = _schedule_value(p, staircase, w, us, step, uc, free._replace(init=w.type(1)))
    rate_w = jnp.asarray(hyper.rate).astype(w)
    decayed = st.decayed
    p_w = jax.lax.stop_gradient(st.p)  # its own derivatives come from `smooth` below
    if not staircase:  # p's derivatives, with p's exact value
        s_w = step.astype(w)  # an integer step is a constant here (p still moves with d)
        tb_w = jnp.asarray(hyper.transition_begin).astype(w)
        d_w = jnp.asarray(hyper.decay_steps).astype(w)
        smooth = _div(s_w - tb_w, d_w)
        moving = decayed if st.posinf is None else decayed & ~st.posinf
        p_w = jnp.where(moving, p_w + (smooth - jax.lax.stop_gradient(smooth)), p_w)
    safe_rate = jnp.where(rate_w == 0, jnp.ones((), w), rate_w)
    d_rate = jnp.where(decayed, p_w * _div(u_val, safe_rate), fz)  # no overflow of p * U
    init_w = jnp.asarray(hyper.init).astype(w)
    # rate 0: the one-sided limit, with its own derivatives; fed p = 1 where the rate is
    # not 0, so that the branch not taken is finite (reverse mode multiplies it by 0)
    p0 = jnp.where(cc.zero & decayed, st.p, jnp.ones((), w))
    at0 = _at_rate0(1, init_w, p0, rate_w)
    d_rate = jnp.where(cc.zero, jnp.where(decayed, at0, fz), d_rate)
    terms: list[tuple[jax.Array, Any]] = [(unit, hyper_t.init), (d_rate, hyper_t.rate)]
    if not staircase:
        active = decayed & ~cc.zero
        if st.posinf is not None:
            active = active & ~st.posinf
        slope = _log_rate_per_step(
            jnp.asarray(cc.k_hi + cc.k_lo).astype(w),
            safe_rate,
            jnp.asarray(hyper.decay_steps).astype(w),
        )
        d_step = jnp.where(active, u_val * slope, fz)
        if jnp.issubdtype(step.dtype, jnp.floating):
            terms.append((d_step, step_t))
        terms.append((-d_step, hyper_t.transition_begin))
        terms.append((-(d_step * p_w), hyper_t.decay_steps))
    dead = cc.bad if st.nan is None else (cc.bad | st.nan)
    if clamped is not None:
        dead = dead | clamped
    t = jnp.zeros(out.shape, w)
    for k, tan in terms:
        if not _is_zero(tan):
            t = t + _times(jnp.where(dead, fz, k), tan)
    if clamped is not None and not _is_zero(hyper_t.end_value):
        keep = clamped if st.nan is None else clamped & ~st.nan
        t = t + jnp.where(keep, jnp.ones((), w), fz) * jnp.asarray(hyper_t.end_value).astype(w)
    return out, t.astype(out_dtype)
