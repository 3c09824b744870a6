"""Repros from the adversarial trial (issue "no silent wrong value, no NaN gradient"), each a
test: wrong values (64-bit steps, init 0 with growth, rate 1 at FLT_MAX, +inf with very long
periods, x64 narrow outputs and traced 64-bit counts), wrong gradients (analytic values
from mpmath at the boundaries), a schedule with huge counts as a jit argument, and a
subnormal init held. Hypothesis fuzzing of values and gradients closes the file.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_lr

from jax_expdecay import ExponentialDecayConfig, exponential_decay

mpmath.mp.prec = 160
F32_MAX = float(np.finfo(np.float32).max)


def _near32(v) -> np.float32:
    with np.errstate(over="ignore"):
        r = np.float32(float(v))
    return np.float32(0) if abs(float(r)) < 2.0**-126 else r


# -- 1. 64-bit integer steps and float64 steps with x64 off ------------------------------
def test_int64_steps_exact_below_2_32():
    sched = exponential_decay(1.0, 10**9, 0.5)
    got = np.asarray(sched(np.arange(0, 4 * 10**9, 10**9)))  # int64 numpy
    np.testing.assert_array_equal(got, np.float32([1, 0.5, 0.25, 0.125]))
    assert float(sched(np.uint64(2**31 + 5))) == _near32(exact_lr(1.0, 10**9, 0.5, 2**31 + 5))
    assert float(sched(2**31 + 5)) == float(sched(np.uint64(2**31 + 5)))  # Python int
    assert float(sched(-(2**40))) == 1.0  # negative steps hold, whatever their size
    assert float(sched(np.int64(-5))) == 1.0


def test_float64_whole_steps_exact():
    sched = exponential_decay(1.0, 16777217, 0.5, True)
    assert float(sched(16777217.0)) == 0.5  # float32 would round it to 16777216
    np.testing.assert_array_equal(
        np.asarray(sched(np.array([16777216.0, 16777217.0, 3e7]))), np.float32([1, 0.5, 0.5])
    )
    assert float(exponential_decay(1.0, 4, 0.5)(2.5)) == _near32(exact_lr(1.0, 4, 0.5, 2.5))


@pytest.mark.parametrize(
    "step", [np.int64(2**40), 2**33, np.uint64(2**33), np.array([0, 2**32]), 0.1, 2.0**40]
)
def test_unrepresentable_steps_refused_naming_the_value(step):
    with pytest.raises(ValueError, match=r"step .*(2\*\*32|exactly representable)"):
        exponential_decay(1.0, 10, 0.5)(step)


def test_float32_steps_still_saturate_as_documented():
    v = exponential_decay(1.0, 2**31, 0.5)(np.float32(2.0**40))
    assert float(v) == _near32(exact_lr(1.0, 2**31, 0.5, 2**32 - 256))


# -- 2, 3: zero init with growth; rate 1 with the largest init --------------------------
@pytest.mark.parametrize("init", [0.0, -0.0])
def test_zero_init_growth_is_zero_not_nan(init):
    assert float(exponential_decay(init, 1, 2.0)(1000)) == 0.0
    assert float(exponential_decay(init, 1, 2.0, end_value=5.0)(1000)) == 0.0  # cap: min
    assert float(exponential_decay(init, 1, 0.5, end_value=-5.0)(1000)) == 0.0  # floor: max
    traced = jax.jit(lambda i: exponential_decay(i, 1, 2.0)(1000))(np.float32(1e-45))
    assert float(traced) == 0.0  # a subnormal init built inside jit: flushed, not NaN


def _bits(x) -> bytes:
    return np.asarray(x).tobytes()


# Found on the first GPU run (H200, jax 0.11.2): XLA's arithmetic treats subnormal operands
# as 0 on CPU but not on GPU, so a traced subnormal init gave 0 on CPU and inf on GPU. Now
# every subnormal input is 0 by construction (flush_subnormal); these hold on any backend.
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_traced_subnormal_init_and_rate_are_zero_on_every_backend(sign):
    tiny = np.float32(sign * 1e-45)
    zero = np.float32(sign * 0.0)
    for rate, step in [(2.0, 1000), (0.5, 3), (2.0, 0)]:
        got = jax.jit(lambda i, r=rate, s=step: exponential_decay(i, 1, r)(s))(tiny)
        assert _bits(got) == _bits(exponential_decay(zero, 1, rate)(step)), (rate, step)
    for step in (0, 1, 7):  # a subnormal rate is rate 0 (and a negative one is not NaN)
        got = jax.jit(lambda r, s=step: exponential_decay(3.0, 2, r)(s))(tiny)
        assert _bits(got) == _bits(exponential_decay(3.0, 2, 0.0)(step)), step


@pytest.mark.parametrize("ev", [1e-40, -1e-40, 1e-45])
def test_subnormal_end_value_clamps_to_a_signed_zero(ev):
    """The clamp returns end_value, and a float32 end_value below 2^-126 is 0 (of its
    sign), as every other result below it: concrete or traced, on every backend."""
    plus = np.float32(0.0)  # decay: 2^-1000 is 0 below a positive end_value, and
    decay = exponential_decay(1.0, 1, 0.5, end_value=ev)  # above a negative one
    assert _bits(decay(1000)) == _bits(plus)
    traced = jax.jit(lambda e: exponential_decay(1.0, 1, 0.5, end_value=e)(1000))
    assert _bits(traced(np.float32(ev))) == _bits(plus)
    bf = exponential_decay(jnp.bfloat16(1.0), 1, 0.5, end_value=ev)(1000)
    assert _bits(bf) == _bits(plus.astype(jnp.bfloat16))
    if ev < 0:  # growth capped at a negative end_value: a negative zero
        want = np.float32(-0.0)
        assert _bits(exponential_decay(1e-37, 1, 2.0, end_value=ev)(10)) == _bits(want)
        grow = jax.jit(lambda e: exponential_decay(1e-37, 1, 2.0, end_value=e)(10))
        assert _bits(grow(np.float32(ev))) == _bits(want)


def test_zero_end_value_of_the_other_sign_keeps_the_result():
    """max(+0, -0) is either zero, depending on the backend: a zero end_value never
    replaces a zero result (it is not beyond it), and a NaN end_value still gives NaN."""
    assert _bits(exponential_decay(1.0, 1, 0.5, end_value=-0.0)(1000)) == _bits(np.float32(0))
    assert _bits(exponential_decay(-1.0, 1, 0.5, end_value=0.0)(1000)) == _bits(np.float32(-0.0))
    f = jax.jit(lambda e: exponential_decay(1.0, 1, 0.5, end_value=e)(3))
    assert np.isnan(f(np.float32(np.nan)))


@pytest.mark.parametrize("staircase", [False, True])
def test_subnormal_float_step_is_step_zero(staircase):
    """A float step below 2^-126 is step 0: value and derivative w.r.t. the step (on a GPU
    it was a decayed step with p = 1e-40 / d and the slope of the decay)."""
    sched = exponential_decay(0.3, 7, 0.5, staircase)
    for tiny in (np.float32(1e-40), np.float32(-1e-40)):
        assert _bits(jax.jit(sched)(tiny)) == _bits(sched(np.float32(0)))
        assert _bits(jax.grad(sched)(tiny)) == _bits(jax.grad(sched)(np.float32(0)))


def test_float16_subnormal_end_value_is_kept():
    """float16's subnormals are float32 normals: computed exactly, not flushed."""
    ev = float(np.float16(2.0**-20))
    assert float(exponential_decay(np.float16(1.0), 1, 0.5, end_value=ev)(1000)) == ev


@pytest.mark.parametrize(
    ("wide", "args", "field", "floor"),
    [
        (False, (1e-45, 1, 2.0), "initial_learning_rate", "1.1754944e-38"),
        (False, (1.0, 1, 1e-40), "decay_rate", "1.1754944e-38"),
        (True, (1e-310, 1, 2.0), "initial_learning_rate", "2.2250739e-308"),
        (True, (1.0, 1, 1e-310), "decay_rate", "2.2250739e-308"),
        (True, (np.float32(1.0), 1, 1e-40), "decay_rate", "1.1754944e-38"),
    ],
)
def test_subnormal_init_or_rate_refused_naming_it(request, wide, args, field, floor):
    """Before: with x64 on, init 1e-310 at rate 2, step 100 gave 2^100 (the init lost)
    built on the host and 0 traced; the exact value is 1.27e-280."""
    if wide:
        request.getfixturevalue("x64")
    with pytest.raises(ValueError, match=rf"^{field} must be 0 or at least {floor} .*got "):
        exponential_decay(*args)


def test_rate_one_with_the_largest_init():
    assert float(exponential_decay(F32_MAX, 10, 1.0)(5)) == np.float32(F32_MAX)
    assert float(exponential_decay(F32_MAX, 10, 1.0, end_value=-1.0)(20)) == -1.0  # the cap


# -- 5: +inf steps with periods longer than any uint32 step -----------------------------
@pytest.mark.parametrize(("rate", "want"), [(0.5, 0.0), (2.0, np.inf), (1.0, 1.0), (0.0, 0.0)])
def test_inf_step_limit_with_long_periods(rate, want):
    for d in (2**33, 10):
        got = float(exponential_decay(1.0, d, rate, True)(np.float32(np.inf)))
        assert got == want, (d, got)


# -- 6: x64 on, narrow outputs and traced 64-bit counts ---------------------------------
def test_x64_float32_steps_beyond_2_32(x64):
    sched = exponential_decay(np.float32(1.0), 10**9, 0.5)
    got = sched(np.float32(2.0**40))
    assert got.dtype == np.float32
    assert float(got) == _near32(exact_lr(1.0, 10**9, 0.5, 2**40))


def test_x64_traced_64bit_counts_do_not_wrap(x64):
    f = jax.jit(lambda d: exponential_decay(np.float32(1.0), d, 0.5, True)(np.int32(5)))
    assert float(f(2**33)) == 1.0
    g = jax.jit(
        lambda tb: exponential_decay(np.float32(1.0), 10, 0.5, True, transition_begin=tb)(
            np.int32(20)
        )
    )
    assert float(g(2**32 + 5)) == 1.0


# -- 11: every valid schedule passes into jit, with the closure's bits ------------------
@pytest.mark.parametrize(
    "kw",
    [
        {"decay_steps": 2**31},
        {"decay_steps": 2**40},
        {"decay_steps": 10, "transition_begin": 2**32},
        {"decay_steps": 2**32 - 1, "staircase": True},
    ],
)
def test_schedule_with_huge_counts_as_jit_argument(kw):
    sched = exponential_decay(1.0, decay_rate=0.5, **kw)
    steps = np.array([0, 5, 2**31 - 1, 2**32 - 1], np.uint32)
    as_arg = np.asarray(jax.jit(lambda s, x: s(x))(sched, steps))
    closure = np.asarray(jax.jit(sched)(steps))
    np.testing.assert_array_equal(as_arg.view(np.int32), closure.view(np.int32))


# -- 20: a subnormal init held ----------------------------------------------------------
def test_subnormal_init_refused_with_x64_off():
    # A config's leaves are float32 pieces with x64 off: an init below float32's smallest
    # normal would read as 0 on the device (while a growing rate could make it normal),
    # so it is refused, naming the value (issue 15; before, held and flushed to 0).
    with pytest.raises(ValueError, match=r"initial_learning_rate must be 0 or at least"):
        exponential_decay(np.float32(1e-45), 10, 0.5)


# -- 8, 9, 10: gradients against the analytic derivative (mpmath) -----------------------
def _d(f, x) -> float:
    return float(jax.grad(f)(x))


def _rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-30)


def test_grad_init_at_rate_one_not_doubled():
    assert _d(lambda i: exponential_decay(i, 10, 1.0)(20), 0.5) == 1.0
    g = _d(lambda i: exponential_decay(i, 10, np.float32(1.0000001))(20), 0.5)
    assert _rel(g, float(mpmath.mpf(float(np.float32(1.0000001))) ** 2)) < 1e-6


def test_grad_before_transition_begin_is_exact_not_nan():
    assert _d(lambda r: exponential_decay(0.1, 100, r, transition_begin=10)(5), 1.05) == 0.0
    assert _d(lambda i: exponential_decay(i, 100, 1.05, transition_begin=10)(5), 0.1) == 1.0


def test_grad_capped_after_overflow_is_zero_not_nan():
    f = lambda i: exponential_decay(i, 1, 2.0, end_value=10.0)(1000)  # noqa: E731
    assert _d(f, 0.1) == 0.0
    assert _d(lambda r: exponential_decay(0.1, 1, r, end_value=10.0)(1000), 2.0) == 0.0
    assert _d(lambda s: exponential_decay(0.1, 1, 2.0, end_value=10.0)(s), 1000.0) == 0.0
    # the end_value itself carries the gradient where it clamps
    assert _d(lambda e: exponential_decay(0.1, 1, 2.0, end_value=e)(1000), 10.0) == 1.0


def test_grad_at_zero_init_and_zero_rate():
    assert _d(lambda i: exponential_decay(i, 1, 0.5)(10), 0.0) == 0.5**10
    assert _d(lambda r: exponential_decay(3.0, 1, r, True)(1), 0.0) == 3.0  # p == 1: init
    assert _d(lambda r: exponential_decay(3.0, 1, r, True)(2), 0.0) == 0.0  # p > 1


@pytest.mark.parametrize("staircase", [False, True])
def test_gradients_against_mpmath(staircase):
    """d/d init, d/d rate, d/d step, d/d decay_steps, d/d transition_begin."""
    init, rate, d, tb, step = 0.3, 0.9, 70.0, 5.0, 256.5
    p = mpmath.mpf(step - tb) / d
    if staircase:
        p = mpmath.floor(p)
    i_m, r_m = mpmath.mpf(float(np.float32(init))), mpmath.mpf(float(np.float32(rate)))
    lr = i_m * r_m**p
    want = {
        "init": r_m**p,
        "rate": lr * p / r_m,
        "step": 0 if staircase else lr * mpmath.log(r_m) / d,
        "decay_steps": 0 if staircase else -lr * mpmath.log(r_m) * p / d,
        "transition_begin": 0 if staircase else -lr * mpmath.log(r_m) / d,
    }
    args = {
        "init": init,
        "rate": rate,
        "step": step,
        "decay_steps": d,
        "transition_begin": tb,
    }

    def f(name, x):
        a = dict(args, **{name: x})
        sched = exponential_decay(
            a["init"],
            a["decay_steps"],
            a["rate"],
            staircase,
            transition_begin=a["transition_begin"],
        )
        return sched(a["step"] if name == "step" else jnp.float32(a["step"]))

    for name, w in want.items():
        g = float(jax.grad(lambda x, n=name: f(n, x))(jnp.float32(args[name])))
        assert abs(g - float(w)) <= 1e-5 * abs(float(lr)) + 2e-6 * abs(float(w)), (name, g, w)


# -- fuzzing ----------------------------------------------------------------------------
STEP_DTYPES = (np.int32, np.uint32, np.int16, np.float32, np.float16)
# CI runs a short slice; JAX_EXPDECAY_LONG=1 runs 3000 (JAX_EXPDECAY_FUZZ=N sets any count).
FUZZ = int(os.environ.get("JAX_EXPDECAY_FUZZ", examples(25, 3000)))


@settings(max_examples=FUZZ, deadline=None, report_multiple_bugs=False)
@given(
    init=st.floats(1e-6, 10.0),
    rate=st.floats(0.01, 1.2),
    d=st.integers(1, 100_000),
    stair=st.booleans(),
    step=st.integers(0, 2**31 - 1),
    dt=st.sampled_from(STEP_DTYPES),
    mode=st.sampled_from(["eager", "jit", "vmap", "arg", "traced"]),
)
def test_fuzz_values_nearest_float32(init, rate, d, stair, step, dt, mode):
    info = np.iinfo(dt) if np.issubdtype(dt, np.integer) else None
    with np.errstate(over="ignore"):
        s = np.asarray(step if info is None else min(step, info.max)).astype(dt)
    if not np.isfinite(s):
        return
    init32, rate32 = np.float32(init), np.float32(rate)
    cfg = ExponentialDecayConfig(init32, d, rate32, stair)
    sched = exponential_decay(cfg)
    if mode == "eager":
        got = sched(s)
    elif mode == "jit":
        got = jax.jit(sched)(s)
    elif mode == "vmap":
        got = jax.vmap(sched)(s[None])[0]
    elif mode == "arg":
        got = jax.jit(lambda a, x: a(x))(sched, s)
    else:
        got = jax.jit(lambda c, x: exponential_decay(c)(x))(cfg, s)
    step_exact = float(s) if s.dtype.kind == "f" else int(s)
    want = _near32(exact_lr(init32, d, rate32, step_exact, stair))
    assert float(got) == float(want), (float(got), want)


@settings(max_examples=FUZZ // 2, deadline=None)
@given(
    init=st.floats(1e-4, 10.0),
    rate=st.floats(0.05, 1.1).filter(lambda r: abs(r - 1) > 1e-3),
    d=st.integers(1, 1000),
    step=st.floats(0.0, 5000.0),
)
def test_fuzz_gradients_match_analytic(init, rate, d, step):
    i32, r32, s32 = np.float32(init), np.float32(rate), np.float32(step)
    p = mpmath.mpf(float(s32)) / d
    lr = mpmath.mpf(float(i32)) * mpmath.mpf(float(r32)) ** p
    g_i, g_r, g_s = jax.grad(lambda i, r, s: exponential_decay(i, d, r)(s), argnums=(0, 1, 2))(
        i32, r32, s32
    )
    for got, want in (
        (g_i, lr / mpmath.mpf(float(i32))),
        (g_r, lr * p / mpmath.mpf(float(r32))),
        # at s == 0 the schedule has a kink; we take the holding side (0), documented; a
        # subnormal step is 0 on the device (XLA flushes subnormals): found by the fuzz
        (g_s, lr * mpmath.log(mpmath.mpf(float(r32))) / d if s32 >= 2.0**-126 else 0),
    ):
        if abs(want) > F32_MAX:  # found by the long fuzz: 3 * 1.1**850 * 850 / 1.1
            assert float(got) == math.copysign(math.inf, want), (got, want)
            continue
        assert math.isfinite(float(got))
        assert abs(float(got) - float(want)) <= 2e-6 * abs(float(want)) + 1e-30, (got, want)
