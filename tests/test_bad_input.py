"""Bad input: one row per case, each asserting the exception type, the argument named
in the message and the received value shown in it; plus the accepted look-alikes
(numpy/JAX 0-d arrays, Fractions) and the opt-in checks of traced hyperparameters."""

from __future__ import annotations

import decimal
import fractions
import json
import math
import warnings

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.experimental import checkify
from reference import exact_lr, ulps

from jax_expdecay import (
    ExponentialDecayConfig,
    check_config,
    checked,
    deserialize,
    exponential_decay,
    stack,
    unstack,
)

C = ExponentialDecayConfig
OK = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}
NUMERIC = ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin", "end_value")


def _kw(**changes):
    return {**OK, **changes}


def _from_json(text: str):
    return lambda: C.from_dict(json.loads(text))


def _traced_to_dict():
    return jax.jit(lambda x: C(x, 10, 0.5).to_dict())(0.1)


_SCHED = exponential_decay(0.1, 10, 0.5)
_CFG = C(0.1, 10, 0.5)
_BATCH = exponential_decay(C(0.1, 10, np.array([0.5, 0.9])))
_BIG_JSON_INT = "1" + "0" * 400
_MASKED = np.ma.masked_array([0.1, np.nan], mask=[0, 1])
_F32_MAX = float(np.finfo(np.float32).max)
_ABOVE_F32_MAX = float(np.nextafter(_F32_MAX, math.inf))  # the next float64 up


class _RaisingFloat(fractions.Fraction):
    """A numbers.Real whose conversion to float fails (issue 11 item 15)."""

    def __float__(self):
        raise RuntimeError("no float for you")


class _RaisingInt(int):
    """A numbers.Integral whose conversion to int fails."""

    def __int__(self):
        raise RuntimeError("no int for you")

    def __index__(self):
        raise RuntimeError("no index for you")


def _stack_bf16_f16():
    return stack([C(jnp.bfloat16(0.1), 10, 0.5), C(np.float16(0.1), 10, 0.5)])


# (thunk, exception type, text naming the argument/key, text showing the value)
ROWS = [
    # wrong types where a number belongs
    ("str_init", lambda: C(**_kw(initial_learning_rate="0.1")), TypeError, "initial_learning_rate", "'0.1'"),
    ("str_steps", lambda: C(**_kw(decay_steps="10")), TypeError, "decay_steps", "'10'"),
    ("code_str_rate", lambda: C(**_kw(decay_rate="__import__('os')")), TypeError, "decay_rate", "__import__('os')"),
    ("none_init", lambda: C(**_kw(initial_learning_rate=None)), TypeError, "initial_learning_rate", "None"),
    ("none_steps", lambda: C(**_kw(decay_steps=None)), TypeError, "decay_steps", "None"),
    ("none_tb", lambda: C(**_kw(transition_begin=None)), TypeError, "transition_begin", "None"),
    ("bool_steps", lambda: C(**_kw(decay_steps=True)), TypeError, "decay_steps", "True"),
    ("bool_rate", lambda: C(**_kw(decay_rate=False)), TypeError, "decay_rate", "False"),
    ("np_bool_init", lambda: C(**_kw(initial_learning_rate=np.bool_(True))), TypeError, "initial_learning_rate", "True"),
    ("bool_array_steps", lambda: C(**_kw(decay_steps=np.array([True]))), TypeError, "decay_steps", "True"),
    ("complex_init", lambda: C(**_kw(initial_learning_rate=0.1 + 0j)), TypeError, "initial_learning_rate", "(0.1+0j)"),
    ("np_complex_rate", lambda: C(**_kw(decay_rate=np.complex64(0.5))), TypeError, "decay_rate", "0.5+0j"),
    ("decimal_init", lambda: C(**_kw(initial_learning_rate=decimal.Decimal("0.1"))), TypeError, "initial_learning_rate", "Decimal('0.1')"),
    ("timedelta_init", lambda: C(**_kw(initial_learning_rate=np.timedelta64(5, "s"))), TypeError, "initial_learning_rate", "timedelta64(5,'s')"),
    ("longdouble_init", lambda: C(**_kw(initial_learning_rate=np.longdouble(0.1))), TypeError, "initial_learning_rate", "longdouble"),
    ("dict_end_value", lambda: C(**_kw(end_value={"a": 1})), TypeError, "end_value", "{'a': 1}"),
    # lists and arrays where a scalar (or a real array) is required
    ("list_init", lambda: C(**_kw(initial_learning_rate=[0.1])), TypeError, "initial_learning_rate", "[0.1]"),
    ("str_array_init", lambda: C(**_kw(initial_learning_rate=np.array(["a"]))), TypeError, "initial_learning_rate", "array(['a']"),
    ("object_array_rate", lambda: C(**_kw(decay_rate=np.array([0.5, "x"], dtype=object))), TypeError, "decay_rate", "'x'"),
    ("non_broadcastable", lambda: C(np.ones(2), np.full(3, 10), 0.5), ValueError, "decay_steps", "(3,)"),
    ("to_dict_batch", lambda: C(np.array([0.1, 0.2]), 10, 0.5).to_dict(), TypeError, "initial_learning_rate", "(2,)"),
    ("to_dict_tracer", _traced_to_dict, TypeError, "initial_learning_rate", "Tracer"),
    # staircase and name
    ("staircase_str_False", lambda: C(**_kw(staircase="False")), TypeError, "staircase", "'False'"),
    ("staircase_0", lambda: C(**_kw(staircase=0)), TypeError, "staircase", "0"),
    ("staircase_1", lambda: C(**_kw(staircase=1)), TypeError, "staircase", "1"),
    ("staircase_none", lambda: C(**_kw(staircase=None)), TypeError, "staircase", "None"),
    ("staircase_array", lambda: C(**_kw(staircase=np.array([True]))), TypeError, "staircase", "array([ True])"),
    ("name_list", lambda: C(**_kw(name=["x"])), TypeError, "name", "['x']"),
    ("name_bytes", lambda: C(**_kw(name=b"x")), TypeError, "name", "b'x'"),
    # ranges
    ("steps_0", lambda: C(**_kw(decay_steps=0)), ValueError, "decay_steps", "0"),
    ("steps_negative", lambda: C(**_kw(decay_steps=-5)), ValueError, "decay_steps", "-5"),
    ("steps_fraction", lambda: C(**_kw(decay_steps=1.5)), ValueError, "decay_steps", "1.5"),
    ("steps_fraction_obj", lambda: C(**_kw(decay_steps=fractions.Fraction(3, 2))), ValueError, "decay_steps", "1.5"),
    ("steps_np_int8_negative", lambda: C(**_kw(decay_steps=np.int8(-1))), ValueError, "decay_steps", "-1"),
    ("steps_array_with_0", lambda: C(**_kw(decay_steps=np.array([10, 0]))), ValueError, "decay_steps", "0"),
    ("steps_array_fraction", lambda: C(**_kw(decay_steps=np.array([2.0, 2.5]))), ValueError, "decay_steps", "2.5"),
    ("rate_negative", lambda: C(**_kw(decay_rate=-0.5)), ValueError, "decay_rate", "-0.5"),
    ("tb_negative", lambda: C(**_kw(transition_begin=-1)), ValueError, "transition_begin", "-1"),
    ("tb_fraction", lambda: C(**_kw(transition_begin=0.5)), ValueError, "transition_begin", "0.5"),
    # beyond 64 bits
    ("steps_2**64", lambda: C(**_kw(decay_steps=2**64)), ValueError, "decay_steps", str(2**64)),
    ("steps_2**63", lambda: C(**_kw(decay_steps=2**63)), ValueError, "decay_steps", str(2**63)),
    ("init_10**400", lambda: C(**_kw(initial_learning_rate=10**400)), ValueError, "initial_learning_rate", "float64 range"),
    ("rate_np_uint64_array_steps", lambda: C(**_kw(transition_begin=np.array([1, 2**63], np.uint64))), ValueError, "transition_begin", "9223372036854775808"),
    # issue 11 item 14: a float array at 2**63 (was: wrapped to -2**63, with a RuntimeWarning)
    ("steps_array_2.0**63", lambda: C(**_kw(decay_steps=np.array([2.0**63]))), ValueError, "decay_steps", "9.223372036854776e+18"),
    ("tb_array_-2.0**63", lambda: C(**_kw(transition_begin=np.array([0.0, -(2.0**63)]))), ValueError, "transition_begin", "-9.223372036854776e+18"),
    ("steps_float32_array_2**63", lambda: C(**_kw(decay_steps=np.array([2.0**63], np.float32))), ValueError, "decay_steps", "9.223372e+18"),
    # issue 11 item 7: masked and empty arrays
    ("masked_end_value", lambda: C(**_kw(end_value=_MASKED)), TypeError, "end_value", "masked array"),
    ("masked_init", lambda: C(**_kw(initial_learning_rate=_MASKED)), TypeError, "initial_learning_rate", "1 masked entries"),
    ("masked_rate", lambda: exponential_decay(0.1, 10, _MASKED), TypeError, "decay_rate", "filled"),
    ("masked_constant_steps", lambda: C(**_kw(decay_steps=np.ma.masked)), TypeError, "decay_steps", "masked array"),
    ("empty_init", lambda: exponential_decay(np.array([]), 10, 0.5), ValueError, "initial_learning_rate", "empty array (shape (0,))"),
    ("empty_2d_steps", lambda: C(**_kw(decay_steps=np.zeros((2, 0), np.int64))), ValueError, "decay_steps", "(2, 0)"),
    ("empty_jax_end_value", lambda: C(**_kw(end_value=jnp.zeros((0,)))), ValueError, "end_value", "empty"),
    # issue 11 item 15: conversions that raise are named
    ("raising_float_init", lambda: C(**_kw(initial_learning_rate=_RaisingFloat(1, 10))), TypeError, "initial_learning_rate", "RuntimeError: no float for you"),
    ("raising_int_steps", lambda: C(**_kw(decay_steps=_RaisingInt(10))), TypeError, "decay_steps", "RuntimeError: no int for you"),
    ("raising_int_end_value", lambda: C(**_kw(end_value=_RaisingInt(0))), TypeError, "end_value", "_RaisingInt"),
    # issue 11 item 19: only bfloat16/float16/float32/float64 (and numpy's ints)
    ("float8_init", lambda: C(**_kw(initial_learning_rate=ml_dtypes.float8_e4m3fn(0.5))), TypeError, "initial_learning_rate", "float8_e4m3fn"),
    ("float8_array_init", lambda: C(**_kw(initial_learning_rate=np.array([0.5], ml_dtypes.float8_e5m2))), TypeError, "initial_learning_rate", "float8_e5m2"),
    ("float4_rate", lambda: C(**_kw(decay_rate=ml_dtypes.float4_e2m1fn(0.5))), TypeError, "decay_rate", "float4_e2m1fn"),
    ("int4_steps", lambda: C(**_kw(decay_steps=ml_dtypes.int4(3))), TypeError, "decay_steps", "int4"),
    ("float8_jax_end_value", lambda: C(**_kw(end_value=jnp.asarray(0.5, jnp.float8_e4m3fn))), TypeError, "end_value", "float8_e4m3fn"),
    # issue 11 item 18: init/end_value beyond the output dtype (float32 here: x64 is off)
    ("init_1e39", lambda: exponential_decay(1e39, 10, 0.5), ValueError, "initial_learning_rate", "1e+39"),
    ("init_f32_overflow_edge", lambda: C(**_kw(initial_learning_rate=-_ABOVE_F32_MAX)), ValueError, "initial_learning_rate", "float32"),
    ("init_np_float64_1e39", lambda: C(**_kw(initial_learning_rate=np.float64(1e39))), ValueError, "initial_learning_rate", "jax_enable_x64"),
    ("init_int_2**200", lambda: C(**_kw(initial_learning_rate=2**200)), ValueError, "initial_learning_rate", "1.6069380442589903e+60"),
    ("rate_1e39", lambda: C(**_kw(decay_rate=1e39)), ValueError, "decay_rate", "1e+39"),
    ("rate_array_above_f32_max", lambda: C(**_kw(decay_rate=np.array([0.5, _ABOVE_F32_MAX]))), ValueError, "decay_rate", "float32"),
    ("end_value_1e39", lambda: C(**_kw(end_value=1e39)), ValueError, "end_value", "1e+39"),
    ("end_value_array_1e39", lambda: C(**_kw(end_value=np.array([0.0, -1e39]))), ValueError, "end_value", "-1e+39"),
    ("end_value_beyond_float16", lambda: C(**_kw(initial_learning_rate=np.float16(0.1), end_value=1e5)), ValueError, "end_value", "float16 (|x| <= 65504"),
    ("end_value_beyond_bfloat16", lambda: C(**_kw(initial_learning_rate=jnp.bfloat16(0.1), end_value=3.4e38)), ValueError, "end_value", "bfloat16"),
    # issue 11 item 16: stacking dtypes with no common dtype says what to do
    ("tiny_rate", lambda: C(**_kw(decay_rate=1.5e-262)), ValueError, "decay_rate", "1.5e-262"),
    ("tiny_init", lambda: C(**_kw(initial_learning_rate=-1e-40)), ValueError, "initial_learning_rate", "-1e-40"),
    ("stack_bf16_f16", _stack_bf16_f16, TypeError, "initial_learning_rate", "cfg.replace(initial_learning_rate=np.float32"),
    ("steps_uint64_max", lambda: C(**_kw(decay_steps=np.uint64(2**64 - 1))), ValueError, "decay_steps", str(2**64 - 1)),
    ("steps_float_1e20", lambda: C(**_kw(decay_steps=1e20)), ValueError, "decay_steps", "1e+20"),
    ("tb_10**5000", lambda: C(**_kw(transition_begin=10**5000)), ValueError, "transition_begin", "16610 bits"),
    ("fraction_beyond_float", lambda: C(**_kw(initial_learning_rate=fractions.Fraction(10**400))), ValueError, "initial_learning_rate", "Fraction(1000"),
    # from_dict: keys, types, nesting, JSON extremes
    ("from_dict_missing", lambda: C.from_dict({"decay_steps": 1}), ValueError, "initial_learning_rate", "decay_rate"),
    ("from_dict_unknown", lambda: C.from_dict({**OK, "foo": 1, "__class__": 2}), ValueError, "'foo'", "'__class__'"),
    ("from_dict_not_a_dict", lambda: C.from_dict([("decay_steps", 1)]), TypeError, "config", "[('decay_steps', 1)]"),
    ("from_dict_int_key", lambda: C.from_dict({**OK, 7: 1}), ValueError, "keys", "[7]"),
    ("from_dict_nested_dict", lambda: C.from_dict(_kw(decay_rate={"value": 0.5})), TypeError, "decay_rate", "{'value': 0.5}"),
    ("from_dict_nested_list", lambda: C.from_dict(_kw(transition_begin=[[0]])), TypeError, "transition_begin", "[[0]]"),
    ("from_dict_str_staircase", lambda: C.from_dict(_kw(staircase="true")), TypeError, "staircase", "'true'"),
    ("json_1e999", _from_json('{"initial_learning_rate": 1e999, "decay_steps": 10, "decay_rate": 0.5}'), ValueError, "initial_learning_rate", "inf"),
    ("json_-1e999", _from_json('{"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "end_value": -1e999}'), ValueError, "end_value", "-inf"),
    ("json_NaN", _from_json('{"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": NaN}'), ValueError, "decay_rate", "nan"),
    ("json_400_digits", _from_json('{"initial_learning_rate": 0.1, "decay_steps": ' + _BIG_JSON_INT + ', "decay_rate": 0.5}'), ValueError, "decay_steps", _BIG_JSON_INT[:77]),
    # factory and call-time misuse
    ("factory_config_plus_arg", lambda: exponential_decay(_CFG, 10), TypeError, "decay_steps", "exponential_decay(config)"),
    ("factory_config_plus_kw", lambda: exponential_decay(_CFG, transition_begin=5), TypeError, "transition_begin", "exponential_decay(config)"),
    ("factory_missing", lambda: exponential_decay(0.1, 10), TypeError, "decay_rate", "missing"),
    ("step_bool", lambda: _SCHED(True), TypeError, "step", "bool"),
    ("step_bool_array", lambda: _SCHED(np.array([True, False])), TypeError, "step", "bool"),
    ("step_complex", lambda: _SCHED(np.complex64(1j)), TypeError, "step", "complex64"),
    ("step_str", lambda: _SCHED("3"), TypeError, "step", "'3'"),
    ("step_object", lambda: _SCHED(object()), TypeError, "step", "object"),
    # issue 12 / issue 11 item 17: batches
    ("batch_called_with_3_steps", lambda: _BATCH(np.arange(3)), ValueError, "batch of shape (2,)", "jax.vmap"),
    ("index_unbatched", lambda: _SCHED[0], TypeError, "not a batch", "batch_shape ()"),
    ("index_out_of_range", lambda: _BATCH[2], IndexError, "(2,)", "index 2 is out of bounds"),
    ("index_float", lambda: _BATCH[0.5], TypeError, "(2,)", "0.5"),
    ("len_unbatched", lambda: len(_SCHED), TypeError, "len()", "batch_shape ()"),
    ("unstack_unbatched", lambda: unstack(_SCHED), ValueError, "unstack()", "needs a batch"),
]  # fmt: skip

# NaN and +-inf in every numeric field.
for _field in NUMERIC:
    for _v, _txt in ((math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")):
        ROWS.append(
            (
                f"{_field}={_txt}",
                (lambda f=_field, v=_v: C(**_kw(**{f: v}))),
                ValueError,
                _field,
                _txt,
            )
        )
    ROWS.append(
        (
            f"{_field}=array_nan",
            (lambda f=_field: C(**_kw(**{f: np.array([1.0, np.nan])}))),
            ValueError,
            _field,
            "nan",
        )
    )


def _as_param(row):
    if type(row) is tuple:
        return pytest.param(*row, id=row[0])
    return pytest.param(*row.values, id=row.values[0], marks=row.marks)


def test_matrix_size():
    assert len(ROWS) >= 110


@pytest.mark.parametrize(("case", "thunk", "exc", "arg", "value"), [_as_param(r) for r in ROWS])
def test_bad_input(case, thunk, exc, arg, value):
    with pytest.raises(exc) as info:
        thunk()
    msg = str(info.value)
    assert type(info.value) is exc, (case, type(info.value))
    assert arg in msg, (case, msg)
    assert value in msg, (case, msg)


# -------------------------------------------------------------------------------------
# Accepted look-alikes: they give the same schedule as Python numbers.
# -------------------------------------------------------------------------------------
STEPS = np.array([0, 1, 9, 10, 11, 55, 1000], np.int32)


@pytest.mark.parametrize(
    "args",
    [
        (np.array(0.25), np.array(10), np.array(0.5)),
        (np.float64(0.25), np.int64(10), np.float64(0.5)),
        (jnp.asarray(0.25), jnp.asarray(10), jnp.asarray(0.5)),
        (0.25, np.int8(10), np.uint16(0)),  # an integer-typed rate 0
        (0.25, 10.0, 0.5),  # whole-valued float decay_steps
        (fractions.Fraction(1, 4), fractions.Fraction(10), fractions.Fraction(1, 2)),
    ],
    ids=["numpy_0d", "numpy_scalars", "jax_0d", "int_typed", "whole_float_steps", "fractions"],
)
@pytest.mark.parametrize("staircase", [False, True])
def test_zero_d_arrays_and_fractions_match_python_numbers(args, staircase):
    init, d, rate = args
    py = (float(init), int(d), float(rate))
    cfg = C(init, d, rate, staircase)
    assert isinstance(cfg.decay_steps, int) and cfg.decay_steps == py[1]
    got = np.asarray(exponential_decay(cfg)(STEPS))
    want = np.asarray(exponential_decay(*py, staircase)(STEPS))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    exact = [exact_lr(*py, int(s), staircase) for s in STEPS]
    assert ulps(got, exact, got.dtype).max() <= 2.0


def test_fraction_steps_are_exact_ints():
    assert C(0.1, fractions.Fraction(2**40), 0.5).decay_steps == 2**40


# -------------------------------------------------------------------------------------
# Traced hyperparameters: unchecked behaviour (as documented in _check.py) and checks.
# -------------------------------------------------------------------------------------
TRACE_STEPS = jnp.array([0, 1, 10, 100], jnp.int32)


def _bare(init, d, rate, staircase=False):
    return jax.jit(lambda i, d, r: exponential_decay(i, d, r, staircase)(TRACE_STEPS))(
        init, d, rate
    )


def test_unchecked_traced_values_are_nan_as_documented():
    # values the constructor refuses: NaN at every step (never a plausible number)
    for args in ((0.1, 0, 0.5), (0.1, 10, -1.0), (math.nan, 10, 0.5), (0.1, -10, 0.5)):
        assert np.isnan(np.asarray(_bare(*args))).all(), args
        assert np.isnan(np.asarray(_bare(*args, staircase=True))).all(), args
    assert np.isnan(np.asarray(_bare(0.1, 10.5, 0.5))).all()  # fractional decay_steps
    assert np.isnan(np.asarray(_bare(0.1, 10, math.inf))).all()
    # A negative or NaN traced transition_begin acts as 0.
    with_tb = jax.jit(lambda tb: exponential_decay(0.1, 10, 0.5, transition_begin=tb)(TRACE_STEPS))
    want = np.asarray(exponential_decay(0.1, 10, 0.5)(TRACE_STEPS))
    np.testing.assert_array_equal(np.asarray(with_tb(-3)), want)
    np.testing.assert_array_equal(np.asarray(with_tb(math.nan)), want)


def _checked_lr(init, d, rate, tb, ev, step):
    return checked(exponential_decay(init, d, rate, transition_begin=tb, end_value=ev))(step)


@pytest.mark.parametrize(
    ("init", "d", "rate", "tb", "ev", "field", "shown"),
    [
        (math.nan, 10, 0.5, 0, 0.0, "initial_learning_rate", "nan"),
        (math.inf, 10, 0.5, 0, 0.0, "initial_learning_rate", "inf"),
        (0.1, 0, 0.5, 0, 0.0, "decay_steps", "0"),
        (0.1, -3, 0.5, 0, 0.0, "decay_steps", "-3"),
        (0.1, 2.5, 0.5, 0, 0.0, "decay_steps", "2.5"),
        (0.1, 10, -1.0, 0, 0.0, "decay_rate", "-1.0"),
        (0.1, 10, math.nan, 0, 0.0, "decay_rate", "nan"),
        (0.1, 10, math.inf, 0, 0.0, "decay_rate", "inf"),
        (0.1, 10, 0.5, -1, 0.0, "transition_begin", "-1"),
        (0.1, 10, 0.5, 0, math.nan, "end_value", "nan"),
    ],
)
def test_checked_reports_each_invalid_traced_field(init, d, rate, tb, ev, field, shown):
    err, _ = checkify.checkify(jax.jit(_checked_lr))(init, d, rate, tb, ev, 20)
    msg = err.get()
    assert msg is not None and field in msg and shown in msg, msg
    with pytest.raises(ValueError, match=field):
        err.throw()


def test_checked_valid_is_silent_and_equals_the_schedule():
    err, out = checkify.checkify(jax.jit(_checked_lr))(0.1, 10, 0.5, 5, 0.01, TRACE_STEPS)
    assert err.get() is None
    want = exponential_decay(0.1, 10, 0.5, transition_begin=5, end_value=0.01)(TRACE_STEPS)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(want))


def test_checked_under_jit_vmap_finds_the_bad_row():
    rates = jnp.array([0.5, 0.9, -2.0, 0.1])
    sweep = jax.jit(jax.vmap(_checked_lr, in_axes=(None, None, 0, None, None, None)))
    err, out = checkify.checkify(sweep)(0.1, 10, rates, 0, 0.0, 20)
    assert "decay_rate" in err.get() and "-2.0" in err.get()
    # The valid rows are still computed.
    assert float(out[0]) == pytest.approx(0.025, rel=1e-6)
    err, _ = checkify.checkify(sweep)(0.1, 10, jnp.abs(rates), 0, 0.0, 20)
    assert err.get() is None


def test_checked_accepts_a_config_and_is_a_pytree():
    sched = checked(C(1.0, 10, 0.5))
    leaves = jax.tree_util.tree_leaves(sched)
    inner = jax.tree_util.tree_leaves(sched.schedule)
    assert len(leaves) == len(inner) and all(a is b for a, b in zip(leaves, inner, strict=True))
    err, out = checkify.checkify(jax.jit(lambda s, x: s(x)))(sched, 20)
    assert err.get() is None and float(out) == float(exact_lr(1.0, 10, 0.5, 20))


def test_checked_catches_invalid_values_bypassing_the_constructor():
    # tree_map rebuilds a config without validation; the check still sees the value.
    bad = jax.tree_util.tree_map(lambda x: -x, C(0.1, 10, 0.5))
    with pytest.raises(ValueError, match="decay_steps must be a positive whole number, got -10"):
        check_config(bad)


def test_checked_concrete_values_need_no_checkify_and_do_not_overflow():
    # 2**40 steps is valid; with x64 off it must not be converted to int32 for the check.
    sched = checked(exponential_decay(1.0, 2**40, 0.5))
    got = float(jax.jit(sched)(2**20))
    assert got == float(exponential_decay(1.0, 2**40, 0.5)(2**20))
    assert got == pytest.approx(float(exact_lr(1.0, 2**40, 0.5, 2**20)), rel=2**-22)


def test_checked_without_checkify_under_jit_is_a_clear_error():
    with pytest.raises(ValueError, match="checkify"):
        jax.jit(_checked_lr)(0.1, 10, 0.5, 0, 0.0, 3)


@pytest.mark.parametrize("bad", [None, 0.1, {"decay_steps": 1}, exponential_decay])
def test_checked_and_check_config_refuse_other_types(bad):
    with pytest.raises(TypeError, match="schedule must be"):
        checked(bad)
    with pytest.raises(TypeError, match="config must be"):
        check_config(bad)


# -------------------------------------------------------------------------------------
# Issue 11: the values behind the fixed defects.
# -------------------------------------------------------------------------------------
_STAIR_STEPS = np.array([0, 9, 10, 25, 400], np.int32)


def _lr(*args, **kw):
    return np.asarray(exponential_decay(*args, **kw)(_STAIR_STEPS))


@pytest.mark.parametrize(
    "big",
    [
        2**40,
        np.int64(2**40),
        np.uint64(2**40),
        np.array(2**40, np.int64),
        fractions.Fraction(2**40),
    ],
    ids=["int", "np_int64", "np_uint64", "0d_int64", "fraction"],
)
def test_item4_large_integer_init_is_its_value_never_wrapped(big):
    # was: OverflowError at every call (Python int) or 0.0 (np.int64 wrapped to int32)
    cfg = C(big, 10, 0.5, True)
    assert cfg.initial_learning_rate == 2.0**40 and type(cfg.initial_learning_rate) is float
    want = np.float32([2.0**40, 2.0**40, 2.0**39, 2.0**38, 2.0**0])  # exact powers of 2
    np.testing.assert_array_equal(_lr(cfg), want)


def test_item4_large_integers_from_json_and_as_end_value():
    text = '{"initial_learning_rate": 3000000000, "decay_steps": 10, "decay_rate": 0.5}'
    sched = deserialize(json.loads(text))  # was: OverflowError at every call
    assert float(sched(0)) == float(np.float32(3e9))
    assert float(sched(10)) == float(np.float32(1.5e9))
    # a growth capped at 2**40 (was: wrapped to 0, so the cap gave 0)
    got = _lr(1.0, 1, 2.0, True, end_value=np.int64(2**40))
    np.testing.assert_array_equal(got, np.float32([1.0, 2.0**9, 2.0**10, 2.0**25, 2.0**40]))


def test_item4_uint64_arrays_are_checked_or_exact_like_uint64_scalars():
    top = 2**64 - 1
    for kw in ({"decay_steps": np.array([top], np.uint64)}, {"decay_steps": np.uint64(top)}):
        with pytest.raises(
            ValueError, match=r"decay_steps must fit in 64 bits.*18446744073709551615"
        ):
            C(**_kw(**kw))
    # for a float field both are the value itself, as a float (2**64 after rounding)
    scalar = C(np.uint64(top), 10, 0.5)
    array = C(np.array([top, 3], np.uint64), 10, 0.5)
    assert scalar.initial_learning_rate == 2.0**64
    assert array.initial_learning_rate.dtype == np.float64
    assert array.initial_learning_rate.tolist() == [2.0**64, 3.0]
    got = np.asarray(exponential_decay(array)(10))
    np.testing.assert_array_equal(got, np.float32([2.0**63, 1.5]))


def test_item14_no_cast_warning_and_the_given_value_reported():
    # pytest's filterwarnings=error turns numpy's cast RuntimeWarning into a failure.
    with pytest.raises(ValueError) as info:
        C(0.1, np.array([2.0**63]), 0.5)
    msg = str(info.value)
    assert "9.223372036854776e+18" in msg and "-9223372036854775808" not in msg
    # the largest valid float below 2**63 is accepted, exactly
    top = float(np.nextafter(2.0**63, 0))
    assert C(0.1, np.array([top]), 0.5).decay_steps.tolist() == [int(top)]


@pytest.mark.parametrize(
    "dtype", [jnp.bfloat16, np.float16, np.float32, np.float64, np.int8, np.uint16, np.int64]
)
def test_item19_the_supported_dtypes_are_accepted(dtype):
    cfg = C(np.asarray(1, dtype)[()], np.asarray(4, dtype)[()], 0.5, True)
    got = np.asarray(exponential_decay(cfg)(8))
    assert float(got) == 0.25
    floating = jnp.issubdtype(dtype, jnp.floating)
    want = jax.dtypes.canonicalize_dtype(dtype if floating else jnp.float64)
    assert got.dtype == want


def test_item18_the_range_rule_at_its_edges():
    # |x| <= float32 max is accepted and returned as is, at the step it holds
    at_max = exponential_decay(_F32_MAX, 10, 0.5, end_value=-_F32_MAX)
    assert float(at_max(0)) == _F32_MAX and float(at_max(10)) == _F32_MAX / 2
    with pytest.raises(ValueError, match=r"float32 \(\|x\| <= 3.4028235e\+38"):
        C(_ABOVE_F32_MAX, 10, 0.5)
    # float16 init: end_value up to 65504 accepted
    assert float(exponential_decay(np.float16(1), 1, 2.0, end_value=65504.0)(100)) == 65504.0
    with pytest.raises(ValueError, match="65504"):
        C(np.float16(1), 1, 2.0, end_value=65505.0)
    # a typed float32 init limits a float64 end_value array too
    with pytest.raises(ValueError, match=r"end_value.*float32"):
        C(np.float32(1), 1, 2.0, end_value=np.array([1.0, 1e39]))


def test_item18_with_x64_the_output_is_float64_and_1e39_is_fine(x64):
    sched = exponential_decay(1e39, 10, 0.5)
    got = sched(np.array([0, 10], np.int64))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(got), [1e39, 5e38])
    assert float(exponential_decay(1.0, 10**6, 1e39)(np.int64(1))) == pytest.approx(1e39**1e-6)
    # but a typed float32 init still limits end_value
    with pytest.raises(ValueError, match="float32"):
        C(np.float32(1), 10, 0.5, end_value=-1e39)


def test_item22_dict_round_trip_keeps_untyped_configs_and_documents_typed_ones():
    untyped = [
        C(0.1, 1000, 0.96),
        C(3, 41, 2, True, transition_begin=7, end_value=10**6, name=None),
        C(np.float64(1e-3), np.int64(10), np.float64(0.5), end_value=np.int32(0)),
        C(2**40, 10, 0.5),
    ]
    for c in untyped:
        assert C.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    typed = C(np.float32(0.1), 1000, 0.96)
    back = C.from_dict(typed.to_dict())
    assert back != typed  # the dtype is not serialised (documented in to_dict)
    assert back == typed.replace(initial_learning_rate=float(np.float32(0.1)))
    assert back.replace(initial_learning_rate=np.float32(back.initial_learning_rate)) == typed
    assert "dtype" not in typed.to_dict()
    doc = C.to_dict.__doc__ or ""
    assert "is not written" in doc and "from_dict(to_dict(c)) == c" in doc


# -------------------------------------------------------------------------------------
# Fuzz: any value in any numeric field is either refused with TypeError/ValueError naming
# the field, or stored normalised (floats as floats, steps as int64) and evaluated to
# exactly the (clipped) initial rate at step 0.
# -------------------------------------------------------------------------------------
FUZZ_EXAMPLES = examples(150, 1600)  # short slice in CI; JAX_EXPDECAY_LONG=1: long
_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64, np.float16,
           np.float32, np.float64, jnp.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.int4,
           np.complex64, np.bool_, np.longdouble]  # fmt: skip
_SUPPORTED = {np.dtype(d) for d in _DTYPES[:11]}
_fuzz_call = jax.jit(lambda s, t: s(t))


@st.composite
def _anything(draw):
    kind = draw(st.sampled_from(["int", "float", "typed", "array", "fraction", "other"]))
    if kind == "int":
        return draw(st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(
            [0, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**400, -(10**400)])))  # fmt: skip
    if kind == "float":
        return draw(
            st.one_of(st.floats(), st.sampled_from([_F32_MAX, _ABOVE_F32_MAX, 1e39, 2.0**63]))
        )
    if kind == "fraction":
        return fractions.Fraction(draw(st.integers(-(10**30), 10**30)), draw(st.integers(1, 10**9)))
    if kind == "other":
        return draw(st.sampled_from([None, "1", [1.0], (1,), {"a": 1}, b"1", 1j, True, _MASKED,
                                     decimal.Decimal(1), object()]))  # fmt: skip
    dt = np.dtype(draw(st.sampled_from(_DTYPES)))
    raw = draw(st.one_of(st.integers(-(2**64), 2**64), st.floats(-1e40, 1e40)))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fuzz makes wrapped/overflowing values on purpose
        try:
            value = np.asarray(raw).astype(dt)
        except (OverflowError, ValueError, TypeError):
            value = np.zeros((), dt)
    if kind == "typed":
        return value[()]
    shape = draw(st.sampled_from([(0,), (1,), (3,), (2, 2)]))
    return np.broadcast_to(value, shape).copy()


@settings(max_examples=FUZZ_EXAMPLES)
@given(field=st.sampled_from(NUMERIC), value=_anything())
def test_fuzz_one_field(field, value):
    try:
        cfg = C(**_kw(**{field: value}))
    except (TypeError, ValueError) as e:
        assert field in str(e), (field, value, str(e))
        assert type(e) in (TypeError, ValueError), type(e)
        return
    v = getattr(cfg, field)
    dtype = np.asarray(v).dtype
    if v is None:
        assert field == "end_value" and value is None
    elif field in ("decay_steps", "transition_begin"):
        assert type(v) is int or dtype == np.int64, (field, value, v)
    else:
        assert dtype in _SUPPORTED and not jnp.issubdtype(dtype, jnp.integer), (field, value, v)
        if isinstance(value, int | np.integer):
            assert type(v) is float and v == float(value)  # the value, never wrapped
    assert cfg == C(**_kw(**{field: value})) and hash(cfg) == hash(C(**_kw(**{field: value})))
    got = np.asarray(_fuzz_call(exponential_decay(cfg), jnp.zeros(cfg.batch_shape, jnp.int32)))
    want = np.asarray(cfg.initial_learning_rate, np.float64)
    if cfg.end_value is not None:  # the floor (decay) or cap (growth) holds at step 0 too
        ev = np.asarray(cfg.end_value, np.float64)
        want = np.where(np.asarray(cfg.decay_rate) < 1, np.maximum(want, ev), np.minimum(want, ev))
    want = np.broadcast_to(want.astype(got.dtype), got.shape)
    assert np.isfinite(got).all()
    # XLA on CPU flushes subnormal results to zero (measured: a 1.4e-45 init gives 0.0)
    subnormal = np.abs(want.astype(np.float64)) < float(jnp.finfo(got.dtype).tiny)
    want = np.where(subnormal & (got == 0), got, want)
    np.testing.assert_array_equal(got, want)  # step 0: the initial rate (clipped), exactly
