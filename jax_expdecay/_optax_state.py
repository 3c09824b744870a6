"""The learning rate an optax optimizer state will use next.

One job: find the step counter inside an (arbitrarily nested) optax state and evaluate
a schedule there. optax is not imported: the state is walked as a JAX pytree, so this
works for any optax version and for states restored from disk with the same structure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

__all__ = ["current_learning_rate"]


def _counts(opt_state: Any) -> list[tuple[str, Any]]:
    """All leaves named ``count`` (a NamedTuple/dataclass field or a dict key), with paths."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(opt_state)
    found = []
    for path, leaf in leaves:
        if not path:
            continue
        last = path[-1]
        name = None
        if isinstance(last, jax.tree_util.GetAttrKey):
            name = last.name
        elif isinstance(last, jax.tree_util.DictKey):
            name = last.key
        if name == "count":
            found.append((jax.tree_util.keystr(path), leaf))
    return found


def current_learning_rate(schedule: Callable[[Any], Any], opt_state: Any) -> jax.Array:
    """Returns ``schedule(count)``: the learning rate the *next* update of ``opt_state`` uses.

    optax transformations that follow a schedule keep a step counter named ``count``
    (``ScaleByScheduleState``, ``ScaleByAdamState``, ``InjectHyperparamsState``, ...),
    which is 0 before the first update. This finds every leaf named ``count`` in the
    state, at any depth (chains, tuples, NamedTuples, ``MaskedState``, dicts), and
    evaluates ``schedule`` there. Works under ``jit``.

    Args:
      schedule: any schedule ``step -> lr`` (ours or optax's).
      opt_state: an optax optimizer state (or any pytree holding ``count`` leaves).

    Returns:
      ``schedule(count)`` as a JAX array.

    Raises:
      ValueError: no ``count`` leaf is found, or (for concrete states) the counts found
        disagree, e.g. next to ``optax.apply_every``, whose ``count`` is not a step
        count. Under ``jit`` the counts cannot be compared on the host; disagreeing
        counts then give NaN instead of an error.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from jax_expdecay import current_learning_rate, exponential_decay
      >>> sched = exponential_decay(1.0, 1, 0.5)
      >>> tx = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(sched, momentum=0.9))
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> float(current_learning_rate(sched, state))
      1.0
      >>> for _ in range(3):
      ...     _, state = tx.update(jnp.ones(2), state, params)
      >>> float(current_learning_rate(sched, state)), float(sched(3))
      (0.125, 0.125)
      >>> float(jax.jit(current_learning_rate)(sched, state))
      0.125
      >>> current_learning_rate(sched, optax.sgd(0.1).init(params))
      Traceback (most recent call last):
      ...
      ValueError: current_learning_rate: no step counter (a leaf named 'count') in opt_state; a constant learning rate or a transformation without a counter has no schedule step
    """
    if not callable(schedule):
        raise TypeError(
            f"current_learning_rate: schedule must be callable, got {type(schedule).__name__}"
        )
    found = _counts(opt_state)
    if not found:
        raise ValueError(
            "current_learning_rate: no step counter (a leaf named 'count') in opt_state; "
            "a constant learning rate or a transformation without a counter has no "
            "schedule step"
        )
    first_path, count = found[0]
    if len(found) == 1:
        return jnp.asarray(schedule(count))
    if not any(isinstance(c, Tracer) for _, c in found):
        ref = np.asarray(count)
        for path, c in found[1:]:
            if np.shape(c) != ref.shape or not np.array_equal(np.asarray(c), ref):
                shown = ", ".join(f"{p}={np.asarray(v).tolist()!r:.40}" for p, v in found[:8])
                raise ValueError(
                    "current_learning_rate: the step counters in opt_state disagree "
                    f"({first_path} vs {path}): {shown}; pass the sub-state whose count "
                    "drives the schedule"
                )
        return jnp.asarray(schedule(count))
    agree = jnp.asarray(True)
    for _, c in found[1:]:
        agree = agree & jnp.all(jnp.asarray(c) == jnp.asarray(count))
    lr = jnp.asarray(schedule(count))
    return jnp.where(agree, lr, jnp.asarray(np.nan, lr.dtype))
