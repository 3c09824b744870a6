"""Numbers for a config: validation and conversion of hyperparameters, and their exact
form as pytree leaves.

One job: turn what a user passes for a hyperparameter into a checked Python/numpy number
(with errors that name the argument and the value), and turn such numbers into pytree
leaves that carry them exactly through every JAX transformation, and back.

Exact leaves
------------
With ``jax_enable_x64`` off JAX holds a float in float32 and an integer in 32 bits, so a
leaf ``0.96`` would arrive in ``jit`` as ``0.9599999785`` and the schedule would be
correctly rounded for another rate. So each float field travels as three float32 leaves
``hi, mid, lo`` with ``v = hi + mid 2^-24 + lo 2^-48`` exactly: ``hi`` is ``v`` rounded
to float32, ``r = (v - hi) 2^24`` is exact in float64 and has at most 29 significant bits,
``mid`` is ``r`` rounded to float32 and ``lo = (r - mid) 2^24`` has at most 6 bits, so it
is exact too. ``mid`` and ``lo`` are scaled up by ``2^24`` so that they are as large as
``v`` (no underflow above float32's smallest normal; a ``v`` below it is not exact). With
x64 on each float field is ``(v, 0, 0)`` in float64. A typed float32/bfloat16/float16
value is ``(v, 0, 0)``. Integer fields (``0 <= v < 2^63``) travel as two words, ``hi``
(int32, ``v >> 32``) and ``lo`` (uint32, ``v & (2^32 - 1)``; an int32 when ``v < 2^31``). Multiplying every leaf of a
float field by a power of two scales its value exactly; any other map of the leaves gives
the value the leaves now hold, read the same way everywhere.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

_INT64_MAX = 2**63 - 1
_F32_TINY = 2.0**-126


def _is_tracer(x: Any) -> bool:
    return isinstance(x, Tracer)


# Transformations that evaluate as they go (no program is being staged): a call under
# only these may dispatch one cached jitted program, which JAX then differentiates or
# batches as a whole. (JAX before ~0.6 linearizes by partial evaluation, JaxprTrace: the
# known primal values are computed as they go there too.)
_EAGER_TRACES = frozenset({"EvalTrace", "JVPTrace", "LinearizeTrace", "BatchTrace", "JaxprTrace"})


def _eager_transform() -> bool:
    """Whether the current trace is eager evaluation under only ``grad``/``jvp``/``vjp``/
    ``linearize``/``vmap`` (``hessian``, ``jacfwd``, ... are made of these), i.e. nothing
    is being staged into a program.

    Then a schedule call dispatches its cached jitted evaluation (compiled once per
    structure and step shape, shared by every schedule) instead of running its ~1,000
    operations one by one, where each eager ``lax.cond`` of the accurate path compiled
    anew: an eager ``jax.grad(schedule)(5.0)`` took ~380 ms per call. Inside ``jit``,
    ``scan``, ``cond``, ``pmap``, ``shard_map``, ``remat`` or any trace not named here it
    is False and the call traces inline (a closure's constants stay compile-time
    constants). JAX keeps the trace stack private (``jax._src.core.trace_ctx``, each
    transformation's trace linked by ``parent_trace``); if that ever changes this says
    False, which is always correct, only slower."""
    try:
        from jax._src import core as src_core

        trace = src_core.trace_ctx.trace
        for _ in range(64):
            name = type(trace).__name__
            if name == "EvalTrace":
                return True
            if name not in _EAGER_TRACES:
                return False
            trace = trace.parent_trace
    except Exception:  # a JAX without these internals: trace inline
        return False
    return False


def _repr_depth_limited() -> reprlib.Repr:
    r = reprlib.Repr()  # plain repr, except that containers nest at most 8 deep
    for name in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque",
                 "maxarray", "maxlong", "maxstring", "maxother"):  # fmt: skip
        setattr(r, name, 10**6)
    r.maxlevel = 8
    return r


_REPR = _repr_depth_limited()


def _describe(value: Any) -> str:
    """``repr(value)`` cut to 80 characters, the same on every Python: a deeply nested
    container is shown 8 levels deep (``repr`` of a 10000-deep list raised RecursionError
    on Python 3.11 and printed it on 3.12), an int over 4300 digits or a raising
    ``__repr__`` as ``<unprintable TYPE>``."""
    try:
        text = _REPR.repr(value) if isinstance(value, list | tuple | dict | set) else repr(value)
    except Exception:  # an int over 4300 digits; a raising __repr__
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


def _check_fits_output(cfg: Any) -> None:
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
        if v is None or _is_tracer(v):
            continue
        mag = np.abs(np.asarray(v, np.float64))
        if arg != "end_value":
            # Below the smallest normal of the float the kernel computes in (float32
            # pieces, unless the output is float64) a value is not exact, and XLA's
            # arithmetic treats it as 0 on CPU but not on GPU: refused, so that no
            # backend's handling of subnormals decides a value. (An end_value that small
            # is the output's 0 anyway: the kernel flushes it explicitly.)
            _check_normal(arg, v, mag, out, default, x64_hint)
        if dt == np.float64:
            continue  # float64: already checked finite
        limit = float(jnp.finfo(dt).max)
        over = mag > limit
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


def _check_normal(arg: str, v: Any, mag: np.ndarray, out: Any, default: Any, hint: str) -> None:
    """``v`` (init or rate) is 0 or a normal number of the float the kernel holds it in."""
    wide = out == np.float64
    floor = 2.0**-1022 if wide else _F32_TINY
    tiny = (mag > 0) & (mag < floor)
    if not tiny.any():
        return
    shown = np.asarray(v)[tiny].flat[0] if np.ndim(v) else v
    if wide:
        why = "float64's smallest normal"
    elif default == np.float32:
        why = "float32's smallest normal: with jax_enable_x64 off JAX holds it in float32"
    else:
        why = f"float32's smallest normal: a {np.dtype(out).name} schedule computes in float32"
    fix = (
        "Use a larger value or 0"
        if wide or default != np.float32
        else f"Use a larger value, 0, {hint}"
    )
    raise ValueError(
        f"{arg} must be 0 or at least {floor:.8g} in magnitude ({why}), got {shown!r}. {fix}"
    )


def _values(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _validate(cfg: Any) -> None:
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


# ----------------------------------------------------------------------------------------
# Exact leaves (see the module docstring).
# ----------------------------------------------------------------------------------------
_TWO24 = 2.0**24
_TWO_M24 = 2.0**-24
_TWO_M48 = 2.0**-48


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)  # pyright: ignore[reportAttributeAccessIssue]


def float_leaves(value: Any) -> tuple[Any, Any, Any] | tuple[None, None, None]:
    """``(hi, mid, lo)`` with ``value = hi + mid 2^-24 + lo 2^-48`` exactly; a tracer is
    ``(tracer, 0, 0)`` (a traced value is exactly what it is); None is three Nones."""
    if value is None:
        return None, None, None
    wide = _x64()
    if _is_tracer(value):
        z = np.zeros(np.shape(value), np.float64 if wide else np.float32)
        return value, z, z
    arr = np.asarray(value)
    if wide:
        v = arr.astype(np.float64)
        z = np.zeros(v.shape, np.float64)
        return v, z, z
    if arr.dtype != np.float64:  # float32/bfloat16/float16: exact in one float32
        hi = arr.astype(np.float32)
        z = np.zeros(hi.shape, np.float32)
        return hi, z, z
    with np.errstate(over="ignore"):
        hi = arr.astype(np.float32)
    if not np.isfinite(hi).all():  # beyond float32: not carried (refused when built)
        z = np.zeros(hi.shape, np.float32)
        return hi, z, z
    r = (arr - hi.astype(np.float64)) * _TWO24  # exact: at most 29 significant bits
    mid = r.astype(np.float32)
    lo = ((r - mid.astype(np.float64)) * _TWO24).astype(np.float32)  # exact: <= 6 bits
    return hi, np.asarray(mid), np.asarray(lo)


def float_value(hi: Any, mid: Any, lo: Any) -> np.ndarray:
    """The float64 value of concrete float leaves (exact for leaves from ``float_leaves``)."""
    h = np.asarray(hi, np.float64)
    return h + (np.asarray(mid, np.float64) * _TWO_M24 + np.asarray(lo, np.float64) * _TWO_M48)


def int_leaves(value: Any) -> tuple[Any, Any]:
    """``(hi, lo)`` words of a whole number ``0 <= v < 2^63``: int32 ``v >> 32`` and uint32
    ``v & (2^32 - 1)``; when every value is below 2^31, ``(0, v)`` with ``v`` an int32
    (so a map of the leaves such as ``-x`` gives the value it says); a tracer is
    ``(0, tracer)``."""
    if _is_tracer(value):
        return np.zeros(np.shape(value), np.int32), value
    arr = np.asarray(value, np.int64)
    if arr.size == 0 or arr.max() < 2**31:  # the common case: one int32 word, so that a
        return np.zeros(arr.shape, np.int32), arr.astype(np.int32)  # map like -x reads -x
    hi = (arr >> 32).astype(np.int32)
    return np.asarray(hi), np.asarray((arr & 0xFFFFFFFF).astype(np.uint32))


def int_value(hi: Any, lo: Any) -> Any:
    """The value of concrete integer leaves: int64 for integer words, else float64 (a map
    of the leaves made them floats; the schedule refuses a value that is not whole)."""
    h, lo_ = np.asarray(hi), np.asarray(lo)
    if h.dtype.kind in "iu" and lo_.dtype.kind in "iu":
        return (h.astype(np.int64) << 32) + lo_.astype(np.int64)
    return h.astype(np.float64) * 2.0**32 + lo_.astype(np.float64)


def is_concrete_number(x: Any) -> bool:
    """A leaf whose value can be read on the host: a numpy/JAX array or a number."""
    if _is_tracer(x) or isinstance(x, bool):
        return False
    if isinstance(x, np.ndarray | np.generic | jax.Array):
        return np.dtype(x.dtype).kind in "iuf" or np.dtype(x.dtype) in _FLOAT_DTYPES
    return isinstance(x, int | float)


def _check_dict_keys(
    d: Any, required: Sequence[str], allowed: Sequence[str], what: str
) -> dict[str, Any]:
    """``d`` as a dict, after the strict-loading checks shared by every ``from_dict``: a
    mapping with string keys, none of ``required`` missing, none outside ``allowed``
    (both named in one ``ValueError`` that starts with ``what``)."""
    if not isinstance(d, Mapping):
        raise TypeError(f"config must be a dict, got {_describe(d)}")
    bad_keys = [k for k in d if not isinstance(k, str)]
    if bad_keys:
        raise ValueError(f"config dict keys must be strings, got {bad_keys[:5]!r}")
    missing = [k for k in required if k not in d]
    unknown = sorted(k for k in d if k not in allowed)
    problems = []
    if missing:
        problems.append(f"is missing required keys {missing}")
    if unknown:
        problems.append(
            f"has unknown keys {[k[:60] for k in unknown[:20]]}"
            f"{' (and more)' if len(unknown) > 20 else ''}; allowed keys are {list(allowed)}"
        )
    if problems:
        raise ValueError(f"{what} " + " and ".join(problems))
    return dict(d)
