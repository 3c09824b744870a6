"""The frozen, validated configuration of an exponential-decay schedule.

One job: hold the seven hyperparameters, check them, and turn them into a plain
JSON-native dict and back. Nothing here touches a device.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

__all__ = ["ExponentialDecayConfig"]

_INT64_MAX = 2**63 - 1
_FIELDS = (
    "initial_learning_rate",
    "decay_steps",
    "decay_rate",
    "staircase",
    "transition_begin",
    "end_value",
    "name",
)
_KERAS_KEYS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase", "name")
_REQUIRED_KEYS = ("initial_learning_rate", "decay_steps", "decay_rate")


def _is_tracer(x: Any) -> bool:
    return isinstance(x, Tracer)


def _describe(value: Any) -> str:
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int over 4300 digits; a 10000-deep list
        text = f"<unprintable {type(value).__name__}>"
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (type {type(value).__name__})"


def _describe_int(value: int) -> str:
    # str() of an int over 4300 digits raises ValueError (CPython's limit), so say its size.
    try:
        text = str(value)
    except ValueError:
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 80 else f"{text[:77]}... ({value.bit_length()} bits)"


def _is_real_dtype(dt: np.dtype) -> bool:
    # Signed/unsigned ints and the floats JAX has (bfloat16..float64); not bool, complex,
    # timedelta64 (a numpy integer subclass) or longdouble (JAX cannot hold it).
    if dt.kind in "iu":
        return True
    return bool(jnp.issubdtype(dt, jnp.floating)) and dt.itemsize <= 8


def _as_number(arg: str, value: Any, *, kind: str) -> Any:
    """Normalise one concrete hyperparameter; returns a Python number or numpy array.

    ``kind`` is "float" or "int". Tracers pass through untouched (checked later, if
    at all, by :func:`jax_expdecay.checked`).
    """
    if _is_tracer(value):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{arg} must be a number, got a bool: {_describe(value)}")
    if isinstance(value, jax.Array):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        if not _is_real_dtype(value.dtype):
            raise TypeError(f"{arg} must be a real number, got {_describe(value)}")
        return _check_scalar(arg, value, kind)
    if isinstance(value, np.ndarray):
        return _check_array(arg, value, kind)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral | float):
        try:  # e.g. fractions.Fraction (decimal.Decimal is not a numbers.Real: refused)
            value = float(value)
        except OverflowError:
            raise ValueError(f"{arg} is beyond the float64 range: {_describe(value)}") from None
    if isinstance(value, numbers.Integral | float):
        return _check_scalar(arg, value, kind)
    raise TypeError(
        f"{arg} must be a real number (Python, numpy or JAX scalar), got {_describe(value)}"
    )


def _check_scalar(arg: str, value: Any, kind: str) -> Any:
    if isinstance(value, numbers.Integral | jnp.integer):
        ivalue = int(value)
        if abs(ivalue) > _INT64_MAX:
            raise ValueError(
                f"{arg} must fit in 64 bits (|x| < 2**63), got {_describe_int(ivalue)}"
            )
        if kind == "int":
            return ivalue
        return value if isinstance(value, np.generic) else ivalue
    fvalue = float(value)
    if not math.isfinite(fvalue):
        raise ValueError(f"{arg} must be finite, got {_describe(value)}")
    if kind == "int":
        if fvalue != math.floor(fvalue):
            raise ValueError(f"{arg} must be a whole number of steps, got {_describe(value)}")
        if abs(fvalue) > _INT64_MAX:
            raise ValueError(f"{arg} must fit in 64 bits (|x| < 2**63), got {_describe(value)}")
        return int(fvalue)
    return value if isinstance(value, np.generic) else fvalue


def _check_array(arg: str, value: np.ndarray, kind: str) -> np.ndarray:
    if not _is_real_dtype(value.dtype):
        raise TypeError(
            f"{arg} must hold real numbers, got an array of dtype {value.dtype}: {_describe(value)}"
        )
    if jnp.issubdtype(value.dtype, jnp.floating):
        bad = ~np.isfinite(value)
        if bad.any():
            raise ValueError(f"{arg} must be finite, got {value[bad].flat[0]!r} in {value!r}")
        if kind == "int":
            frac = value != np.floor(value)
            if frac.any():
                raise ValueError(
                    f"{arg} must be a whole number of steps, got {value[frac].flat[0]!r}"
                )
            if (np.abs(value) > _INT64_MAX).any():
                raise ValueError(f"{arg} must fit in 64 bits, got {value!r}")
            return value.astype(np.int64)
    elif kind == "int":
        return value.astype(np.int64) if value.dtype != np.uint64 else _u64(arg, value)
    return value


def _u64(arg: str, value: np.ndarray) -> np.ndarray:
    if (value > _INT64_MAX).any():
        raise ValueError(f"{arg} must fit in 64 bits (< 2**63), got {value!r}")
    return value.astype(np.int64)


def _values(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _validate(cfg: ExponentialDecayConfig) -> None:
    """Range checks on the concrete (non-traced) numeric fields."""
    d = cfg.decay_steps
    if not _is_tracer(d) and (np.asarray(d) <= 0).any():
        raise ValueError(f"decay_steps must be a positive number of steps, got {d!r}")
    r = cfg.decay_rate
    if not _is_tracer(r) and (_values(r) < 0).any():
        raise ValueError(f"decay_rate must be >= 0, got {r!r}")
    tb = cfg.transition_begin
    if not _is_tracer(tb) and (np.asarray(tb) < 0).any():
        raise ValueError(f"transition_begin must be >= 0, got {tb!r}")
    shapes = {
        f: np.shape(getattr(cfg, f))
        for f in ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin")
    }
    if cfg.end_value is not None:
        shapes["end_value"] = np.shape(cfg.end_value)
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ValueError(
            f"hyperparameter arrays must have broadcast-compatible shapes, got {shapes}"
        ) from None


def _broadcast_batch(cfg: ExponentialDecayConfig) -> None:
    """A batch config (some field is a non-0-d array) gets every numeric field as an
    array of the common shape, so that ``vmap(in_axes=0)`` maps all of them."""
    names = [f for f in _FIELDS[:6] if f != "staircase" and getattr(cfg, f) is not None]
    values = [getattr(cfg, f) for f in names]
    if any(_is_tracer(v) for v in values) or not any(np.ndim(v) > 0 for v in values):
        return
    shape = np.broadcast_shapes(*(np.shape(v) for v in values))
    for f, v in zip(names, values, strict=True):
        if isinstance(v, np.ndarray | np.generic):
            arr = np.array(np.broadcast_to(v, shape))
        else:
            kind = np.int64 if f in ("decay_steps", "transition_begin") else np.float64
            arr = np.full(shape, v, dtype=kind)
        object.__setattr__(cfg, f, arr)


@jax.tree_util.register_pytree_with_keys_class
@dataclasses.dataclass(frozen=True, eq=False)
class ExponentialDecayConfig:
    """Hyperparameters of :func:`jax_expdecay.exponential_decay`, frozen and validated.

    The fields and defaults are those of the factory. Numeric fields are JAX pytree
    leaves and ``staircase`` and ``name`` are static metadata, so a config can be passed
    into a jitted function, and a config whose numeric fields are arrays describes a
    batch of schedules (see :func:`jax_expdecay.stack`).

    Concrete values are checked at construction (``TypeError`` for a wrong type,
    ``ValueError`` for a bad value, each naming the field and the value). Whole-number
    floats are accepted for ``decay_steps`` and ``transition_begin`` and stored as ints;
    other floats there are refused, because stairs are counted in whole steps.

    Examples:
        >>> from jax_expdecay import ExponentialDecayConfig
        >>> cfg = ExponentialDecayConfig(0.1, 100000, 0.96, staircase=True)
        >>> cfg.to_dict()["decay_steps"]
        100000
        >>> ExponentialDecayConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> cfg.replace(decay_rate=0.5).decay_rate
        0.5
    """

    initial_learning_rate: Any
    decay_steps: Any
    decay_rate: Any
    staircase: bool = False
    transition_begin: Any = 0
    end_value: Any = None
    name: str | None = "ExponentialDecay"

    def __post_init__(self) -> None:
        norm = {
            "initial_learning_rate": _as_number(
                "initial_learning_rate", self.initial_learning_rate, kind="float"
            ),
            "decay_steps": _as_number("decay_steps", self.decay_steps, kind="int"),
            "decay_rate": _as_number("decay_rate", self.decay_rate, kind="float"),
            "transition_begin": _as_number("transition_begin", self.transition_begin, kind="int"),
            "end_value": None
            if self.end_value is None
            else _as_number("end_value", self.end_value, kind="float"),
        }
        if not isinstance(self.staircase, bool | np.bool_):
            raise TypeError(f"staircase must be a bool, got {_describe(self.staircase)}")
        norm["staircase"] = bool(self.staircase)
        if self.name is not None and not isinstance(self.name, str):
            raise TypeError(f"name must be a str or None, got {_describe(self.name)}")
        for key, value in norm.items():
            object.__setattr__(self, key, value)
        _validate(self)
        _broadcast_batch(self)

    # -- value semantics -------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in _FIELDS:
            a, b = getattr(self, f), getattr(other, f)
            if a is None or b is None or isinstance(a, str | bool) or isinstance(b, str | bool):
                if a != b:
                    return False
            elif _is_tracer(a) or _is_tracer(b):
                if a is not b:
                    return False
            elif not np.array_equal(np.asarray(a), np.asarray(b)):
                return False
            elif np.asarray(a).dtype != np.asarray(b).dtype and f == "initial_learning_rate":
                # np.float32(0.5) and 0.5 give schedules of different output dtypes.
                if isinstance(a, np.generic | np.ndarray) or isinstance(b, np.generic | np.ndarray):
                    return False
        return True

    def __hash__(self) -> int:
        try:
            return hash(tuple(getattr(self, f) for f in _FIELDS))
        except TypeError:
            raise TypeError(
                "a config holding arrays or tracers is not hashable; "
                "only scalar configs are hashable"
            ) from None

    def replace(self, **changes: Any) -> ExponentialDecayConfig:
        """Returns a copy with ``changes`` applied (and validated).

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 10, 0.5).replace(staircase=True).staircase
            True
        """
        return dataclasses.replace(self, **changes)

    # -- pytree ------------------------------------------------------------------------
    def tree_flatten_with_keys(self):
        children = tuple(
            (jax.tree_util.GetAttrKey(f), getattr(self, f))
            for f in (
                "initial_learning_rate",
                "decay_steps",
                "decay_rate",
                "transition_begin",
                "end_value",
            )
        )
        return children, (self.staircase, self.name)

    @classmethod
    def tree_unflatten(cls, aux: tuple[bool, str | None], children: Any) -> ExponentialDecayConfig:
        # Bypass __init__: leaves may be tracers, batched arrays or JAX's placeholders.
        obj = object.__new__(cls)
        init, d, r, tb, ev = children
        for key, value in (
            ("initial_learning_rate", init),
            ("decay_steps", d),
            ("decay_rate", r),
            ("transition_begin", tb),
            ("end_value", ev),
            ("staircase", aux[0]),
            ("name", aux[1]),
        ):
            object.__setattr__(obj, key, value)
        return obj

    # -- dict / JSON -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a plain, JSON-native dict (the inverse of ``from_dict``).

        Raises:
            TypeError: if a numeric field holds a tracer (a config built inside
                ``jit``/``vmap``) or a non-scalar array (a batch; ``unstack`` it first).

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 1000, 0.96).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'initial_learning_rate': 0.1, 'decay_steps': 1000, 'decay_rate': 0.96,
             'staircase': False, 'transition_begin': 0, 'end_value': None,
             'name': 'ExponentialDecay'}
        """
        out: dict[str, Any] = {}
        for f in _FIELDS:
            value = getattr(self, f)
            if f in ("staircase", "name") or value is None:
                out[f] = value
                continue
            if _is_tracer(value):
                raise TypeError(
                    f"to_dict: {f} is a JAX tracer ({value!r}); a config built inside "
                    "jit/vmap/grad has no concrete value to serialise. Build the config "
                    "outside the transformation, or return it and serialise the result."
                )
            arr = np.asarray(value)
            if arr.ndim != 0:
                raise TypeError(
                    f"to_dict: {f} is an array of shape {arr.shape}, not a scalar; this is "
                    "a batch of configs, call jax_expdecay.unstack(...) and serialise each."
                )
            if f in ("decay_steps", "transition_begin"):
                out[f] = int(arr)
            else:
                out[f] = float(arr)
        return out

    def get_config(self) -> dict[str, Any]:
        """Keras-named alias of :meth:`to_dict`.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 10, 0.5).get_config()["decay_rate"]
            0.5
        """
        return self.to_dict()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExponentialDecayConfig:
        """Builds a config from ``to_dict()`` output or a Keras ``get_config()`` dict.

        Strict: every missing required key and every unknown key is reported (all of
        them, by name) with ``ValueError``; values are validated like the constructor's
        arguments. Nothing is imported or evaluated.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> keras_cfg = {"initial_learning_rate": 0.1, "decay_steps": 100000,
            ...              "decay_rate": 0.96, "staircase": True, "name": None}
            >>> ExponentialDecayConfig.from_dict(keras_cfg).staircase
            True
            >>> ExponentialDecayConfig.from_dict({"decay_steps": 1})
            Traceback (most recent call last):
            ...
            ValueError: config dict is missing required keys ['initial_learning_rate', 'decay_rate']
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"config must be a dict, got {_describe(d)}")
        bad_keys = [k for k in d if not isinstance(k, str)]
        if bad_keys:
            raise ValueError(f"config dict keys must be strings, got {bad_keys[:5]!r}")
        missing = [k for k in _REQUIRED_KEYS if k not in d]
        unknown = sorted(k for k in d if k not in _FIELDS)
        problems = []
        if missing:
            problems.append(f"is missing required keys {missing}")
        if unknown:
            problems.append(
                f"has unknown keys {[k[:60] for k in unknown[:20]]}"
                f"{' (and more)' if len(unknown) > 20 else ''}; allowed keys are {list(_FIELDS)}"
            )
        if problems:
            raise ValueError("config dict " + " and ".join(problems))
        return cls(**dict(d))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ExponentialDecayConfig:
        """Keras-named alias of :meth:`from_dict`.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig.from_config(
            ...     {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5}
            ... ).decay_steps
            2
        """
        return cls.from_dict(config)
