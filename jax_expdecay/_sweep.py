"""Batches of configs for sweeps: ``stack`` many configs into one, ``unstack`` it back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import jax.numpy as jnp
import numpy as np

from ._config import ExponentialDecayConfig, _is_tracer
from ._schedule import ExponentialDecay

__all__ = ["stack", "unstack"]

_FLOATS = ("initial_learning_rate", "decay_rate", "end_value")
_INTS = ("decay_steps", "transition_begin")


# Our own promotion rule for typed float fields, independent of numpy's and ml_dtypes'
# (ml_dtypes 0.7 made numpy promote bfloat16 with float16 to float32, earlier versions
# raised). The result is always the dtype of one of the given values, the widest on the
# chains bfloat16 < float32 < float64 and float16 < float32 < float64. When the widest
# is not unique (bfloat16 and float16, nothing wider) it is an error: float32 (JAX's
# join) would be a dtype no config asked for.
_RANK = {
    np.dtype(jnp.bfloat16): 0,
    np.dtype(np.float16): 0,
    np.dtype(np.float32): 1,
    np.dtype(np.float64): 2,
}


def _common_dtype(field: str, values: list[Any]) -> np.dtype[Any]:
    """float64, or the common dtype when every value is a typed numpy scalar."""
    typed = [np.dtype(v.dtype) for v in values if isinstance(v, np.generic | np.ndarray)]
    if not typed or len(typed) != len(values):
        return np.dtype(np.float64)
    widest = max(typed, key=_RANK.__getitem__)  # e.g. every init a np.float32: float32
    clash = next(
        (i for i, t in enumerate(typed) if _RANK[t] == _RANK[widest] and t != widest), None
    )
    if clash is not None:
        i0 = typed.index(widest)
        raise TypeError(
            f"stack(): {field} has dtypes {typed[i0]} (element {i0}) and {typed[clash]} "
            f"(element {clash}), which have no common dtype; give every config the same "
            f"dtype first, e.g. cfg.replace({field}=np.float32(cfg.{field}))"
        )
    return widest


def stack(configs: Sequence[ExponentialDecayConfig]) -> ExponentialDecayConfig:
    """Stacks K scalar configs into one batch config whose numeric fields are 1-D arrays.

    ``exponential_decay(stack(cfgs))`` is then one schedule for all K (its constants are
    still computed on the host, exactly), to ``vmap`` over or to call with a scalar step
    (the result has shape ``(K,)``). ``staircase`` and ``name`` are static, so they must
    be equal across the configs, and ``end_value`` must be given for all or for none.

    Float fields become float64 arrays (or the common dtype of typed numpy scalars, e.g.
    float32 when every ``initial_learning_rate`` is a ``np.float32``); ``decay_steps`` and
    ``transition_begin`` become int64 arrays.

    Args:
      configs: K >= 1 scalar :class:`ExponentialDecayConfig` objects.

    Returns:
      One :class:`ExponentialDecayConfig` whose numeric fields are 1-D arrays of length K.

    Raises:
      ValueError: an empty list, mixed ``staircase``/``name``/``end_value`` presence, or a
        config that is already a batch.
      TypeError: an element that is not an :class:`ExponentialDecayConfig`, or typed
        values with no common dtype: bfloat16 with float16 (cast them to one first).
        The rule is ours, the same with every numpy/ml_dtypes version: the widest dtype
        given (float16 or bfloat16 with float32 gives float32, anything with float64
        gives float64), an error when that is not unique.

    Examples:
      >>> import jax
      >>> from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack, unstack
      >>> cfgs = [ExponentialDecayConfig(0.1, 10, r) for r in (0.5, 0.25)]
      >>> batch = stack(cfgs)
      >>> batch.decay_rate
      array([0.5 , 0.25])
      >>> sched = exponential_decay(batch)
      >>> sched(10)
      Array([0.05 , 0.025], dtype=float32)
      >>> jax.vmap(lambda s: s(20))(sched)
      Array([0.025  , 0.00625], dtype=float32)
      >>> unstack(batch) == cfgs
      True
      >>> stack([cfgs[0], cfgs[1].replace(staircase=True)])  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: stack(): staircase differs (element 0: False, element 1: True); ...
    """
    configs = list(configs)
    if not configs:
        raise ValueError("stack() needs at least one config, got an empty sequence")
    for i, c in enumerate(configs):
        if not isinstance(c, ExponentialDecayConfig):
            raise TypeError(
                f"stack(): element {i} must be an ExponentialDecayConfig, got {type(c).__name__}"
            )
        for f in (*_FLOATS, *_INTS):
            v = getattr(c, f)
            if _is_tracer(v) or np.ndim(v) != 0:
                raise ValueError(
                    f"stack(): element {i} has a non-scalar or traced {f} ({v!r:.60}); "
                    "stack scalar configs"
                )
    first = configs[0]
    for i, c in enumerate(configs[1:], start=1):
        if c.staircase != first.staircase:
            raise ValueError(
                f"stack(): staircase differs (element 0: {first.staircase}, element {i}: "
                f"{c.staircase}); staircase is static, so split the sweep into one stack "
                "per staircase value"
            )
        if c.name != first.name:
            raise ValueError(
                f"stack(): name differs (element 0: {first.name!r}, element {i}: {c.name!r}); "
                "give the configs one name, e.g. cfg.replace(name='sweep')"
            )
        if (c.end_value is None) != (first.end_value is None):
            raise ValueError(
                f"stack(): end_value is given for some configs but not others (element 0: "
                f"{first.end_value!r}, element {i}: {c.end_value!r}); give every config an "
                "end_value (a neutral one is 0.0 for a decay), or stack them separately"
            )
    fields = {}
    for f in _FLOATS:
        values = [getattr(c, f) for c in configs]
        if values[0] is None:
            fields[f] = None
            continue
        fields[f] = np.asarray([np.asarray(v).item() for v in values], _common_dtype(f, values))
    for f in _INTS:
        fields[f] = np.asarray([int(getattr(c, f)) for c in configs], np.int64)
    return ExponentialDecayConfig(staircase=first.staircase, name=first.name, **fields)


@overload
def unstack(batched: ExponentialDecayConfig) -> list[ExponentialDecayConfig]: ...


@overload
def unstack(batched: ExponentialDecay) -> list[ExponentialDecay]: ...


def unstack(
    batched: ExponentialDecayConfig | ExponentialDecay,
) -> list[ExponentialDecayConfig] | list[ExponentialDecay]:
    """Splits a batch config, or a batched schedule, along its first batch axis.

    The inverse of :func:`stack`: ``unstack(stack(cfgs)) == cfgs`` (values are returned
    as Python numbers, or numpy scalars for a typed ``initial_learning_rate``). Element
    ``i`` is ``batched[i]``: for a schedule, a schedule whose precomputed constants are
    sliced from the batch (not recomputed), equal to ``exponential_decay(cfgs[i])`` and
    giving the same values bit for bit. A batch of shape ``(K, M)`` gives K batches of
    shape ``(M,)``.

    Args:
      batched: a concrete batch :class:`ExponentialDecayConfig` (``batch_shape`` not
        ``()``) or an :class:`ExponentialDecay` built from one.

    Returns:
      A list of ``len(batched)`` configs, or schedules, each validated like a freshly
      built one.

    Raises:
      TypeError: neither a config nor a schedule.
      ValueError: a traced batch, or a config that is not a batch.

    Examples:
      >>> from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack, unstack
      >>> import numpy as np
      >>> [c.decay_steps for c in unstack(ExponentialDecayConfig(0.1, np.array([10, 20]), 0.5))]
      [10, 20]
      >>> cfgs = [ExponentialDecayConfig(1.0, 10, r) for r in (0.5, 0.25)]
      >>> best = unstack(exponential_decay(stack(cfgs)))[1]   # the winner of a sweep
      >>> best == exponential_decay(cfgs[1]), float(best(10))
      (True, 0.25)
    """
    if not isinstance(batched, ExponentialDecayConfig | ExponentialDecay):
        raise TypeError(
            "unstack() takes an ExponentialDecayConfig or an ExponentialDecay, "
            f"got {type(batched).__name__}"
        )
    cfg = batched.config if isinstance(batched, ExponentialDecay) else batched
    names = [f for f in (*_FLOATS, *_INTS) if getattr(cfg, f) is not None]
    for f in names:
        if _is_tracer(getattr(cfg, f)):
            raise ValueError(f"unstack(): {f} is traced; unstack a concrete batch")
    shape = cfg.batch_shape
    if not shape:
        raise ValueError(
            "unstack() needs a batch (numeric fields of shape (K, ...)), got a config whose "
            "fields are all scalars; stack([...]) builds a batch"
        )
    if isinstance(batched, ExponentialDecay):
        return [batched[i] for i in range(shape[0])]
    return [batched[i] for i in range(shape[0])]
