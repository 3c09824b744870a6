"""Opt-in runtime checks of traced hyperparameters, with ``jax.experimental.checkify``.

One job: the hyperparameter checks that the config constructor cannot do when its
values are tracers (a config built inside ``jit``/``vmap``), done on the device instead.

Concrete hyperparameters are always validated when the config is built. Traced ones
cannot be (there is no value yet), and an invalid traced value is **not** caught by
default. The schedule makes them loud instead of plausible: the values it would refuse
(a non-finite ``initial_learning_rate`` or ``decay_rate``, ``decay_rate < 0``,
``decay_steps < 1`` or fractional) give NaN at every step. Measured with the schedule
below (``jit``, steps 0, 1, 10, 100)::

    decay_steps = 0   (traced)              -> [nan, nan, nan, nan]
    decay_rate  = -1  (traced)              -> [nan, nan, nan, nan]
    initial_learning_rate = nan (traced)    -> [nan, nan, nan, nan]

(``tests/test_bad_input.py`` checks these numbers.) A negative or NaN traced
``transition_begin`` acts as 0. To turn such values into errors, wrap the schedule in
:func:`checked` (or call :func:`check_config` yourself) and run the function through
``checkify.checkify``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._config import ExponentialDecayConfig, _describe, _is_tracer
from ._schedule import ExponentialDecay, exponential_decay

__all__ = ["check_config", "checked"]


def _finite(xp: Any, x: Any) -> Any:
    return xp.isfinite(x)


def _positive_whole(xp: Any, x: Any) -> Any:
    return (x > 0) & _whole(xp, x)


def _rate_ok(xp: Any, x: Any) -> Any:
    return xp.isfinite(x) & (x >= 0)


def _non_negative_whole(xp: Any, x: Any) -> Any:
    return (x >= 0) & _whole(xp, x)


def _whole(xp: Any, x: Any) -> Any:
    if jnp.issubdtype(x.dtype, jnp.floating):
        return x == xp.floor(x)
    return xp.ones(x.shape, bool)


def _check(ok: Callable[[Any, Any], Any], value: Any, msg: str) -> None:
    """A traced value is checked with ``checkify.check``; a concrete one (valid unless
    the constructor was bypassed, e.g. by ``jax.tree.map``) on the host, exactly, with a
    ``ValueError`` at once (no int32 overflow for a valid 2**40 with x64 off)."""
    if _is_tracer(value):
        # Imported here, not at the top: it costs ~7 ms and pulls in jax's export
        # machinery, on every `import jax_expdecay`, for an opt-in feature.
        from jax.experimental import checkify

        checkify.check(jnp.all(ok(jnp, value)), msg, v=value)
        return
    arr = np.asarray(value)
    with np.errstate(invalid="ignore"):
        good = bool(np.all(ok(np, arr)))
    if not good:
        raise ValueError(msg.format(v=value))


def check_config(config: ExponentialDecayConfig) -> None:
    """Checks a (possibly traced) config's values with ``checkify.check``.

    Checks: ``initial_learning_rate`` finite; ``decay_steps`` a positive whole number;
    ``decay_rate`` finite and ``>= 0``; ``transition_begin`` a whole number ``>= 0``;
    ``end_value`` finite (when given). For a batch config every element is checked.

    Call it inside a function that you run through ``checkify.checkify`` (then a failed
    check is reported in the returned error, also under ``jit`` and ``vmap``); called on
    traced values inside ``jit`` without ``checkify``, JAX raises a ``ValueError`` asking
    for ``checkify.checkify``. Concrete values are checked on the host, exactly, and an
    invalid one (possible only by bypassing the constructor, e.g. with
    ``jax.tree.map``) raises ``ValueError`` at once.

    Args:
      config: the :class:`ExponentialDecayConfig` to check.

    Raises:
      TypeError: if ``config`` is not an :class:`ExponentialDecayConfig`.
      ValueError: if a concrete value is invalid.

    Examples:
      >>> import jax
      >>> from jax.experimental import checkify
      >>> from jax_expdecay import ExponentialDecayConfig, check_config
      >>> def make(rate):
      ...     cfg = ExponentialDecayConfig(0.1, 1000, rate)
      ...     check_config(cfg)
      ...     return cfg.decay_rate
      >>> err, _ = checkify.checkify(jax.jit(make))(-0.5)
      >>> print(err.get())
      decay_rate must be finite and >= 0, got -0.5 (`check` failed)
      >>> err, _ = checkify.checkify(jax.jit(make))(0.5)
      >>> print(err.get())
      None
    """
    if not isinstance(config, ExponentialDecayConfig):
        raise TypeError(f"config must be an ExponentialDecayConfig, got {_describe(config)}")
    _check(_finite, config.initial_learning_rate, "initial_learning_rate must be finite, got {v}")
    _check(
        _positive_whole, config.decay_steps, "decay_steps must be a positive whole number, got {v}"
    )
    _check(_rate_ok, config.decay_rate, "decay_rate must be finite and >= 0, got {v}")
    _check(
        _non_negative_whole,
        config.transition_begin,
        "transition_begin must be a whole number >= 0, got {v}",
    )
    if config.end_value is not None:
        _check(_finite, config.end_value, "end_value must be finite, got {v}")


@jax.tree_util.register_pytree_node_class
class CheckedSchedule:
    """A schedule that runs :func:`check_config` on its config at every call.

    Made by :func:`checked`. A JAX pytree (its only child is the wrapped schedule), so
    it can be passed into ``jit`` and batched like the schedule itself.

    Examples:
      >>> from jax_expdecay import checked, exponential_decay
      >>> sched = checked(exponential_decay(1.0, 10, 0.5))
      >>> float(sched(20)), sched.config.decay_steps
      (0.25, 10)
    """

    __slots__ = ("__weakref__", "schedule")

    schedule: ExponentialDecay

    def __init__(self, schedule: ExponentialDecay):
        self.schedule = schedule

    @property
    def config(self) -> ExponentialDecayConfig:
        """The wrapped schedule's :class:`ExponentialDecayConfig`."""
        return self.schedule.config

    def __call__(self, step: ArrayLike) -> jax.Array:
        """Checks the config (``checkify.check``), then returns the learning rate."""
        check_config(self.schedule.config)
        return self.schedule(step)

    def __repr__(self) -> str:
        return f"checked({self.schedule!r})"

    def tree_flatten(self) -> tuple[tuple[ExponentialDecay], None]:
        """JAX pytree protocol: the wrapped schedule is the only child; no aux data."""
        return (self.schedule,), None

    @classmethod
    def tree_unflatten(cls, aux: None, children: Any) -> CheckedSchedule:
        """JAX pytree protocol: rebuilds from :meth:`tree_flatten`'s output, unchecked
        (the child may be a tracer or a batched schedule)."""
        obj = object.__new__(cls)
        obj.schedule = children[0]
        return obj


def checked(schedule: ExponentialDecay | ExponentialDecayConfig) -> CheckedSchedule:
    """Wraps a schedule (or a config) so that each call checks its hyperparameters.

    The returned callable is the schedule plus :func:`check_config` at every call. Use
    it when the hyperparameters are traced (a sweep under ``jit``/``vmap``) and run the
    function through ``checkify.checkify``; then ``err.get()`` names the first invalid
    field and its value, and ``err.throw()`` raises it. With traced hyperparameters but
    without ``checkify``, calling the result inside ``jit`` raises JAX's ``ValueError``
    asking for ``checkify.checkify``; concrete hyperparameters are checked on the host
    and need no ``checkify``.

    Without ``checked``, invalid traced values raise no error: the schedule is NaN at
    every step (the last example below).

    Args:
      schedule: an :class:`ExponentialDecay` (from :func:`exponential_decay`) or an
        :class:`ExponentialDecayConfig`.

    Returns:
      A :class:`CheckedSchedule`: callable ``step -> lr``, a pytree, with ``.config``.

    Raises:
      TypeError: if ``schedule`` is neither a schedule nor a config.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jax.experimental import checkify
      >>> from jax_expdecay import checked, exponential_decay
      >>> def lr(decay_steps, rate, step):
      ...     return checked(exponential_decay(1.0, decay_steps, rate))(step)
      >>> err, out = checkify.checkify(jax.jit(lr))(10, 0.5, 20)
      >>> print(err.get(), float(out))
      None 0.25
      >>> err, out = checkify.checkify(jax.jit(lr))(0, 0.5, 20)
      >>> print(err.get())
      decay_steps must be a positive whole number, got 0 (`check` failed)
      >>> sweep = jax.vmap(lr, in_axes=(None, 0, None))
      >>> err, out = checkify.checkify(jax.jit(sweep))(10, jnp.array([0.5, -1.0]), 20)
      >>> print(err.get())
      decay_rate must be finite and >= 0, got -1.0 (`check` failed)

      Unchecked, the same invalid values give NaN, without an error:

      >>> steps = jnp.array([0, 1, 10, 100])
      >>> bare = jax.jit(lambda i, d, r: exponential_decay(i, d, r)(steps))
      >>> print(bare(0.1, 0, 0.5), bare(0.1, 10, -1.0), bare(float("nan"), 10, 0.5))
      [nan nan nan nan] [nan nan nan nan] [nan nan nan nan]
    """
    if isinstance(schedule, ExponentialDecayConfig):
        schedule = exponential_decay(schedule)
    if not isinstance(schedule, ExponentialDecay):
        raise TypeError(
            "schedule must be an ExponentialDecay or an ExponentialDecayConfig, "
            f"got {_describe(schedule)}"
        )
    return CheckedSchedule(schedule)
