"""The user-facing factory and the schedule object it returns."""

from __future__ import annotations

from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._config import ExponentialDecayConfig, _is_tracer
from ._numerics import P32, P64, Consts, evaluate, host_consts, traced_consts

__all__ = ["ExponentialDecay", "exponential_decay"]

_NUMERIC = ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin", "end_value")


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]


def _out_dtype_name(init: Any) -> str | None:
    """The output dtype of a typed ``initial_learning_rate``; None means JAX's default float."""
    if _is_tracer(init):
        if getattr(init.aval, "weak_type", False):
            return None
        dt = init.dtype
    elif isinstance(init, np.generic | np.ndarray):
        dt = init.dtype
    else:
        return None
    return dt.name if jnp.issubdtype(dt, jnp.floating) else None


def _build_consts(cfg: ExponentialDecayConfig) -> tuple[Consts, Consts | None]:
    args = (cfg.initial_learning_rate, cfg.decay_steps, cfg.decay_rate, cfg.transition_begin)
    make = traced_consts if any(_is_tracer(a) for a in args) else host_consts
    c32 = make(*args, cfg.staircase, P32)
    c64 = make(*args, cfg.staircase, P64) if _x64() else None
    return c32, c64


@jax.tree_util.register_pytree_with_keys_class
class ExponentialDecay:
    """An exponential-decay learning-rate schedule: a pure callable ``step -> lr``.

    Build it with :func:`exponential_decay`. It is a JAX pytree (its config and its
    precomputed constants are leaves), so it can be passed as an argument into ``jit``
    without recompiling for new values, and batched along a leading axis for ``vmap``.
    Its ``config`` attribute is the :class:`ExponentialDecayConfig` it was built from.

    Examples:
        >>> import jax
        >>> from jax_expdecay import exponential_decay
        >>> sched = exponential_decay(1.0, 10, 0.5, staircase=True)
        >>> sched.config.decay_steps
        10
        >>> step = jax.jit(lambda s, t: s(t))   # the schedule as an argument:
        >>> float(step(sched, 25)), float(step(sched.__class__(sched.config.replace(
        ...     decay_rate=0.25)), 25))           # new values, no recompile
        (0.25, 0.0625)
    """

    __slots__ = ("__weakref__", "_c32", "_c64", "_dtype", "config")

    config: ExponentialDecayConfig

    def __init__(self, config: ExponentialDecayConfig):
        if not isinstance(config, ExponentialDecayConfig):
            raise TypeError(
                f"config must be an ExponentialDecayConfig, got {type(config).__name__}"
            )
        self.config = config
        self._c32, self._c64 = _build_consts(config)
        self._dtype = _out_dtype_name(config.initial_learning_rate)

    def __call__(self, step: ArrayLike) -> jax.Array:
        """Returns the learning rate at ``step`` (elementwise for arrays)."""
        out_dtype = jax.dtypes.canonicalize_dtype(
            np.dtype(self._dtype) if self._dtype is not None else np.float64
        )
        try:
            step = jnp.asarray(step)
        except TypeError:
            raise TypeError(
                f"step must be an integer or real float array or scalar, got {step!r:.80} "
                f"(type {type(step).__name__})"
            ) from None
        if step.dtype == np.bool_ or not (
            jnp.issubdtype(step.dtype, jnp.integer) or jnp.issubdtype(step.dtype, jnp.floating)
        ):
            raise TypeError(
                f"step must be an integer or real float array or scalar, got dtype {step.dtype}"
            )
        wide = np.dtype(out_dtype) == np.float64 or step.dtype.itemsize == 8
        if wide:
            if self._c64 is None:
                raise RuntimeError(
                    "this schedule was built with jax_enable_x64 off, but is evaluated with "
                    "64-bit types; build it after jax.config.update('jax_enable_x64', True)"
                )
            consts, prec = self._c64, P64
        else:
            consts, prec = self._c32, P32
        cfg = self.config
        return evaluate(
            step,
            consts,
            prec,
            staircase=cfg.staircase,
            init=cfg.initial_learning_rate,
            end_value=cfg.end_value,
            out_dtype=out_dtype,
        )

    def get_config(self) -> dict[str, Any]:
        """Keras-style config dict (same as ``self.config.to_dict()``).

        Examples:
            >>> from jax_expdecay import exponential_decay
            >>> exponential_decay(0.1, 1000, 0.96).get_config()["decay_steps"]
            1000
        """
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ExponentialDecay:
        """Builds a schedule from a ``get_config()``/``to_dict()`` dict (Keras-style).

        Examples:
            >>> from jax_expdecay import ExponentialDecay
            >>> sched = ExponentialDecay.from_config(
            ...     {"initial_learning_rate": 1.0, "decay_steps": 1, "decay_rate": 0.5})
            >>> float(sched(3))
            0.125
        """
        return cls(ExponentialDecayConfig.from_dict(config))

    def __repr__(self) -> str:
        return f"ExponentialDecay({self.config!r})"

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten_with_keys(self):
        children = (
            (jax.tree_util.GetAttrKey("config"), self.config),
            (jax.tree_util.GetAttrKey("_c32"), self._c32),
            (jax.tree_util.GetAttrKey("_c64"), self._c64),
        )
        return children, self._dtype

    @classmethod
    def tree_unflatten(cls, aux: str | None, children: Any) -> ExponentialDecay:
        obj = object.__new__(cls)
        obj.config, obj._c32, obj._c64 = children
        obj._dtype = aux
        return obj


@overload
def exponential_decay(initial_learning_rate: ExponentialDecayConfig, /) -> ExponentialDecay: ...


@overload
def exponential_decay(
    initial_learning_rate: ArrayLike,
    decay_steps: ArrayLike,
    decay_rate: ArrayLike,
    staircase: bool = False,
    *,
    transition_begin: ArrayLike = 0,
    end_value: ArrayLike | None = None,
    name: str | None = "ExponentialDecay",
) -> ExponentialDecay: ...


def exponential_decay(
    initial_learning_rate: Any,
    decay_steps: Any = None,
    decay_rate: Any = None,
    staircase: bool = False,
    *,
    transition_begin: Any = 0,
    end_value: Any = None,
    name: str | None = "ExponentialDecay",
) -> ExponentialDecay:
    r"""Keras's ``ExponentialDecay`` as a pure, jit/vmap/pmap/grad-compatible JAX schedule.

    With ``s = step - transition_begin``::

        lr(step) = initial_learning_rate                        if s <= 0
        lr(step) = initial_learning_rate * decay_rate ** p      otherwise, where
            p = s / decay_steps            (staircase=False)
            p = floor(s / decay_steps)     (staircase=True, computed exactly)

    then, if ``end_value`` is given, ``lr = max(lr, end_value)`` when ``decay_rate < 1``
    and ``lr = min(lr, end_value)`` when ``decay_rate >= 1`` (optax's rule, branch-free).
    ``decay_rate == 0`` gives Keras's answer: ``initial_learning_rate`` while ``p == 0``,
    then 0. With the default ``transition_begin=0`` this equals Keras for every step
    ``>= 0``; for negative steps Keras grows (``rate ** negative``) and we hold at
    ``initial_learning_rate``. Step 0 is the first optimizer update (optax's count).

    Steps may be Python or numpy/JAX scalars or arrays of any shape and of any integer
    (8-64 bit, signed or unsigned) or float dtype. The result has the dtype of a typed
    ``initial_learning_rate`` (bfloat16, float16, float32, float64) and JAX's default
    float for a Python number. Float32 results are within 2 ulp of the exact value at
    every step (see the ``_numerics`` module for the argument); NaN steps give NaN.

    The hyperparameters are validated here when concrete, and turned into device-ready
    constants on the host (in exact decimal arithmetic). A config built inside
    ``jit``/``vmap`` (traced values) is accepted too; its stairs stay exact.

    Args:
      initial_learning_rate: the rate at step 0, or an :class:`ExponentialDecayConfig`
        (then no other argument may be given).
      decay_steps: a positive whole number of steps (int, or a float with no fraction).
      decay_rate: the factor per ``decay_steps`` steps, ``>= 0``.
      staircase: if True, decay at discrete intervals (integer division).
      transition_begin: number of steps to hold ``initial_learning_rate`` before decaying.
      end_value: optional floor (decay) or cap (growth).
      name: a label, kept in the config (Keras's ``name``).

    Returns:
      An :class:`ExponentialDecay`, usable wherever optax takes a schedule.

    Raises:
      TypeError: a non-number where a number belongs, a bool, a non-bool ``staircase``.
      ValueError: ``decay_steps <= 0``, ``decay_rate < 0``, ``transition_begin < 0``, a
        non-finite value, a fractional ``decay_steps``/``transition_begin``.

    Examples:
      >>> import jax, optax
      >>> from jax_expdecay import exponential_decay
      >>> sched = exponential_decay(0.1, 100000, 0.96, staircase=True)
      >>> [round(float(sched(s)), 6) for s in (0, 99999, 100000, 250000)]
      [0.1, 0.1, 0.096, 0.09216]
      >>> float(jax.jit(sched)(41)) == float(sched(41))
      True
      >>> sched41 = exponential_decay(1.0, 41, 0.5, staircase=True)
      >>> float(jax.jit(sched41)(41))   # optax/Keras give 1.0 here under jit
      0.5
      >>> opt = optax.sgd(learning_rate=sched)
    """
    if isinstance(initial_learning_rate, ExponentialDecayConfig):
        given = {
            "decay_steps": decay_steps,
            "decay_rate": decay_rate,
            "end_value": end_value,
        }
        extra = [k for k, v in given.items() if v is not None]
        tb_default = type(transition_begin) is int and transition_begin == 0
        if staircase is not False or not tb_default or name != "ExponentialDecay":
            extra.append("staircase/transition_begin/name")
        if extra:
            raise TypeError(
                f"exponential_decay(config) takes no other arguments, got {extra}; "
                "use config.replace(...) to change fields"
            )
        return ExponentialDecay(initial_learning_rate)
    missing = [
        k for k, v in (("decay_steps", decay_steps), ("decay_rate", decay_rate)) if v is None
    ]
    if missing:
        raise TypeError(f"exponential_decay() missing required arguments {missing}")
    return ExponentialDecay(
        ExponentialDecayConfig(
            initial_learning_rate,
            decay_steps,
            decay_rate,
            staircase,
            transition_begin=transition_begin,
            end_value=end_value,
            name=name,
        )
    )
