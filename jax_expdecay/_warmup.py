"""Linear warmup, then our exponential decay: optax's ``warmup_exponential_decay_schedule``,
exact and sweepable.

Why a sibling factory and not a ``warmup_steps=`` argument of ``exponential_decay``:
``exponential_decay`` is Keras's ``ExponentialDecay`` (its arguments, its config, its
``to_keras``), and Keras's ``ExponentialDecay`` has no warmup. optax already names this
schedule and its arguments (``init_value``, ``peak_value``, ``warmup_steps``,
``transition_steps``, ...), so an optax user changes one import and gets exact values
and a schedule whose every number, the warmup length included, is a pytree leaf (one
compile for a ``vmap`` sweep; optax's ``join_schedules`` boundary is a Python int).
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._config import ExponentialDecayConfig, _as_number, _describe, _is_tracer
from ._exponent import flush_subnormal
from ._numbers import _check_dict_keys, _eager_transform
from ._ramp import MAX_VALUE, MAX_WARMUP, MIN_NONZERO, ramp
from ._schedule import ExponentialDecay

__all__ = ["WarmupExponentialDecay", "warmup_exponential_decay"]

_KEYS = (
    "init_value",
    "peak_value",
    "warmup_steps",
    "transition_steps",
    "decay_rate",
    "transition_begin",
    "staircase",
    "end_value",
)
_REQUIRED = _KEYS[:5]
# ExponentialDecayConfig's names in its messages -> ours
_RENAME = (("initial_learning_rate", "peak_value"), ("decay_steps", "transition_steps"))


def _renamed(msg: str) -> str:
    for theirs, ours in _RENAME:
        msg = msg.replace(theirs, ours)
    return msg


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]


def _float_dtype() -> np.dtype:
    return np.dtype(np.float64 if _x64() else np.float32)


def _check_endpoint(arg: str, value: Any) -> Any:
    """``init_value``/``peak_value``: a finite real, 0 or in ``[2**-100, 2**100]``; stored
    as a Python float (or a float64 array), so the output is JAX's default float."""
    value = _as_number(arg, value, kind="float")
    if _is_tracer(value):
        return value
    arr = np.asarray(value, dtype=np.float64)
    bad = (arr < 0) | ((arr != 0) & ((arr < MIN_NONZERO) | (arr > MAX_VALUE)))
    if bad.any():
        shown = arr[bad].flat[0] if arr.ndim else float(arr)
        raise ValueError(
            f"{arg} must be 0 or between 2**-100 and 2**100 (a learning rate; the exact "
            f"warmup ramp keeps every intermediate value a normal float), got {shown!r}"
        )
    return arr if arr.ndim else float(arr)


def _check_warmup(value: Any) -> Any:
    value = _as_number("warmup_steps", value, kind="int")
    if _is_tracer(value):
        return value
    arr = np.asarray(value)
    bad = (arr < 0) | (arr > MAX_WARMUP)
    if bad.any():
        shown = arr[bad].flat[0] if arr.ndim else int(arr)
        raise ValueError(
            f"warmup_steps must be a whole number of steps from 0 to 2**24 = {MAX_WARMUP} "
            f"(the exact ramp needs steps exact in float32), got {shown!r}"
        )
    return arr.astype(np.int32) if arr.ndim else int(arr)


@jax.tree_util.register_pytree_with_keys_class
class WarmupExponentialDecay:
    """Linear warmup from ``init_value`` to ``peak_value``, then exponential decay.

    Build it with :func:`warmup_exponential_decay` (optax's argument names). Frozen, and
    a JAX pytree whose leaves are ``init_value``, ``warmup_steps`` and the decay
    schedule (an :class:`ExponentialDecay` starting at ``peak_value``), so that a batch
    of them maps under ``vmap`` with one trace, and a new value passed into ``jit`` does
    not recompile.

    Examples:
        >>> from jax_expdecay import warmup_exponential_decay
        >>> sched = warmup_exponential_decay(0.0, 1.0, 4, 10, 0.5, staircase=True)
        >>> [float(sched(s)) for s in (0, 1, 2, 3, 4, 14)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 0.5]
        >>> sched.peak_value, sched.warmup_steps, sched.decay.config.decay_steps
        (1.0, 4, 10)
    """

    __slots__ = ("__weakref__", "decay", "init_value", "warmup_steps")

    init_value: Any
    warmup_steps: Any
    decay: ExponentialDecay

    def __init__(self, init_value: Any, warmup_steps: Any, decay: ExponentialDecay):
        if not isinstance(decay, ExponentialDecay):
            raise TypeError(f"decay must be an ExponentialDecay, got {_describe(decay)}")
        init_value = _check_endpoint("init_value", init_value)
        warmup_steps = _check_warmup(warmup_steps)
        peak = decay.config.initial_learning_rate
        if not _is_tracer(peak):
            _check_endpoint("peak_value", peak)
        for k, v in (("init_value", init_value), ("warmup_steps", warmup_steps)):
            object.__setattr__(self, k, v)
        object.__setattr__(self, "decay", decay)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"WarmupExponentialDecay is frozen: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.init_value, self.warmup_steps, self.decay))

    # -- the fields under optax's names ------------------------------------------------
    @property
    def peak_value(self) -> Any:
        """The rate at the end of the warmup (the decay's initial rate)."""
        return self.decay.config.initial_learning_rate

    @property
    def transition_steps(self) -> Any:
        """The decay's ``decay_steps``."""
        return self.decay.config.decay_steps

    @property
    def decay_rate(self) -> Any:
        """The decay's ``decay_rate``."""
        return self.decay.config.decay_rate

    @property
    def transition_begin(self) -> Any:
        """Steps the decay holds ``peak_value`` after the warmup."""
        return self.decay.config.transition_begin

    @property
    def staircase(self) -> bool:
        """The decay's ``staircase``."""
        return self.decay.config.staircase

    @property
    def end_value(self) -> Any:
        """The decay's ``end_value`` (a floor or cap), or None."""
        return self.decay.config.end_value

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of a batch of schedules; ``()`` for one."""
        return tuple(np.shape(self.warmup_steps))

    def __getitem__(self, index: Any) -> WarmupExponentialDecay:
        """The schedule(s) of a batch at ``index`` (numpy indexing along the batch), with
        the same values bit for bit; e.g. the best config of a sweep.

        Examples:
            >>> import numpy as np
            >>> from jax_expdecay import warmup_exponential_decay
            >>> sweep = warmup_exponential_decay(0.0, np.array([0.1, 0.3]),
            ...                                  np.array([10, 40]), 1000, 0.5)
            >>> best = sweep[1]
            >>> best.peak_value, best.warmup_steps
            (0.3, 40)
        """
        decay = self.decay[index]  # checks the index (TypeError/IndexError, named)
        init = np.asarray(self.init_value)[index]
        warm = np.asarray(self.warmup_steps)[index]
        if np.ndim(warm) == 0:
            init, warm = float(init), int(warm)
        return type(self).tree_unflatten(None, (decay, init, warm))

    # -- evaluation --------------------------------------------------------------------
    def __call__(self, step: ArrayLike) -> jax.Array:
        """Returns the learning rate at ``step`` (elementwise for arrays)."""
        if isinstance(step, bool | np.bool_):
            raise TypeError(f"step must be an integer or float, got a bool: {step!r}")
        if not (_is_tracer(step) or isinstance(step, jax.Array)):
            step = _host_step(step)
        traced = _is_tracer(step) or any(_is_tracer(x) for x in jax.tree_util.tree_leaves(self))
        if traced and not _eager_transform():  # staged (jit, scan, ...): trace inline
            return self._evaluate(step)
        return _eager_evaluate(self, step)  # also under eager grad/vmap: one cached program

    def _evaluate(self, step: Any) -> jax.Array:
        step = jnp.asarray(step)
        dt = step.dtype
        if dt == np.bool_ or not (
            jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.floating)
        ):
            raise TypeError(f"step must be an integer or float array, got dtype {dt}")
        udt = np.dtype(np.uint64 if _x64() else np.uint32)
        nan = None
        if jnp.issubdtype(dt, jnp.floating):  # whole steps: the floor (NaN stays NaN)
            nan = jnp.isnan(step)
            top = step.dtype.type(2.0**64 - 2048 if udt == np.uint64 else 2.0**32 - 256)
            step = jnp.clip(jnp.floor(jnp.where(nan, 0, step)), 0, top).astype(udt)
        else:
            if jnp.issubdtype(dt, jnp.signedinteger):
                step = jnp.maximum(step, dt.type(0))
            step = step.astype(udt)
        fdt = _float_dtype()
        w_raw = jnp.asarray(self.warmup_steps)
        w = jnp.clip(w_raw, 0, MAX_WARMUP).astype(udt)
        in_ramp = step < w
        decay = self.decay(jnp.where(in_ramp, udt.type(0), step - w))
        if decay.dtype != fdt:
            raise TypeError(
                f"the decay part returns {decay.dtype}, the warmup ramp {fdt}: "
                "peak_value must be a Python float or a float64 array"
            )
        # a traced endpoint below the smallest normal is 0 on every backend (XLA:CPU's
        # arithmetic flushes it, XLA:GPU's does not; see _exponent.flush_subnormal)
        a = flush_subnormal(jnp.asarray(self.init_value).astype(fdt))
        b = flush_subnormal(jnp.asarray(self.peak_value).astype(fdt))
        s = jnp.where(in_ramp, step, udt.type(1))
        ramp_v = ramp(a, b, jnp.maximum(s, udt.type(1)), jnp.maximum(w, udt.type(2)))
        out = jnp.where(in_ramp, jnp.where(step == 0, a, ramp_v), decay)
        # invalid traced hyperparameters (checked at construction when concrete): NaN
        bad = (w_raw < 0) | (w_raw > MAX_WARMUP)
        for v in (a, b):
            bad = bad | ~((v == 0) | ((v >= fdt.type(MIN_NONZERO)) & (v <= fdt.type(MAX_VALUE))))
        if nan is not None:
            bad = bad | nan
        return jnp.where(bad, fdt.type(np.nan), out)

    def _first_step_below(self, value: Any) -> int | None:
        """:func:`jax_expdecay.first_step_below` for a warmup schedule: the first step
        ``s >= 0`` whose exact rate is below ``value`` (the ramp's rate with the output
        float endpoints, then the decay's, shifted by ``warmup_steps``)."""
        from fractions import Fraction

        from ._crossing import _value, first_step_below

        for k, v in (("init_value", self.init_value), ("warmup_steps", self.warmup_steps)):
            if _is_tracer(v) or np.ndim(v):
                raise TypeError(
                    f"first_step_below: {k} is {'a JAX tracer' if _is_tracer(v) else 'an array'}"
                    "; it needs a single schedule with concrete values (index a batch first)"
                )
        target = _value(value)
        w = int(self.warmup_steps)
        fdt = _float_dtype()
        a = Fraction(float(fdt.type(self.init_value)))
        b = Fraction(float(fdt.type(self.peak_value)))
        if w > 0:
            if a < target:
                return 0
            if b < a:  # a falling ramp: a + (b - a) s / w < target  <=>  s > (a - t) w / (a - b)
                s = int((a - target) * w // (a - b)) + 1
                if s < w:
                    return s
        after = first_step_below(self.decay, value)
        return None if after is None else after + w

    # -- config / dict -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-native dict under optax's argument names (inverse of ``from_dict``).

        Examples:
            >>> from jax_expdecay import warmup_exponential_decay, WarmupExponentialDecay
            >>> sched = warmup_exponential_decay(0.0, 0.1, 100, 1000, 0.5)
            >>> d = sched.to_dict()
            >>> d["peak_value"], d["warmup_steps"]
            (0.1, 100)
            >>> WarmupExponentialDecay.from_dict(d) == sched
            True
        """
        for k, v in (("init_value", self.init_value), ("warmup_steps", self.warmup_steps)):
            if _is_tracer(v) or np.ndim(v):
                raise TypeError(
                    f"to_dict: {k} is {'a JAX tracer' if _is_tracer(v) else 'an array'}; "
                    "only a single schedule with concrete values can be written"
                )
        try:
            dec = self.decay.config.to_dict()
        except TypeError as e:  # a tracer in a decay field: say it with our names
            raise TypeError(_renamed(str(e))) from None
        return {
            "init_value": float(self.init_value),
            "peak_value": dec["initial_learning_rate"],
            "warmup_steps": int(self.warmup_steps),
            "transition_steps": dec["decay_steps"],
            "decay_rate": dec["decay_rate"],
            "transition_begin": dec["transition_begin"],
            "staircase": dec["staircase"],
            "end_value": dec["end_value"],
        }

    @classmethod
    def from_dict(cls, d: Any) -> WarmupExponentialDecay:
        """Builds a schedule from :meth:`to_dict` output. Strict: missing required keys
        and unknown keys raise ``ValueError`` naming all of them.

        Examples:
            >>> from jax_expdecay import WarmupExponentialDecay
            >>> WarmupExponentialDecay.from_dict({"init_value": 0.0, "peak_value": 1.0})
            Traceback (most recent call last):
            ...
            ValueError: warmup config dict is missing required keys ['warmup_steps', 'transition_steps', 'decay_rate']
        """
        return warmup_exponential_decay(
            **_check_dict_keys(d, _REQUIRED, _KEYS, "warmup config dict")
        )

    # -- value semantics ---------------------------------------------------------------
    def _key(self) -> tuple:
        def norm(v: Any) -> Any:
            if _is_tracer(v):
                return id(v)
            arr = np.asarray(v)
            return (arr.shape, arr.tobytes()) if arr.ndim else v

        return (norm(self.init_value), norm(self.warmup_steps))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key() and self.decay == other.decay

    def __hash__(self) -> int:
        return hash((WarmupExponentialDecay, self._key(), self.decay))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in _KEYS)
        return f"WarmupExponentialDecay({args})"

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten_with_keys(self):
        """JAX pytree protocol: ``init_value``, ``warmup_steps`` and ``decay`` are the
        children (the decay's config holds the other numbers as leaves)."""
        children = tuple(
            (jax.tree_util.GetAttrKey(k), getattr(self, k)) for k in self.__slots__[1:]
        )
        return children, None

    @classmethod
    def tree_unflatten(cls, aux: None, children: Any) -> WarmupExponentialDecay:
        """JAX pytree protocol: rebuilds without revalidating (leaves may be tracers)."""
        obj = object.__new__(cls)
        for k, v in zip(cls.__slots__[1:], children, strict=True):
            object.__setattr__(obj, k, v)
        return obj


def _host_step(step: Any) -> Any:
    """A concrete step as something JAX holds exactly: Python/numpy integers as uint32
    (x64 off; beyond 2**32 - 1 refused), float steps rounded down first."""
    if isinstance(step, numbers.Integral) and not isinstance(step, np.ndarray):
        step = int(step)
        if not _x64():
            if step >= 2**32:
                raise ValueError(
                    f"step {step} is beyond 2**32 - 1, the largest step with "
                    "jax_enable_x64 off; enable x64 for 64-bit steps"
                )
            return np.uint32(max(step, 0))
        return np.int64(max(min(step, 2**63 - 1), 0))
    try:
        arr = np.asarray(step)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"step must be an integer or float, got {_describe(step)}") from None
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"step must be an integer or float, got {_describe(step)}")
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            return arr.astype(_float_dtype())  # NaN gives NaN (the rest: floored on device)
        arr = np.floor(arr)
        top = 2.0**64 - 2048 if _x64() else 2.0**32 - 1
        return np.clip(arr, 0, top).astype(np.uint64 if _x64() else np.uint32)
    if arr.dtype.itemsize == 8 and not _x64():
        if (arr >= 2**32).any():
            raise ValueError(
                f"step {arr[arr >= 2**32].flat[0]} is beyond 2**32 - 1, the largest step "
                "with jax_enable_x64 off; enable x64 for 64-bit steps"
            )
        return np.maximum(arr, 0).astype(np.uint32)
    return arr


@jax.jit
def _eager_evaluate(schedule: WarmupExponentialDecay, step: Any) -> jax.Array:
    return schedule._evaluate(step)  # pyright: ignore[reportPrivateUsage]


def warmup_exponential_decay(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: ArrayLike,
    transition_steps: ArrayLike,
    decay_rate: ArrayLike,
    transition_begin: ArrayLike = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> WarmupExponentialDecay:
    r"""Linear warmup, then exponential decay: ``optax.warmup_exponential_decay_schedule``,
    exact, with every number a pytree leaf.

    The arguments and the schedule are optax's::

        lr(step) = init + (peak - init) * step / warmup_steps     for 0 <= step < warmup_steps
        lr(step) = exponential_decay(peak_value, transition_steps, decay_rate,
                                     staircase=staircase, transition_begin=transition_begin,
                                     end_value=end_value)(step - warmup_steps)   after

    where ``init`` and ``peak`` are ``init_value`` and ``peak_value`` as the output
    float (float32; float64 with x64 on): the values the schedule takes at step 0 and
    at step ``warmup_steps``, which are also what optax computes with. Every ramp value
    is the float nearest the exact one, ties to even (proved, not sampled: an exact
    rounding test decides every case; the argument is in ``jax_expdecay/_ramp.py``).
    The decay part is :func:`exponential_decay`'s kernel, whose values it equals bit
    for bit at ``step - warmup_steps``, with that function's accuracy statement (the
    nearest float32; results below ``2**-126`` flushed to 0). ``warmup_steps=0`` is the
    decay alone.

    Why a sibling of :func:`exponential_decay` and not a ``warmup_steps=`` argument:
    that factory is Keras's ``ExponentialDecay`` (its arguments, config and
    ``to_keras``), which has no warmup; optax already names this schedule and its
    arguments, so an optax user changes one import. Unlike optax's (a
    ``join_schedules`` closure whose boundary is a Python int), ``warmup_steps`` and
    ``peak_value`` are leaves like the rest, so a batch of schedules sweeps in one
    compile (build it from arrays, then ``jax.vmap(lambda s: s(step))(schedule)``).

    Steps are whole: integer steps of any dtype; a float step is first rounded down
    (``floor``), so ``1.5`` is step 1 (NaN gives NaN). Negative steps give the step-0
    value. The output is JAX's default float (float32; float64 with x64 on); the
    endpoints are stored as Python floats (float64 arrays for a batch).

    Args:
      init_value: the rate at step 0: 0, or between ``2**-100`` and ``2**100``.
      peak_value: the rate at step ``warmup_steps``: 0, or between ``2**-100`` and
        ``2**100``.
      warmup_steps: the length of the ramp, a whole number from 0 to ``2**24``.
      transition_steps: the decay's ``decay_steps`` (positive, whole).
      decay_rate: the factor per ``transition_steps`` steps, ``>= 0``.
      transition_begin: steps to hold ``peak_value`` after the warmup, ``>= 0``.
      staircase: if True, the decay's exponent is an integer division.
      end_value: optional floor (decay) or cap (growth) of the decay part.

    Returns:
      A :class:`WarmupExponentialDecay`, usable wherever optax takes a schedule.

    Raises:
      TypeError: a non-number, a bool, a non-bool ``staircase``.
      ValueError: a value out of its range above, non-finite, or a fractional
        ``warmup_steps``/``transition_steps``/``transition_begin`` (each message names
        the argument and the value).

    Examples:
      >>> import jax, numpy as np
      >>> from jax_expdecay import warmup_exponential_decay
      >>> sched = warmup_exponential_decay(0.0, 0.1, 1000, 10_000, 0.5, staircase=True)
      >>> [float(sched(s)) for s in (0, 500, 1000, 11_000)]
      [0.0, 0.05000000074505806, 0.10000000149011612, 0.05000000074505806]
      >>> sweep = warmup_exponential_decay(0.0, np.array([0.1, 0.3]), np.array([10, 40]),
      ...                                  1000, 0.5)
      >>> jax.vmap(lambda s: s(5))(sweep)
      Array([0.05   , 0.0375], dtype=float32)
    """
    if isinstance(staircase, numbers.Real | np.number) and not isinstance(
        staircase, bool | np.bool_
    ):
        raise TypeError(
            f"staircase must be a bool, got {staircase!r:.80} (type {type(staircase).__name__})"
        )
    init = _check_endpoint("init_value", init_value)
    peak = _check_endpoint("peak_value", peak_value)
    warm = _check_warmup(warmup_steps)
    try:
        cfg = ExponentialDecayConfig(
            peak, transition_steps, decay_rate, staircase,
            transition_begin=transition_begin, end_value=end_value,
        )  # fmt: skip
    except (TypeError, ValueError) as e:
        raise type(e)(_renamed(str(e))) from None
    # a batch: every leaf to the common batch shape, so that vmap maps all of them
    shapes = [np.shape(v) for v in (init, warm) if not _is_tracer(v)]
    if cfg.batch_shape or any(shapes):
        if any(_is_tracer(v) for v in (init, warm)):
            shape = cfg.batch_shape
        else:
            try:
                shape = np.broadcast_shapes(cfg.batch_shape, *shapes)
            except ValueError:
                raise ValueError(
                    "hyperparameter arrays must have broadcast-compatible shapes, got "
                    f"init_value {np.shape(init)}, warmup_steps {np.shape(warm)} and the "
                    f"decay's {cfg.batch_shape}"
                ) from None
            init = np.array(np.broadcast_to(np.asarray(init, np.float64), shape))
            warm = np.array(np.broadcast_to(np.asarray(warm, np.int32), shape))
        if cfg.batch_shape != shape:
            cfg = ExponentialDecayConfig(
                np.broadcast_to(np.asarray(peak, np.float64), shape), cfg.decay_steps,
                cfg.decay_rate, cfg.staircase, transition_begin=cfg.transition_begin,
                end_value=cfg.end_value, name=cfg.name,
            )  # fmt: skip
    return WarmupExponentialDecay(init, warm, ExponentialDecay(cfg))
