"""The frozen, validated configuration of an exponential-decay schedule.

One job: hold the seven hyperparameters, check them, and turn them into a plain
JSON-native dict and back. Nothing here touches a device.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
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
    except Exception:  # an int over 4300 digits; a 10000-deep list; a raising __repr__
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


# The float dtypes a schedule can compute in (and return); float8/float4 and longdouble
# are refused, because a typed initial_learning_rate fixes the output dtype.
_FLOAT_DTYPES = tuple(np.dtype(t) for t in (jnp.bfloat16, np.float16, np.float32, np.float64))
_DTYPES_TEXT = "int8..int64, uint8..uint64, bfloat16, float16, float32 or float64"


def _is_real_dtype(dt: np.dtype) -> bool:
    # numpy's signed/unsigned ints (not bool, not timedelta64, not ml_dtypes' int4/int2)
    # and the four floats above.
    if dt.kind in "iu":
        return True
    return dt in _FLOAT_DTYPES


def _dtype_error(arg: str, value: Any, dt: np.dtype) -> TypeError:
    return TypeError(
        f"{arg} must be a real number of dtype {_DTYPES_TEXT}, got dtype {dt}: {_describe(value)}"
    )


def _convert(arg: str, value: Any, to: type) -> Any:
    """``int(value)`` or ``float(value)``, with the value's own failures named."""
    try:
        return to(value)
    except OverflowError:
        raise ValueError(f"{arg} is beyond the float64 range: {_describe(value)}") from None
    except Exception as e:  # a numbers.Real whose __float__/__int__ raises
        raise TypeError(
            f"{arg} must be a real number, but converting {_describe(value)} with "
            f"{to.__name__}() raised {type(e).__name__}: {e}"
        ) from e


def _as_number(arg: str, value: Any, *, kind: str) -> Any:
    """Normalise one concrete hyperparameter; returns a Python number or numpy array.

    ``kind`` is "float" or "int". Tracers pass through untouched (checked later, if
    at all, by :func:`jax_expdecay.checked`). Integers given for a "float" field are
    stored as floats (a Python float, or a float64 array), so that nothing is ever
    converted to JAX's 32-bit int and wrapped.
    """
    if _is_tracer(value):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{arg} must be a number, got a bool: {_describe(value)}")
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{arg} must not be a masked array (its mask would be ignored), got one of "
            f"shape {np.shape(value)} with {int(np.ma.count_masked(value))} masked "
            f"entries: {_describe(np.ma.getdata(value))}; pass value.filled(fill_value), "
            "or a plain array"
        )
    if isinstance(value, jax.Array):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        value = np.asarray(value)  # e.g. np.matrix: keep the values, drop the subclass
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic):
        if not _is_real_dtype(value.dtype):
            raise _dtype_error(arg, value, value.dtype)
        return _check_scalar(arg, value, kind)
    if isinstance(value, np.ndarray):
        return _check_array(arg, value, kind)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral | float):
        # e.g. fractions.Fraction (decimal.Decimal is not a numbers.Real: refused)
        value = _convert(arg, value, float)
    if isinstance(value, numbers.Integral | float):
        return _check_scalar(arg, value, kind)
    raise TypeError(
        f"{arg} must be a real number (Python, numpy or JAX scalar), got {_describe(value)}"
    )


def _check_scalar(arg: str, value: Any, kind: str) -> Any:
    if isinstance(value, numbers.Integral | np.integer):
        ivalue = _convert(arg, value, int)
        if kind == "float":
            # The exact value as a float (rounded to nearest beyond 2**53): an int is
            # an untyped number, like a Python float (JAX's default float output).
            return _convert(arg, ivalue, float)
        if abs(ivalue) > _INT64_MAX:
            raise ValueError(
                f"{arg} must fit in 64 bits (|x| < 2**63), got {_describe_int(ivalue)}"
            )
        return ivalue
    fvalue = _convert(arg, value, float)
    if not math.isfinite(fvalue):
        raise ValueError(f"{arg} must be finite, got {_describe(value)}")
    if kind == "int":
        if fvalue != math.floor(fvalue):
            raise ValueError(f"{arg} must be a whole number of steps, got {_describe(value)}")
        if abs(fvalue) > _INT64_MAX:
            raise ValueError(f"{arg} must fit in 64 bits (|x| < 2**63), got {_describe(value)}")
        return int(fvalue)
    return value if isinstance(value, np.generic) else fvalue


def _first(value: np.ndarray, bad: np.ndarray) -> str:
    return f"{value[bad].flat[0]!r} in {_describe(value)}"


def _check_array(arg: str, value: np.ndarray, kind: str) -> np.ndarray:
    if not _is_real_dtype(value.dtype):
        raise _dtype_error(arg, value, value.dtype)
    if value.size == 0:
        raise ValueError(
            f"{arg} is an empty array (shape {value.shape}); a batch of configs needs at "
            "least one value per field"
        )
    if jnp.issubdtype(value.dtype, jnp.floating):
        bad = ~np.isfinite(value)
        if bad.any():
            raise ValueError(f"{arg} must be finite, got {_first(value, bad)}")
        if kind == "int":
            frac = value != np.floor(value)
            if frac.any():
                raise ValueError(
                    f"{arg} must be a whole number of steps, got {_first(value, frac)}"
                )
            # 2.0**63 itself is out of range: compare in floats, where 2**63 - 1 rounds up.
            big = np.abs(value.astype(np.float64)) >= 2.0**63
            if big.any():
                raise ValueError(
                    f"{arg} must fit in 64 bits (|x| < 2**63), got {_first(value, big)}"
                )
            return value.astype(np.int64)
        return value
    if kind == "float":
        return value.astype(np.float64)  # integers are untyped numbers, as for scalars
    if value.dtype == np.uint64:
        big = value > _INT64_MAX
        if big.any():
            raise ValueError(f"{arg} must fit in 64 bits (|x| < 2**63), got {_first(value, big)}")
    return value.astype(np.int64)


def _output_dtype(init: Any) -> np.dtype:
    """The dtype a schedule with this ``initial_learning_rate`` returns, as of now: the
    init's own float dtype, else JAX's default float (float32 unless x64 is on)."""
    dt: Any = np.float64
    if _is_tracer(init):
        if not getattr(init.aval, "weak_type", False) and init.dtype in _FLOAT_DTYPES:
            dt = init.dtype
    elif isinstance(init, np.generic | np.ndarray) and init.dtype in _FLOAT_DTYPES:
        dt = init.dtype
    return np.dtype(jax.dtypes.canonicalize_dtype(dt))


def _check_fits_output(cfg: ExponentialDecayConfig) -> None:
    """Float fields must be finite in the dtype JAX will hold them in.

    initial_learning_rate and end_value: the output dtype. decay_rate: JAX's default
    float (float32 with x64 off), the dtype it becomes when the config is passed into
    jit. The rule is |x| <= largest finite: values just above it that would round down
    to it are refused too (bfloat16 conversions round twice, via float32, anyway).
    """
    init = cfg.initial_learning_rate
    out = _output_dtype(init)
    default = np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    typed = isinstance(init, np.generic | np.ndarray) and init.dtype != np.float64
    x64_hint = "or call jax.config.update('jax_enable_x64', True) before building it"
    for arg, dt in (("initial_learning_rate", out), ("end_value", out), ("decay_rate", default)):
        v = getattr(cfg, arg)
        if dt == np.float64 or v is None or _is_tracer(v):
            continue  # float64: already checked finite
        limit = float(jnp.finfo(dt).max)
        over = np.abs(np.asarray(v, np.float64)) > limit
        if not over.any():
            continue
        shown = np.asarray(v)[over].flat[0] if np.ndim(v) else v
        if arg == "decay_rate":
            raise ValueError(
                f"decay_rate must be at most {limit:.8g} (float32's largest finite value: "
                f"with jax_enable_x64 off JAX holds it in float32), got {shown!r}. Use a "
                f"smaller value, {x64_hint}"
            )
        hint = "or give initial_learning_rate a wider float dtype" if typed else x64_hint
        raise ValueError(
            f"{arg} must be within the range of the schedule's output dtype {dt} "
            f"(|x| <= {limit:.8g}, its largest finite value), got {shown!r}; beyond it "
            f"the schedule would return inf. Use a smaller value, {hint}"
        )


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
    _check_fits_output(cfg)


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
        arr.flags.writeable = False  # frozen, and hashed by content
        object.__setattr__(cfg, f, arr)


_NUMERIC_FIELDS = (
    "initial_learning_rate",
    "decay_steps",
    "decay_rate",
    "transition_begin",
    "end_value",
)
_INT_FIELDS = ("decay_steps", "transition_begin")


def _batch_positions(shape: tuple[int, ...], index: Any, what: str) -> np.ndarray:
    """The flat (row-major) positions in a batch of ``shape`` that ``index`` selects,
    shaped like the result's batch: numpy's indexing rules, with errors that say so."""
    if not shape:
        raise TypeError(
            f"this {what} is not a batch (its numeric fields are scalars, batch_shape ()), "
            "so it cannot be indexed; a batch comes from jax_expdecay.stack([...]) or "
            "from array-valued hyperparameters"
        )
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if _is_tracer(part):
            raise TypeError(
                f"{what}[...]: the index is a JAX tracer; index the batch (of shape "
                f"{shape}) with a concrete integer, slice or array, outside jit/vmap"
            )
        if isinstance(part, bool | np.bool_):
            raise TypeError(
                f"{what}[...]: a bool index ({part!r}) is ambiguous for a batch of shape "
                f"{shape}; index with an integer, a slice, or a boolean array of that shape"
            )
    parts = tuple(np.asarray(p) if isinstance(p, jax.Array) else p for p in parts)
    try:
        pos = np.arange(math.prod(shape)).reshape(shape)[
            parts if isinstance(index, tuple) else parts[0]
        ]
    except IndexError as e:
        text = str(e)
        too_big = "only integers" in text and all(_is_int(p) for p in parts)  # 10**20
        if "out of bounds" in text or too_big:
            raise IndexError(
                f"{what}[{index!r:.60}]: index out of range for a batch of shape {shape} ({text})"
            ) from None
        if "only integers" in text or "must be of integer" in text:
            raise TypeError(
                f"{what}[...]: invalid index {_describe(index)} for a batch of shape "
                f"{shape}; use integers, slices, or integer/boolean arrays"
            ) from None
        raise IndexError(
            f"{what}[{index!r:.60}]: the index does not fit a batch of shape {shape} ({text})"
        ) from None
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{what}[...]: invalid index {_describe(index)} for a batch of shape {shape} ({e})"
        ) from None
    if np.size(pos) == 0:  # sched[1:1], an all-False mask: no config to build
        raise IndexError(
            f"{what}[{index!r:.60}]: the selection is empty, from a batch of shape {shape}; "
            "a config needs at least one element"
        )
    return np.asarray(pos)


def _is_int(x: Any) -> bool:
    try:
        operator.index(x)
    except TypeError:
        return False
    return True


def _take_leaf(x: Any, shape: tuple[int, ...], pos: np.ndarray) -> Any:
    """The batch entries ``pos`` of a leaf whose leading dims are the batch ``shape``;
    a 0-d leaf (shared by the whole batch) is returned unchanged."""
    xs = tuple(np.shape(x))
    if not xs:
        return x
    nb = len(shape)
    if xs[:nb] != shape:
        if len(xs) > nb:  # pragma: no cover - no such leaf is built
            raise ValueError(f"a leaf of shape {xs} does not lead with the batch shape {shape}")
        x = (np.broadcast_to if isinstance(x, np.ndarray) else jnp.broadcast_to)(x, shape)
        xs = shape
    return x.reshape((math.prod(shape), *xs[nb:]))[pos]


def _scalar_field(field: str, value: Any) -> Any:
    """A 0-d batch entry as ``unstack`` gives it: int, float, or a typed numpy scalar."""
    arr = np.asarray(value)
    if field in _INT_FIELDS:
        return int(arr)
    return float(arr) if arr.dtype == np.float64 else arr[()]


def _int_leaf(v: Any) -> Any:
    """A concrete step-count leaf that JAX can take with x64 off: ``2^31 .. 2^32 - 1`` as
    uint32 (exact); beyond, float32 (the schedule's own constants stay exact: only a
    ``config`` read inside ``jit`` sees the rounded count). JAX would otherwise raise
    OverflowError for a schedule or config passed into ``jit``."""
    if jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]
        return v
    if not isinstance(v, int | np.integer | np.ndarray) or isinstance(v, bool):
        return v  # tracers, JAX's placeholders, None
    if np.asarray(v).dtype.kind not in "iu" or np.size(v) == 0:
        return v
    big = np.max(np.asarray(v))
    if big < 2**31:
        return v
    if big < 2**32:
        return np.asarray(v, dtype=np.uint32)
    return np.asarray(v, dtype=np.float32)


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
    other floats there are refused, because stairs are counted in whole steps. Integers
    given for ``initial_learning_rate``, ``decay_rate`` or ``end_value`` are stored as
    floats (Python floats, or float64 arrays), never as 32-bit ints.

    Accepted dtypes are numpy's integers and bfloat16, float16, float32, float64 (a
    typed ``initial_learning_rate`` is the output dtype, so float8/float4 are refused);
    masked and empty arrays are refused. ``initial_learning_rate`` and ``end_value``
    must be finite in the output dtype: with ``jax_enable_x64`` off (at construction) a
    Python float beyond float32's largest finite value (about 3.4e38) is refused rather
    than returned as inf; a float16 ``initial_learning_rate`` limits ``end_value`` to
    65504. Likewise ``decay_rate`` must fit JAX's default float (float32 with x64 off).

    A config whose numeric fields are arrays is a batch (every field is broadcast to
    the common ``batch_shape``, stored read-only): index it (``batch[i]``, slices,
    integer arrays), take ``len(batch)``, or :func:`jax_expdecay.unstack` it.
    Equality and hashing are by value.

    Attributes:
        initial_learning_rate: the learning rate at step 0 (and before
            ``transition_begin``): a finite real number. A numpy scalar keeps its dtype,
            which becomes the schedule's output dtype; a Python number is stored as a
            ``float`` and gives JAX's default float. Pytree leaf.
        decay_steps: the number of steps over which the rate is multiplied by
            ``decay_rate``: a positive whole number, stored as ``int``. Pytree leaf.
        decay_rate: the factor per ``decay_steps`` steps: finite and ``>= 0`` (``< 1``
            decays, ``> 1`` grows, ``0`` gives 0 once the exponent is > 0). Pytree leaf.
        staircase: if True, the exponent is ``floor((step - transition_begin) /
            decay_steps)`` (discrete stairs); if False, it is continuous. Default False.
            Static metadata (a change retraces a jitted function).
        transition_begin: the number of steps to hold ``initial_learning_rate`` before
            decaying starts: a whole number ``>= 0``, stored as ``int``. Default 0.
            Pytree leaf.
        end_value: None (the default: no bound), or a finite real number bounding the
            rate: a floor when ``decay_rate < 1``, a cap when ``decay_rate >= 1``.
            Pytree leaf.
        name: a label (Keras's ``name``), a ``str`` or None; kept in ``to_dict()`` and
            unused in the math. Default ``"ExponentialDecay"``. Static metadata.

    Examples:
        >>> from jax_expdecay import ExponentialDecayConfig
        >>> cfg = ExponentialDecayConfig(0.1, 100000, 0.96, staircase=True)
        >>> cfg.to_dict()["decay_steps"]
        100000
        >>> ExponentialDecayConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> cfg.replace(decay_rate=0.5).decay_rate
        0.5
        >>> ExponentialDecayConfig(2**40, 10, 0.5).initial_learning_rate
        1099511627776.0
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
        if (self.staircase, self.name) != (other.staircase, other.name):
            return False
        for f in _NUMERIC_FIELDS:
            a, b = getattr(self, f), getattr(other, f)
            if a is None or b is None or _is_tracer(a) or _is_tracer(b):
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
        # By value, consistent with __eq__: every numeric field as float64 (exact for the
        # values a config holds, up to 2**53), -0.0 folded into 0.0; a batch by its
        # shape and bytes (its arrays are read-only). So a batched schedule can still
        # be a static argument or be wrapped by jax.jit.
        parts: list[Any] = [self.staircase, self.name]
        for f in _NUMERIC_FIELDS:
            v = getattr(self, f)
            if v is None:
                parts.append(None)
                continue
            if _is_tracer(v):
                raise TypeError(
                    f"a config holding JAX tracers ({f}) is not hashable; only configs "
                    "with concrete values are"
                )
            arr = np.asarray(v, dtype=np.float64) + 0.0
            parts.append(arr.item() if arr.ndim == 0 else (arr.shape, arr.tobytes()))
        return hash(tuple(parts))

    # -- batches -------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of the batch of schedules this config describes; ``()`` for one.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 10, 0.5).batch_shape
            ()
            >>> import numpy as np
            >>> ExponentialDecayConfig(0.1, 10, np.array([0.5, 0.9, 0.99])).batch_shape
            (3,)
        """
        # Called on every schedule call, so the common cases are fast: Python numbers,
        # and a validated batch, whose fields all have one shape.
        shapes = []
        for f in _NUMERIC_FIELDS:
            v = getattr(self, f)
            if v is None or type(v) in (float, int):
                continue
            shape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
            if shape and shape not in shapes:
                shapes.append(shape)
        if len(shapes) <= 1:
            return shapes[0] if shapes else ()
        return tuple(np.broadcast_shapes(*shapes))

    def __len__(self) -> int:
        shape = self.batch_shape
        if not shape:
            raise TypeError(
                "len() of an ExponentialDecayConfig that is not a batch (batch_shape ()); "
                "use .batch_shape, which is () for a single config"
            )
        return shape[0]

    def __bool__(self) -> bool:
        return True  # a config is never falsy (and truth testing must not call __len__)

    def __getitem__(self, index: Any) -> ExponentialDecayConfig:
        """The config(s) of a batch at ``index`` (numpy indexing along the batch dims).

        An integer gives a scalar config equal to the matching element of
        :func:`jax_expdecay.unstack`; a slice or an array of indices gives a smaller
        batch. Raises ``TypeError`` for a config that is not a batch, ``IndexError`` for
        an index out of range.

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig, stack
            >>> batch = stack([ExponentialDecayConfig(0.1, 10, r) for r in (0.5, 0.9, 0.99)])
            >>> batch[1].decay_rate, len(batch), batch[-2:].batch_shape
            (0.9, 3, (2,))
        """
        shape = self.batch_shape
        pos = _batch_positions(shape, index, "ExponentialDecayConfig")
        fields: dict[str, Any] = {}
        traced = False
        for f in _NUMERIC_FIELDS:
            v = getattr(self, f)
            if v is None:
                fields[f] = None
                continue
            traced = traced or _is_tracer(v)
            fields[f] = _take_leaf(v, shape, pos)
        if traced:  # inside jit/vmap: no validation, no conversion (as tree_unflatten)
            return self.tree_unflatten(
                (self.staircase, self.name), tuple(fields[f] for f in _NUMERIC_FIELDS)
            )
        if pos.ndim == 0:
            fields = {f: v if v is None else _scalar_field(f, v) for f, v in fields.items()}
        return ExponentialDecayConfig(staircase=self.staircase, name=self.name, **fields)

    def replace(self, **changes: Any) -> ExponentialDecayConfig:
        """Returns a copy with ``changes`` applied (and validated).

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 10, 0.5).replace(staircase=True).staircase
            True
        """
        return dataclasses.replace(self, **changes)

    def tree_flatten_with_keys(self):
        """JAX pytree protocol: the five numeric fields are the children (keyed by
        field name); ``(staircase, name)`` is the static aux data."""
        children = tuple(
            (
                jax.tree_util.GetAttrKey(f),
                _int_leaf(getattr(self, f)) if f in _INT_FIELDS else getattr(self, f),
            )
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
        """JAX pytree protocol: rebuilds a config from :meth:`tree_flatten_with_keys`'s
        output, bypassing ``__init__`` and its checks (the leaves may be tracers, batched
        arrays or JAX's placeholders)."""
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

        Numbers are written as Python ints and floats, with Keras's keys plus
        ``transition_begin`` and ``end_value``. **The dtype of a typed**
        ``initial_learning_rate`` **is not written** (Keras's config has no dtype key):
        ``from_dict(to_dict(c)) == c`` holds for every config built from Python numbers
        (or float64/integer values), while a ``np.float32``/``bfloat16``/``float16``
        ``initial_learning_rate`` comes back as the same value as a Python float, so the
        schedule returns JAX's default float. Re-apply the dtype with
        ``replace(initial_learning_rate=np.float32(...))`` after loading.

        Raises:
            TypeError: if a numeric field holds a tracer (a config built inside
                ``jit``/``vmap``) or a non-scalar array (a batch; ``unstack`` it first).

        Examples:
            >>> from jax_expdecay import ExponentialDecayConfig
            >>> ExponentialDecayConfig(0.1, 1000, 0.96).to_dict()  # doctest: +NORMALIZE_WHITESPACE
            {'initial_learning_rate': 0.1, 'decay_steps': 1000, 'decay_rate': 0.96,
             'staircase': False, 'transition_begin': 0, 'end_value': None,
             'name': 'ExponentialDecay'}
            >>> import numpy as np
            >>> typed = ExponentialDecayConfig(np.float32(0.5), 1000, 0.96)
            >>> back = ExponentialDecayConfig.from_dict(typed.to_dict())
            >>> back == typed, back.initial_learning_rate  # the float32 dtype is not kept
            (False, 0.5)
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
