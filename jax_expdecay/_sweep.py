"""Batches of configs for sweeps: ``stack`` many configs into one, ``unstack`` it back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import ExponentialDecayConfig, _is_tracer

__all__ = ["stack", "unstack"]

_FLOATS = ("initial_learning_rate", "decay_rate", "end_value")
_INTS = ("decay_steps", "transition_begin")


def _common_dtype(values: list[Any]) -> np.dtype[Any]:
    """float64, or the common dtype when every value is a typed numpy scalar."""
    typed = [v.dtype for v in values if isinstance(v, np.generic | np.ndarray)]
    if typed and len(typed) == len(values):
        return np.result_type(*typed)  # e.g. every initial_learning_rate a np.float32
    return np.dtype(np.float64)


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
      TypeError: an element that is not an :class:`ExponentialDecayConfig`.

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
        fields[f] = np.asarray([np.asarray(v).item() for v in values], _common_dtype(values))
    for f in _INTS:
        fields[f] = np.asarray([int(getattr(c, f)) for c in configs], np.int64)
    return ExponentialDecayConfig(staircase=first.staircase, name=first.name, **fields)


def unstack(batched: ExponentialDecayConfig) -> list[ExponentialDecayConfig]:
    """Splits a batch config (1-D numeric fields of length K) into K scalar configs.

    The inverse of :func:`stack`: ``unstack(stack(cfgs)) == cfgs`` (values are returned
    as Python numbers, or numpy scalars for a typed ``initial_learning_rate``).

    Args:
      batched: a config whose numeric fields are concrete 1-D arrays of one length K.

    Returns:
      A list of K scalar configs, each validated like a freshly built one.

    Raises:
      TypeError: not an :class:`ExponentialDecayConfig`.
      ValueError: fields that are traced, or not 1-D arrays of one common length.

    Examples:
      >>> from jax_expdecay import ExponentialDecayConfig, unstack
      >>> import numpy as np
      >>> [c.decay_steps for c in unstack(ExponentialDecayConfig(0.1, np.array([10, 20]), 0.5))]
      [10, 20]
    """
    if not isinstance(batched, ExponentialDecayConfig):
        raise TypeError(f"unstack() takes an ExponentialDecayConfig, got {type(batched).__name__}")
    names = [f for f in (*_FLOATS, *_INTS) if getattr(batched, f) is not None]
    for f in names:
        if _is_tracer(getattr(batched, f)):
            raise ValueError(f"unstack(): {f} is traced; unstack a concrete batch")
    shapes = {f: np.shape(getattr(batched, f)) for f in names}
    lengths = {s[0] for s in shapes.values() if len(s) == 1}
    if any(len(s) != 1 for s in shapes.values()) or len(lengths) != 1:
        raise ValueError(f"unstack() needs 1-D fields of one length, got shapes {shapes}")
    (k,) = lengths
    out = []
    for i in range(k):
        fields = {}
        for f in names:
            arr = np.asarray(getattr(batched, f))
            v = arr[i]
            if f in _INTS:
                fields[f] = int(v)
            elif arr.dtype == np.float64:
                fields[f] = float(v)
            else:
                fields[f] = v  # keeps a typed initial_learning_rate (np.float32, bfloat16)
        out.append(ExponentialDecayConfig(staircase=batched.staircase, name=batched.name, **fields))
    return out
