"""The user-facing factory and the schedule object it returns."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._config import ExponentialDecayConfig, _batch_positions, _is_tracer, _take_leaf
from ._evaluate import Hyper, end_value_in
from ._exponent import P32, P64, Consts, _Prec, host_consts
from ._leaf_consts import leaf_consts
from ._numbers import _eager_transform
from ._numerics import evaluate

__all__ = ["ExponentialDecay", "exponential_decay"]

# Keras calls a learning-rate callable with no argument: say what to do instead.
_NO_STEP: Any = object()
_NO_STEP_MESSAGE = (
    "ExponentialDecay() was called without a step. Keras calls a learning-rate callable "
    "with no argument: to use this schedule in a Keras optimizer, convert it with "
    "jax_expdecay.to_keras(schedule)"
)

# Traced once per leaf structure, shapes and mode, then reused (trace and lowering) by
# every program that evaluates a traced config or schedule: the Python tracing of the
# log2's ~700 jnp operations took ~15 ms of a scalar program, ~0.2 s under vmap.
_leaf_consts_jit = jax.jit(leaf_consts, static_argnums=(1, 2))

_NUMERIC = ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin", "end_value")


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]


def _out_dtype_name(cfg: ExponentialDecayConfig) -> str | None:
    """The output dtype of a typed ``initial_learning_rate`` (from the config's aux data,
    which keeps it through every transformation); None means JAX's default float."""
    return cfg._aux()[2]  # pyright: ignore[reportPrivateUsage]


def _build_consts(cfg: ExponentialDecayConfig, p: _Prec) -> Consts:
    """Host constants of a concrete config (validated: a config rebuilt from leaves a
    ``tree_map`` made invalid is refused here, with the constructor's message)."""
    c = cfg._checked()  # pyright: ignore[reportPrivateUsage]
    args = (c.initial_learning_rate, c.decay_steps, c.decay_rate, c.transition_begin)
    consts = host_consts(*args, c.staircase, p)
    if c.end_value is not None:  # rounded once, here, from the exact value
        name = _out_dtype_name(c)
        out = jax.dtypes.canonicalize_dtype(np.dtype(name) if name is not None else np.float64)
        consts = consts._replace(ev=end_value_in(c.end_value, out))
    return consts


def _hyper(cfg: ExponentialDecayConfig, traced: bool) -> Hyper:
    """The config's values for the derivatives and ``end_value``: exact numbers when
    concrete; the ``hi`` leaves (and the count's low word) when traced."""
    if not traced:
        c = cfg._checked()  # pyright: ignore[reportPrivateUsage]
        return Hyper(
            c.initial_learning_rate, c.decay_rate, c.decay_steps, c.transition_begin, c.end_value
        )
    ih, _, _, dh, dl, rh, _, _, th, tl, eh, _, _ = cfg._leaves()  # pyright: ignore[reportPrivateUsage]
    return Hyper(ih, rh, _count(dh, dl), _count(th, tl), eh)


def _count(hi: Any, lo: Any) -> Any:
    lo = jnp.asarray(lo)
    w = jnp.float64 if _x64() else jnp.float32
    return lo.astype(w) + jnp.asarray(hi).astype(w) * w(2.0**32)


def _check_step_shape(config: ExponentialDecayConfig, step: Any) -> None:
    """A batched schedule's steps must broadcast against its batch: say so, and what to
    do, before the kernel fails with a bare shape error."""
    batch = config.batch_shape
    if not batch:
        return
    try:
        shape = tuple(np.shape(step))
    except Exception:  # garbage steps are reported by __call__'s type checks
        return
    if not shape or shape == batch:
        return
    try:
        np.broadcast_shapes(batch, shape)
    except ValueError:
        raise ValueError(
            f"this schedule is a batch of shape {batch} (one schedule per config) and step "
            f"has shape {shape}, which does not broadcast against it. To evaluate every "
            "schedule at every step, vmap over the schedule: "
            f"jax.vmap(lambda s: s(step))(schedule) gives shape {batch + shape}; or pass "
            f"steps broadcastable to {batch}, e.g. step.reshape({shape + (1,) * len(batch)}) "
            f"gives shape {shape + batch}"
        ) from None


_STEP_TYPE_ERROR = "step must be an integer or real float array or scalar, got "


def _host_step(step: Any) -> Any:
    """Checks a step and, when it is a concrete host value, makes it exact for the kernel.

    With x64 off JAX would wrap 64-bit integers to 32 bits and round float64 to float32.
    Concrete steps are known here, so: integers (Python, numpy int64/uint64) in
    ``[0, 2^32)`` go to the uint32 path exactly, negative ones hold (as step 0 does);
    float64 steps that are all whole numbers go the same way, others must be exact in
    float32. What cannot be represented with x64 off is refused, naming the value.
    """
    if isinstance(step, bool | np.bool_):
        raise TypeError(f"{_STEP_TYPE_ERROR}a bool: {step!r}")
    if _is_tracer(step) or isinstance(step, jax.Array):
        dt = step.dtype
        if dt == np.bool_ or not (
            jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jnp.floating)
        ):
            raise TypeError(f"{_STEP_TYPE_ERROR}dtype {dt}")
        return step
    if isinstance(step, int) and not _x64():
        if step >= 2**32:
            raise ValueError(
                f"step {_brief(step)} is beyond 2**32 - 1, the largest step with "
                "jax_enable_x64 off; enable x64 for 64-bit steps"
            )
        return np.uint32(max(step, 0))
    try:
        arr = np.asarray(step)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if (
        arr is None
        or arr.dtype == np.bool_
        or not (jnp.issubdtype(arr.dtype, jnp.integer) or jnp.issubdtype(arr.dtype, jnp.floating))
    ):
        what = f"{_brief(step)} of dtype {arr.dtype}" if arr is not None else _brief(step)
        raise TypeError(f"{_STEP_TYPE_ERROR}{what} (type {type(step).__name__})")
    if _x64() or arr.dtype.itemsize < 8:
        return arr
    if arr.dtype == np.float64:
        finite = np.isfinite(arr)
        if finite.all() and (arr == np.floor(arr)).all():
            return _narrow_ints(arr, step)
        with np.errstate(over="ignore"):
            f32 = arr.astype(np.float32)
        ok = (f32.astype(np.float64) == arr) | np.isnan(arr)
        if ok.all():
            return f32
        bad = float(arr[~ok].flat[0])
        with np.errstate(over="ignore"):
            rounded = float(np.float32(bad))
        raise ValueError(
            f"step {bad!r} (in {_brief(step)}) is not a float32 number: with "
            "jax_enable_x64 off, a float step must be a whole number below 2**32 or a "
            f"value float32 holds exactly (1.5 is, 0.1 is not); float32 would round it to "
            f"{rounded!r}: pass np.float32 steps to accept that rounding, or enable x64"
        )
    return _narrow_ints(arr, step)


def _narrow_ints(arr: np.ndarray, given: Any) -> np.ndarray:
    """Integer-valued steps as uint32 (negative ones hold, like 0), or a clear error."""
    high = arr >= 2.0**32
    if np.any(high):
        raise ValueError(
            f"step {arr[high].flat[0]!r} (in {_brief(given)}) is beyond 2**32 - 1, the "
            "largest step with jax_enable_x64 off; enable x64 for 64-bit steps"
        )
    return np.where(arr < 0, 0, arr).astype(np.uint32)


def _brief(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


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

    __slots__ = ("__weakref__", "_consts", "_dev", "_dtype", "config")

    config: ExponentialDecayConfig

    def __init__(self, config: ExponentialDecayConfig):
        if not isinstance(config, ExponentialDecayConfig):
            raise TypeError(
                f"config must be an ExponentialDecayConfig, got {type(config).__name__}"
            )
        self.config = config
        self._dtype = _out_dtype_name(config)
        self._consts: dict[str, Consts] = {}
        self._dev: Any = None
        if not config._traced():  # pyright: ignore[reportPrivateUsage]
            self._host_consts(P32)  # built (and checked) once, on the host
            if _x64():
                self._host_consts(P64)

    def _host_consts(self, p: _Prec) -> Consts:
        key = p.float_dtype.name
        c = self._consts.get(key)
        if c is None:
            c = self._consts[key] = _build_consts(self.config, p)
        return c

    def __call__(self, step: ArrayLike = _NO_STEP) -> jax.Array:
        """Returns the learning rate at ``step`` (elementwise for arrays)."""
        _check_step_shape(self.config, step)
        if step is _NO_STEP:
            raise TypeError(_NO_STEP_MESSAGE)
        step = _host_step(step)
        traced = self.config._traced()  # pyright: ignore[reportPrivateUsage]
        if traced or _is_tracer(step):
            if not _eager_transform():  # staged (jit, scan, ...): trace inline
                return self._evaluate(step)
            if traced:  # e.g. an eager grad w.r.t. a hyperparameter: one cached program
                return _traced_evaluate(self, step)
            # an eager grad/vmap w.r.t. the step: the eager program below, transformed
        # Eager: one dispatch of a jitted evaluation with the host constants as arguments,
        # compiled once per structure and step shape/dtype and shared by every schedule
        # (op-by-op dispatch of ~150 jnp ops cost ~1 ms a call).
        dev = self._dev
        if dev is None or (dev[1] is None and _x64()):  # on the device once, not per call
            c32 = self._host_consts(P32)
            c64 = self._host_consts(P64) if _x64() else None
            hyper = _hyper(self.config, traced=False)
            dev = jax.device_put((c32, c64, _hyper_floats(hyper)))
            object.__setattr__(self, "_dev", dev)
        return _eager_evaluate(self.config.staircase, self._dtype, *dev, step)

    def _evaluate(self, step: Any) -> jax.Array:
        traced = self.config._traced()  # pyright: ignore[reportPrivateUsage]

        def consts(p: _Prec) -> Consts:
            if traced:  # derived on the device from the exact leaves
                cfg = self.config
                return _leaf_consts_jit(cfg._leaves(), cfg.staircase, p)  # pyright: ignore[reportPrivateUsage]
            return self._host_consts(p)

        return _evaluate_with(
            step, consts, _hyper(self.config, traced), self.config.staircase, self._dtype
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

    # -- the config's fields as read-only attributes (Keras's schedule has them) ---------
    @property
    def initial_learning_rate(self) -> Any:
        """``config.initial_learning_rate``, read-only (as on Keras's schedule).

        Examples:
            >>> from jax_expdecay import exponential_decay
            >>> sched = exponential_decay(0.1, 1000, 0.96, staircase=True)
            >>> sched.initial_learning_rate, sched.decay_steps, sched.decay_rate, sched.staircase
            (0.1, 1000, 0.96, True)
            >>> sched.decay_rate = 0.5
            Traceback (most recent call last):
            ...
            AttributeError: property 'decay_rate' of 'ExponentialDecay' object has no setter
        """
        return self.config.initial_learning_rate

    @property
    def decay_steps(self) -> Any:
        """``config.decay_steps``, read-only (as on Keras's schedule)."""
        return self.config.decay_steps

    @property
    def decay_rate(self) -> Any:
        """``config.decay_rate``, read-only (as on Keras's schedule)."""
        return self.config.decay_rate

    @property
    def staircase(self) -> bool:
        """``config.staircase``, read-only (as on Keras's schedule)."""
        return self.config.staircase

    @property
    def transition_begin(self) -> Any:
        """``config.transition_begin``, read-only (an optax extension; Keras has none)."""
        return self.config.transition_begin

    @property
    def end_value(self) -> Any:
        """``config.end_value``, read-only (an optax extension; Keras has none)."""
        return self.config.end_value

    @property
    def name(self) -> str | None:
        """``config.name``, read-only (as on Keras's schedule)."""
        return self.config.name

    def __repr__(self) -> str:
        return f"ExponentialDecay({self.config!r})"

    # -- value semantics and batches ---------------------------------------------------
    def __eq__(self, other: object) -> bool:
        """Equal iff the configs are equal (the constants are a function of the config)."""
        if type(other) is not type(self):
            return NotImplemented
        return self.config == other.config

    def __hash__(self) -> int:
        return hash((ExponentialDecay, self.config))  # by value, as the config

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of the batch of schedules (``config.batch_shape``); ``()`` for one.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack
            >>> exponential_decay(0.1, 10, 0.5).batch_shape
            ()
            >>> sweep = exponential_decay(stack([ExponentialDecayConfig(0.1, 10, r)
            ...                                  for r in (0.5, 0.9, 0.99)]))
            >>> sweep.batch_shape, len(sweep)
            ((3,), 3)
        """
        return self.config.batch_shape

    def __len__(self) -> int:
        shape = self.batch_shape
        if not shape:
            raise TypeError(
                "len() of an ExponentialDecay that is not a batch (batch_shape ()); "
                "use .batch_shape, which is () for a single schedule"
            )
        return shape[0]

    def __bool__(self) -> bool:
        return True  # a schedule is never falsy (and truth testing must not call __len__)

    def __getitem__(self, index: Any) -> ExponentialDecay:
        """The schedule(s) of a batch at ``index`` (numpy indexing along the batch dims).

        The config is indexed (``self.config[index]``) and so are the precomputed
        constants, which are not recomputed: ``sched[i]`` equals
        ``exponential_decay(unstack(sched.config)[i])`` and gives its values bit for bit.
        Raises ``TypeError`` for a schedule that is not a batch, ``IndexError`` for an
        index out of range.

        Examples:
            >>> import numpy as np
            >>> from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack
            >>> sweep = exponential_decay(stack([ExponentialDecayConfig(1.0, 10, r)
            ...                                  for r in (0.5, 0.25, 0.125)]))
            >>> losses = np.array([0.3, 0.1, 0.2])
            >>> best = sweep[np.argmin(losses)]
            >>> best.config.decay_rate, float(best(20))
            (0.25, 0.0625)
            >>> sweep[1:].batch_shape
            (2,)
        """
        shape = self.batch_shape
        pos = _batch_positions(shape, index, "ExponentialDecay")
        config = self.config[index]
        out = type(self).tree_unflatten(_out_dtype_name(config), (config,))
        if not config._traced():  # pyright: ignore[reportPrivateUsage]
            out._consts = {  # sliced, not recomputed (host_consts is elementwise)
                k: jax.tree_util.tree_map(lambda x: _take_leaf(x, shape, pos), c)
                for k, c in self._consts.items()
            }
        return out

    def tree_flatten_with_keys(self):
        """JAX pytree protocol: the only child is the config (keyed ``config``), so the
        schedule's leaves are its config's exact leaves and no map of them can make
        ``.config`` and the values disagree; the aux data is the output dtype's name.
        ``jit`` traces the leaves, so new values need no recompile; the constants are
        derived from them (on the host when concrete, on the device when traced)."""
        return ((jax.tree_util.GetAttrKey("config"), self.config),), self._dtype

    @classmethod
    def tree_unflatten(cls, aux: str | None, children: Any) -> ExponentialDecay:
        """JAX pytree protocol: rebuilds a schedule from :meth:`tree_flatten_with_keys`'s
        output without revalidating (the leaves may be tracers or batched arrays); the
        constants of concrete leaves are computed, and checked, when first needed."""
        obj = object.__new__(cls)
        (obj.config,) = children
        obj._dtype = aux
        obj._consts = {}
        obj._dev = None
        return obj


_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<missing>"})()
_REQUIRED = ("initial_learning_rate", "decay_steps", "decay_rate")
# Other libraries' names for our arguments, for a "did you mean" hint: optax's
# exponential_decay(init_value, transition_steps, decay_rate, transition_begin, staircase,
# end_value), and the initial rate as tf.compat.v1.train.exponential_decay names it.
_ALIASES = {
    "init_value": ("initial_learning_rate", "optax's name"),
    "transition_steps": ("decay_steps", "optax's name"),
    "learning_rate": ("initial_learning_rate", "tf.compat.v1's name"),
}


def _did_you_mean(unexpected: dict[str, Any]) -> TypeError:
    """The error for unknown keyword arguments, with a hint for each where one exists."""
    import difflib  # only on this error path: not a cost of `import jax_expdecay`

    names = list(inspect.signature(exponential_decay).parameters)
    hints, unknown = [], []
    for key in unexpected:
        if key in ("warmup_steps", "peak_value", "warmup_target"):  # a warmup: the sibling
            hints.append(f"jax_expdecay.warmup_exponential_decay(..., {key}=...) for a warmup")
        elif key in _ALIASES:
            ours, whose = _ALIASES[key]
            hints.append(f"{ours}= instead of {key}= ({whose})")
        elif close := difflib.get_close_matches(key, names, n=1, cutoff=0.6):
            hints.append(f"{close[0]}= instead of {key}=")
        else:
            unknown.append(key)
    one = len(unexpected) == 1
    msg = (
        f"exponential_decay() got {'an ' if one else ''}unexpected keyword "
        f"argument{'' if one else 's'} {', '.join(map(repr, unexpected))}"
    )
    if hints:
        msg += f"; did you mean {', '.join(hints)}?"
    if unknown:
        msg += f"; the arguments are {names}"
    return TypeError(msg)


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
    initial_learning_rate: ArrayLike | ExponentialDecayConfig = _MISSING,
    decay_steps: ArrayLike = _MISSING,
    decay_rate: ArrayLike = _MISSING,
    staircase: bool = _MISSING,
    *,
    transition_begin: ArrayLike = _MISSING,
    end_value: ArrayLike | None = _MISSING,
    name: str | None = _MISSING,
    **unexpected: Any,
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
    float for a Python number. Float32 results are the float32 nearest the exact value
    (bfloat16/float16 likewise), with the same bits on every backend; results below
    2^-126 are flushed to 0 (the error analysis is in the source files
    ``jax_expdecay/_exp.py``, ``jax_expdecay/_exponent.py`` and ``jax_expdecay/_evaluate.py``). NaN steps give NaN.

    The hyperparameters are validated here when concrete, and turned into device-ready
    constants on the host. A config built inside ``jit``/``vmap`` (traced values) is
    accepted too and gives the same values (invalid traced values give NaN).

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
      TypeError: a non-number where a number belongs, a bool, a non-bool ``staircase``,
        a missing required argument, an unknown keyword (with a hint for optax's names:
        ``init_value`` is ``initial_learning_rate``, ``transition_steps`` is
        ``decay_steps``).
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
    # The defaults above are sentinels, so that `exponential_decay(config)` works and
    # every argument given is known; the documented signature (with the required
    # arguments and the real defaults) is set as `__signature__` below.
    if unexpected:
        raise _did_you_mean(unexpected)
    given: dict[str, Any] = {
        k: v
        for k, v in (
            ("decay_steps", decay_steps),
            ("decay_rate", decay_rate),
            ("staircase", staircase),
            ("transition_begin", transition_begin),
            ("end_value", end_value),
            ("name", name),
        )
        if v is not _MISSING
    }
    if isinstance(initial_learning_rate, ExponentialDecayConfig):
        if given:
            raise TypeError(
                f"exponential_decay(config) takes no other arguments, got {list(given)}; "
                "use config.replace(...) to change fields"
            )
        return ExponentialDecay(initial_learning_rate)
    missing = [k for k in _REQUIRED if k not in given and k != "initial_learning_rate"]
    if initial_learning_rate is _MISSING:
        missing.insert(0, "initial_learning_rate")
    if missing:
        raise TypeError(f"exponential_decay() missing required arguments {missing}")
    if isinstance(staircase, numbers.Real | np.number) and not isinstance(
        staircase, bool | np.bool_
    ):
        raise TypeError(
            f"staircase must be a bool, got {staircase!r:.80} (type {type(staircase).__name__}); "
            "the 4th positional argument is staircase (Keras's order), not transition_begin "
            f"(optax's order): pass transition_begin={staircase!r:.80} by keyword"
        )
    return ExponentialDecay(ExponentialDecayConfig(initial_learning_rate, **given))


def _public_signature() -> inspect.Signature:
    """The signature `help()` shows: the second overload's (required arguments without
    defaults, the config's defaults for the rest, no ``**unexpected``)."""
    defaults = {f.name: f.default for f in dataclasses.fields(ExponentialDecayConfig)}
    params = []
    for p in inspect.signature(exponential_decay).parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        default = inspect.Parameter.empty if p.name in _REQUIRED else defaults[p.name]
        params.append(p.replace(default=default))
    return inspect.signature(exponential_decay).replace(parameters=params)


exponential_decay.__signature__ = _public_signature()  # pyright: ignore[reportFunctionMemberAccess]


def _hyper_floats(h: Hyper) -> Hyper:
    """Concrete hyperparameters as working floats (clipped to the finite range), so that
    passing them into ``jit`` converts nothing."""
    w = np.float64 if _x64() else np.float32
    big = float(np.finfo(w).max)

    def f(x: Any) -> Any:
        return None if x is None else np.clip(np.asarray(x, np.float64), -big, big).astype(w)

    return Hyper(f(h.init), f(h.rate), f(h.decay_steps), f(h.transition_begin), h.end_value)


def _evaluate_with(step: Any, consts: Any, hyper: Hyper, staircase: bool, dtype: str | None):
    """The value at ``step``: picks the working precision, then ``evaluate``."""
    out_dtype = jax.dtypes.canonicalize_dtype(np.dtype(dtype) if dtype is not None else np.float64)
    step = jnp.asarray(step)
    wide = np.dtype(out_dtype) == np.float64 or step.dtype.itemsize == 8
    if _x64() and jnp.issubdtype(step.dtype, jnp.floating):
        wide = True  # float32 steps beyond 2^32 - 256 need the 64-bit integer path
    prec = P64 if wide else P32
    return evaluate(step, consts(prec), prec, staircase=staircase, hyper=hyper, out_dtype=out_dtype)


@jax.jit
def _traced_evaluate(schedule: ExponentialDecay, step: Any) -> jax.Array:
    """A schedule whose config holds tracers of eager transformations (``grad`` w.r.t. a
    hyperparameter outside ``jit``): the same evaluation, as one cached program."""
    return schedule._evaluate(step)  # pyright: ignore[reportPrivateUsage]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _eager_evaluate(
    staircase: bool, dtype: str | None, c32: Consts, c64: Consts | None, hyper: Hyper, step: Any
) -> jax.Array:
    return _evaluate_with(step, lambda p: c32 if p is P32 else c64, hyper, staircase, dtype)
