"""Bad input: one row per case, each asserting the exception type, the argument named
in the message and the received value shown in it; plus the accepted look-alikes
(numpy/JAX 0-d arrays, Fractions) and the opt-in checks of traced hyperparameters."""

from __future__ import annotations

import decimal
import fractions
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify
from reference import exact_lr, ulps

from jax_expdecay import (
    ExponentialDecayConfig,
    check_config,
    checked,
    exponential_decay,
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
_BIG_JSON_INT = "1" + "0" * 400

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
    ("init_2**64", lambda: C(**_kw(initial_learning_rate=2**64)), ValueError, "initial_learning_rate", str(2**64)),
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
    assert len(ROWS) >= 45


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


def test_unchecked_traced_values_are_silent_as_documented():
    # decay_steps = 0 and decay_rate = -1: init while holding, then NaN.
    for got in (np.asarray(_bare(0.1, 0, 0.5)), np.asarray(_bare(0.1, 10, -1.0))):
        assert got[0] == np.float32(0.1)
        assert np.isnan(got[1:]).all()
    assert np.isnan(np.asarray(_bare(math.nan, 10, 0.5))).all()
    # A negative traced decay_steps grows instead of decaying.
    grown = np.asarray(_bare(0.1, -10, 0.5))
    assert grown[3] > grown[2] > grown[1] > grown[0]
    # A staircase with decay_steps <= 0 gives wrong, finite values (exact: NaN/garbage).
    stair = np.asarray(_bare(1.0, 0, 0.5, staircase=True))
    assert np.isfinite(stair).all() and stair[2] != np.float32(exact_lr(1.0, 1, 0.5, 10, True))
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
