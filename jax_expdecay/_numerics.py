"""The entry point of the numerics: ``evaluate(step, consts, ...)``.

The pieces live in their own modules: ``_exponent`` (the double-float exponent and its
constants, host and device), ``_evaluate`` (``2 ** (t/64)`` rounded into the output dtype,
``end_value``), ``_derivatives`` (the analytic ``custom_jvp`` rules) and ``_exp`` (the exp
from IEEE basic operations). This module only normalises the arguments and dispatches.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from ._derivatives import _schedule_value
from ._evaluate import Hyper, _Static
from ._exponent import Consts, _Prec


def _as_float(x: Any, w: np.dtype) -> Any:
    """A hyperparameter as a working float: tracers cast, concrete values clipped to the
    finite range first (a float64 1e300 would overflow the cast with a warning)."""
    if x is None:
        return None
    if isinstance(x, Tracer):
        return x.astype(w)
    big = float(np.finfo(w).max)
    return np.clip(np.asarray(x, dtype=np.float64), -big, big).astype(w)


def evaluate(
    step: Any,
    c: Consts,
    p: _Prec,
    *,
    staircase: bool,
    hyper: Hyper,
    out_dtype: Any,
) -> jax.Array:
    """The learning rate at ``step`` (any shape, any integer or float dtype)."""
    step = jnp.asarray(step)
    sdt = step.dtype
    if not (jnp.issubdtype(sdt, jnp.integer) or jnp.issubdtype(sdt, jnp.floating)):
        raise TypeError(f"step must be an integer or float array, got dtype {sdt}")
    w = p.float_dtype
    hyper = Hyper(
        init=_as_float(hyper.init, w),
        rate=_as_float(hyper.rate, w),
        decay_steps=_as_float(hyper.decay_steps, w),
        transition_begin=_as_float(hyper.transition_begin, w),
        end_value=hyper.end_value,
    )
    concrete = not any(isinstance(x, Tracer) for x in jax.tree_util.tree_leaves(c))
    static = _Static(c) if concrete else None
    return _schedule_value(
        p, staircase, np.dtype(out_dtype), static, step, None if concrete else c, hyper
    )
