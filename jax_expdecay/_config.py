"""The frozen, validated configuration of an exponential-decay schedule.

One job: the dataclass of the seven hyperparameters, its pytree form (the exact leaves of
``_numbers``) and its plain JSON-native dict form. Validation and conversion of the
numbers live in ``_numbers``; nothing here touches a device.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import sys
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._numbers import (
    _as_number,
    _check_dict_keys,
    _describe,
    _is_tracer,
    _validate,
    _x64,
    float_leaves,
    float_value,
    int_leaves,
    int_value,
    is_concrete_number,
)

__all__ = ["ExponentialDecayConfig"]

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


_FLOAT_FIELDS = ("initial_learning_rate", "decay_rate", "end_value")
_LEAF_KEYS = tuple(
    jax.tree_util.GetAttrKey(k)
    for k in (
        "initial_learning_rate", "initial_learning_rate_mid", "initial_learning_rate_lo",
        "decay_steps_hi", "decay_steps",
        "decay_rate", "decay_rate_mid", "decay_rate_lo",
        "transition_begin_hi", "transition_begin",
        "end_value", "end_value_mid", "end_value_lo",
    )
)  # fmt: skip


def _dtype_name(v: Any) -> str | None:
    """The dtype a float field keeps: a numpy scalar's or array's (a traced value's, if
    not weak-typed); None for a Python float (JAX's default float)."""
    if v is None:
        return None
    if _is_tracer(v):
        if getattr(v.aval, "weak_type", False) or not jnp.issubdtype(v.dtype, jnp.floating):
            return None
        return np.dtype(v.dtype).name
    if isinstance(v, np.generic | np.ndarray):
        return v.dtype.name
    return None


def _read_float(hi: Any, mid: Any, lo: Any, dtype: str | None) -> Any:
    if hi is None:
        return None
    if not all(is_concrete_number(x) for x in (hi, mid, lo)):
        return hi
    try:
        v = float_value(hi, mid, lo)
        if dtype is None and v.ndim == 0:
            return float(v)
        arr = v.astype(np.dtype(dtype or np.float64))
    except Exception:  # pragma: no cover - an odd placeholder
        return hi
    if arr.ndim == 0:
        return arr[()]
    arr.flags.writeable = False
    return arr


def _read_int(hi: Any, lo: Any) -> Any:
    if not (is_concrete_number(hi) and is_concrete_number(lo)):
        return lo
    try:
        v = int_value(hi, lo)
    except Exception:  # pragma: no cover - an odd placeholder
        return lo
    if v.ndim == 0:
        return int(v) if v.dtype.kind in "iu" else float(v)
    v.flags.writeable = False
    return v


_FLAX_DONE = False


def _register_flax() -> None:
    """Registers the config with ``flax.serialization`` once flax is imported (never
    imports it): its state dict is the leaves by key, restored bit for bit."""
    global _FLAX_DONE
    if _FLAX_DONE or "flax.serialization" not in sys.modules:
        return
    _FLAX_DONE = True
    serialization = sys.modules["flax.serialization"]

    def to_state(cfg: ExponentialDecayConfig) -> dict[str, Any]:
        return {
            k.name: np.asarray(v)
            for k, v in zip(_LEAF_KEYS, cfg._leaves(), strict=True)
            if v is not None
        }

    def from_state(cfg: ExponentialDecayConfig, state: dict[str, Any]) -> ExponentialDecayConfig:
        names = [k.name for k, v in zip(_LEAF_KEYS, cfg._leaves(), strict=True) if v is not None]
        missing = [n for n in names if n not in state]
        if missing or len(state) != len(names):
            raise ValueError(
                f"ExponentialDecayConfig state dict must have the keys {names}, got {sorted(state)}"
            )
        leaves = [
            None if v is None else state[k.name]
            for k, v in zip(_LEAF_KEYS, cfg._leaves(), strict=True)
        ]
        return ExponentialDecayConfig.tree_unflatten(cfg._aux(), leaves)

    serialization.register_serialization_state(
        ExponentialDecayConfig, to_state, from_state, override=True
    )


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
        _register_flax()

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
        if traced:  # inside jit/vmap: index the exact leaves (as tree_unflatten)
            leaves = tuple(None if x is None else _take_leaf(x, shape, pos) for x in self._leaves())
            return self.tree_unflatten(self._aux(), leaves)
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
        """JAX pytree protocol: the numeric fields are the children, each in its exact
        form (``jax_expdecay._numbers``): a float field as three leaves ``hi, mid, lo``
        (keys ``<field>``, ``<field>_mid``, ``<field>_lo``), an integer field as two words
        (``<field>_hi``, ``<field>``); ``staircase``, ``name`` and the dtypes of the float
        fields are the static aux data. So a config passed into ``jit``, mapped by
        ``vmap``, carried by ``scan``, put on a device or saved and restored holds the
        values it was built from, bit for bit."""
        leaves = self._leaves()
        return tuple(zip(_LEAF_KEYS, leaves, strict=True)), self._aux()

    def _leaves(self) -> tuple[Any, ...]:
        """The exact leaves (cached per x64 mode; a config rebuilt from leaves keeps them)."""
        cache = self.__dict__.get("_leaf_cache")
        x64 = _x64()
        if cache is not None and cache[0] in (None, x64):
            return cache[1]
        out: list[Any] = []
        for f in _NUMERIC_FIELDS:
            v = getattr(self, f)
            out.extend(int_leaves(v) if f in _INT_FIELDS else float_leaves(v))
        leaves = tuple(out)
        object.__setattr__(self, "_leaf_cache", (x64, leaves))
        return leaves

    def _aux(self) -> tuple[Any, ...]:
        aux = self.__dict__.get("_aux_cache")
        if aux is None:
            aux = (
                self.staircase,
                self.name,
                *(_dtype_name(getattr(self, f)) for f in _FLOAT_FIELDS),
            )
            object.__setattr__(self, "_aux_cache", aux)
        return aux

    def _traced(self) -> bool:
        """Whether any leaf is a JAX tracer (the config is inside a transformation)."""
        return any(_is_tracer(x) for x in self._leaves())

    def _checked(self) -> ExponentialDecayConfig:
        """This config, validated: itself when built by the constructor; a config rebuilt
        from concrete leaves (``tree_unflatten``) is checked like a new one, so leaves a
        ``tree_map`` made invalid (a fractional ``decay_steps``, an inf) are refused."""
        if "_leaf_cache" not in self.__dict__ or self.__dict__["_leaf_cache"][0] is not None:
            return self
        checked = self.__dict__.get("_checked_cache")
        if checked is None:
            fields = {f: getattr(self, f) for f in _NUMERIC_FIELDS}
            checked = ExponentialDecayConfig(staircase=self.staircase, name=self.name, **fields)
            object.__setattr__(self, "_checked_cache", checked)
        return checked

    @classmethod
    def tree_unflatten(cls, aux: tuple[Any, ...], children: Any) -> ExponentialDecayConfig:
        """JAX pytree protocol: rebuilds a config from :meth:`tree_flatten_with_keys`'s
        output, bypassing ``__init__`` and its checks (the leaves may be tracers, batched
        arrays or JAX's placeholders). Fields read from concrete leaves are the exact
        numbers (a Python float, int, or an array / numpy scalar of the field's dtype);
        from traced leaves, ``hi`` (a float field) or the low word (an integer field)."""
        obj = object.__new__(cls)
        children = tuple(children)
        staircase, name, *dtypes = aux
        i = 0
        for f in _NUMERIC_FIELDS:
            if f in _INT_FIELDS:
                hi, lo = children[i : i + 2]
                i += 2
                value = _read_int(hi, lo)
            else:
                hi, mid, lo = children[i : i + 3]
                i += 3
                value = _read_float(hi, mid, lo, dtypes[_FLOAT_FIELDS.index(f)])
            object.__setattr__(obj, f, value)
        object.__setattr__(obj, "staircase", staircase)
        object.__setattr__(obj, "name", name)
        object.__setattr__(obj, "_leaf_cache", (None, children))
        object.__setattr__(obj, "_aux_cache", tuple(aux))
        _register_flax()
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
        return cls(**_check_dict_keys(d, _REQUIRED_KEYS, _FIELDS, "config dict"))

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


_register_flax()
