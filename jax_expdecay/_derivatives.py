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

from ._evaluate import _finish, _magnitude
from ._exponent import _LN2_64, _parse_step


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _schedule_value(p, staircase, out_dtype, static, step, c, hyper):
    c = static.c if static is not None else c
    st = _parse_step(step, c, p, staircase)
    return _finish(st, c, p, out_dtype, hyper.end_value)[0]


def _tangent_or_zero(t: Any, like: jax.Array) -> jax.Array:
    if t is None or (hasattr(t, "dtype") and t.dtype == jax.dtypes.float0):
        return jnp.zeros_like(like)
    return jnp.asarray(t).astype(like.dtype)


@_schedule_value.defjvp
def _schedule_value_jvp(p, staircase, out_dtype, static, primals, tangents):
    """Analytic derivatives (``rate ** p`` and friends), never through the bit tricks:
    d/d init = rate^p, d/d rate = init p rate^(p-1), d/d step = lr ln(rate)/d
    (continuous; 0 on stairs and while holding), d/d end_value = 1 where it clamps."""
    step, c, hyper = primals
    step_t, _, hyper_t = tangents
    c = static.c if static is not None else c
    rate, end_value = hyper.rate, hyper.end_value
    init_t, rate_t, ev_t = hyper_t.init, hyper_t.rate, hyper_t.end_value
    st = _parse_step(step, c, p, staircase)
    out, mag, clamped = _finish(st, c, p, out_dtype, end_value)
    w = p.float_dtype
    fz = jnp.zeros((), w)
    active = st.decayed & ~c.zero
    sign = c.sign
    # rate ** p (1 while holding; 0 for rate 0 once decayed)
    rp = _magnitude(st, c, p, w, with_init=False)
    rp = jnp.where(st.decayed, rp, jnp.ones((), w))
    rate_w = jnp.asarray(rate).astype(w)
    lr = mag * sign  # unclamped value, working precision
    init_w = sign * _magnitude(
        st._replace(n=jnp.zeros_like(st.n), frac=None, posinf=None), c, p, w, mask_zero=False
    )
    # d/d rate: init p rate^(p-1); at rate 0: init when p == 1, 0 when p > 1, inf for p < 1
    safe_rate = jnp.where(rate_w == 0, jnp.ones((), w), rate_w)
    d_rate = jnp.where(st.decayed, lr * (st.p / safe_rate), fz)
    at0 = jnp.where(
        st.p == 1, init_w, jnp.where(st.p > 1, fz, jnp.where(st.decayed, sign * np.inf, fz))
    )
    d_rate = jnp.where(c.zero, jnp.where(st.decayed, at0, fz), d_rate)
    # Coefficients of each tangent, zeroed where they do not act (end_value clamps, NaN
    # step), so that reverse mode never multiplies an unused inf by a zero cotangent.
    coef: list[tuple[jax.Array, Any]] = [(rp, init_t), (d_rate, rate_t)]
    if not staircase:  # lr ln(rate)/d per step; d/d(decay_steps) = -lr ln(rate) p / d
        slope = (c.k_hi + c.k_lo) * w.type(_LN2_64)
        if st.posinf is not None:
            active = active & ~st.posinf
        d_step = jnp.where(active, lr * slope, fz)
        if jnp.issubdtype(step.dtype, jnp.floating):
            coef.append((d_step, step_t))
        coef.append((-d_step, hyper_t.transition_begin))
        coef.append((-(d_step * st.p), hyper_t.decay_steps))
    dead = jnp.zeros(out.shape, bool)
    if clamped is not None:
        dead = dead | clamped
        coef.append((clamped.astype(w), ev_t))
    dead = dead | c.bad
    if st.nan is not None:
        dead = dead | st.nan
    t = jnp.zeros(out.shape, w)
    for i, (k, tan) in enumerate(coef):
        if clamped is not None and i == len(coef) - 1:
            k = jnp.where(st.nan, fz, k) if st.nan is not None else k
        else:
            k = jnp.where(dead, fz, k)
        t = t + k * _tangent_or_zero(tan, k)
    return out, t.astype(out_dtype)
