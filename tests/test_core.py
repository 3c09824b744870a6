"""The core contract: semantics, exact stairs under every transform, config round trips."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest
from reference import exact_lr, exact_stair, ulps

import jax_expdecay
from jax_expdecay import ExponentialDecayConfig, exponential_decay

DIVISORS = (1, 3, 7, 41, 47, 61, 1000, 10**6)
I32_MAX = 2**31 - 1


def _boundary_steps(d: int) -> np.ndarray:
    kmax = I32_MAX // d
    ks = np.unique(np.concatenate([[1, 2, 3], np.geomspace(4, kmax, 12).astype(np.int64), [kmax]]))
    steps = (ks[:, None] * d + np.array([-1, 0, 1])).ravel()
    steps = np.concatenate([steps, [0, 2**24 - 1, 2**24, 2**24 + 1, I32_MAX]])
    return np.unique(steps[(steps >= 0) & (steps <= I32_MAX)]).astype(np.int32)


def _rate_for(d: int) -> float:
    # Keeps every stair up to 2**31 - 1 inside the float32 range, and adjacent stairs
    # as far apart as possible, so that a wrong stair is a large error.
    return min(0.96, math.exp(-80.0 * d / I32_MAX))


def _transforms(sched):
    def pmapped(steps):
        n = jax.device_count()
        pad = (-len(steps)) % n
        padded = np.concatenate([steps, np.zeros(pad, steps.dtype)]).reshape(n, -1)
        return np.asarray(jax.pmap(sched)(padded)).reshape(-1)[: len(steps)]

    return {
        "eager": sched,
        "jit": jax.jit(sched),
        "vmap": jax.vmap(sched),
        "jit_vmap": jax.jit(jax.vmap(sched)),
        "pmap": pmapped,
        "jit_arg": lambda s: jax.jit(lambda sc, x: sc(x))(sched, s),
    }


def test_eight_cpu_devices():
    assert len(jax.devices("cpu")) == 8  # also where the default backend is a GPU


@pytest.mark.parametrize("d", DIVISORS)
@pytest.mark.parametrize("staircase", [True, False])
def test_stair_boundaries_every_transform(d, staircase):
    rate = _rate_for(d)
    steps = _boundary_steps(d)
    sched = exponential_decay(0.5, d, rate, staircase)
    exact = [exact_lr(0.5, d, rate, int(s), staircase) for s in steps]
    for name, fn in _transforms(sched).items():
        got = np.asarray(fn(steps))
        assert got.dtype == np.float32, name
        err = ulps(got, exact, np.float32)
        assert err.max() <= 2.0, (name, steps[err.argmax()], err.max())


@pytest.mark.parametrize("d", [41, 47, 61, 1000, 10**6])
def test_wrong_stair_would_be_caught(d):
    """A one-stair error is >= 20 ulp on this grid, so the test above sees any wrong stair."""
    rate = _rate_for(d)
    assert abs(math.log(rate)) / 2.0**-23 > 20


def test_seed_example():
    sched = exponential_decay(0.1, 100000, 0.96, staircase=True)
    steps = [0, 99999, 100000, 250000]
    assert [exact_stair(s, 100000) for s in steps] == [0, 0, 1, 2]
    exact = [exact_lr(0.1, 100000, 0.96, s, True) for s in steps]
    for fn in (sched, jax.jit(sched)):
        got = np.asarray([fn(s) for s in steps])
        assert ulps(got, exact, np.float32).max() <= 1.0


def test_steps_near_float32_integer_limit():
    # optax casts the step to float32 and so cannot tell 2**24 from 2**24 + 1.
    sched = exponential_decay(1.0, 1, 0.9999999, staircase=True)
    steps = np.array([2**24 - 1, 2**24, 2**24 + 1, I32_MAX], np.int32)
    exact = [exact_lr(1.0, 1, 0.9999999, int(s), True) for s in steps]
    got = np.asarray(jax.jit(sched)(steps))
    assert ulps(got, exact, np.float32).max() <= 2.0
    assert got[1] != got[2]  # the stairs differ by ~1.7 ulp here, so must the values


# --- semantics -------------------------------------------------------------------------


def test_negative_steps_hold_at_initial_rate():
    sched = exponential_decay(0.1, 10, 0.5)
    got = np.asarray(sched(np.array([-(2**31), -5, -1, 0], np.int32)))
    np.testing.assert_array_equal(got, np.float32(0.1))


def test_transition_begin_offsets_the_decay():
    sched = exponential_decay(1.0, 10, 0.5, staircase=True, transition_begin=100)
    steps = np.array([0, 100, 109, 110, 130], np.int32)
    got = np.asarray(sched(steps))
    want = [0.5 ** exact_stair(s, 10, 100) for s in steps]
    np.testing.assert_array_equal(got, np.asarray(want, np.float32))


@pytest.mark.parametrize(
    ("rate", "end_value", "step", "want"),
    [
        (0.5, 0.25, 10, 0.5),  # above the floor
        (0.5, 0.25, 100, 0.25),  # floor reached
        (2.0, 4.0, 10, 2.0),  # below the cap
        (2.0, 4.0, 100, 4.0),  # cap reached
    ],
)
def test_end_value_floor_or_cap(rate, end_value, step, want):
    sched = exponential_decay(1.0, 10, rate, end_value=end_value)
    assert float(sched(step)) == want
    assert float(jax.jit(sched)(step)) == want


def test_end_value_branch_free_with_traced_rate():
    def f(rate):
        return exponential_decay(1.0, 10, rate, end_value=0.25)(100)

    got = jax.vmap(f)(jnp.array([0.5, 2.0], jnp.float32))
    np.testing.assert_array_equal(np.asarray(got), np.array([0.25, 0.25], np.float32))


def test_decay_rate_zero_matches_keras():
    stair = exponential_decay(1.0, 10, 0.0, staircase=True)
    cont = exponential_decay(1.0, 10, 0.0)
    steps = np.array([0, 1, 9, 10, 11], np.int32)
    np.testing.assert_array_equal(np.asarray(stair(steps)), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(np.asarray(cont(steps)), [1, 0, 0, 0, 0])


def test_rate_one_is_constant_and_zero_init_is_zero():
    np.testing.assert_array_equal(
        np.asarray(exponential_decay(0.3, 7, 1.0)(np.array([0, 5, I32_MAX], np.int32))),
        np.float32(0.3),
    )
    np.testing.assert_array_equal(
        np.asarray(exponential_decay(0.0, 7, 0.5)(np.array([0, 5, 1000], np.int32))), 0.0
    )


def test_negative_initial_rate_keeps_its_sign():
    got = float(exponential_decay(-2.0, 1, 0.5)(3))
    assert got == -0.25


@pytest.mark.parametrize(
    "dtype",
    [np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32, np.float16, np.float32],
)
def test_every_step_dtype(dtype):
    sched = exponential_decay(1.0, 3, 0.5, staircase=True)
    steps = np.array([0, 1, 2, 3, 7, 100], dtype)
    want = np.asarray([0.5 ** exact_stair(int(s), 3) for s in steps], np.float32)
    np.testing.assert_array_equal(np.asarray(sched(steps)), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(sched)(steps)), want)


def test_python_and_array_steps_of_any_shape():
    sched = exponential_decay(1.0, 2, 0.5)
    assert float(sched(4)) == 0.25
    assert float(sched(4.0)) == 0.25
    grid = np.arange(12, dtype=np.int32).reshape(2, 3, 2)
    got = np.asarray(sched(grid))
    assert got.shape == (2, 3, 2)
    exact = [exact_lr(1.0, 2, 0.5, int(s)) for s in grid.ravel()]
    assert ulps(got, exact, np.float32).max() <= 2.0


def test_fractional_float_steps():
    sched = exponential_decay(1.0, 4, 0.5)
    steps = np.array([0.5, 1.25, 6.75, 1e6 + 0.5], np.float32)
    exact = [exact_lr(1.0, 4, 0.5, float(s)) for s in steps]
    assert ulps(np.asarray(sched(steps)), exact, np.float32).max() <= 2.0
    stair = exponential_decay(1.0, 4, 0.5, staircase=True)
    np.testing.assert_array_equal(np.asarray(stair(np.float32([3.99, 4.0, 7.5]))), [1, 0.5, 0.5])


@pytest.mark.parametrize(
    ("init", "want"),
    [
        (0.1, np.float32),
        (np.float32(0.1), np.float32),
        (np.float16(0.1), np.float16),
        (ml_dtypes.bfloat16(0.1), jnp.bfloat16),
        (jnp.asarray(0.1, jnp.bfloat16), jnp.bfloat16),
        (np.float64(0.1), np.float32),  # canonicalised like jnp.asarray does without x64
    ],
)
def test_output_dtype_follows_initial_rate(init, want):
    sched = exponential_decay(init, 10, 0.5)
    assert sched(3).dtype == want
    assert jax.jit(sched)(np.int32(3)).dtype == want


def test_float64_output_under_x64(x64):
    sched = exponential_decay(0.1, 41, 0.96, staircase=True)
    out = sched(np.int64(2**40))
    assert out.dtype == np.float64
    exact = exact_lr(0.1, 41, 0.96, 2**40, True)
    assert ulps(np.asarray([out]), [exact], np.float64).max() <= 4.0


def test_schedule_built_without_x64_evaluates_with_64_bit_types():
    """Its constants come from the config's exact values when first needed, so a schedule
    built with x64 off gives, with x64 on, the values of one built with x64 on."""
    sched = exponential_decay(0.1, 41, 0.96)
    prev = jax.config.jax_enable_x64  # pyright: ignore[reportAttributeAccessIssue]
    jax.config.update("jax_enable_x64", True)
    try:
        steps = np.array([5, 41, 2**40], np.int64)
        want = np.asarray(exponential_decay(0.1, 41, 0.96)(steps))
        np.testing.assert_array_equal(np.asarray(sched(steps)), want)
    finally:
        jax.config.update("jax_enable_x64", prev)


# --- pytrees, transforms, optax ------------------------------------------------------


def test_schedule_and_config_are_pytrees():
    sched = exponential_decay(0.1, 1000, 0.96, name="lr")
    cfg_leaves, cfg_def = jax.tree_util.tree_flatten(sched.config)
    # float fields as three leaves (hi, mid, lo), counts as two words; end_value=None
    # contributes no leaf; the schedule's leaves are its config's
    assert len(cfg_leaves) == 2 * 3 + 2 * 2
    assert len(jax.tree_util.tree_leaves(sched)) == len(cfg_leaves)
    assert jax.tree_util.tree_unflatten(cfg_def, cfg_leaves) == sched.config
    leaves, treedef = jax.tree_util.tree_flatten(sched)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.config == sched.config
    assert float(rebuilt(5000)) == float(sched(5000))


def test_lax_scan_over_steps():
    sched = exponential_decay(1.0, 3, 0.5, staircase=True)

    def body(carry, t):
        return carry + sched(t), sched(t)

    total, lrs = jax.lax.scan(body, jnp.float32(0), jnp.arange(9, dtype=jnp.int32))
    want = np.asarray([0.5 ** exact_stair(t, 3) for t in range(9)], np.float32)
    np.testing.assert_array_equal(np.asarray(lrs), want)
    assert float(total) == float(want.sum())


def test_grad_wrt_initial_rate_and_decay_rate():
    def lr(init, rate):
        return exponential_decay(init, 10, rate)(jnp.int32(25))

    g_init, g_rate = jax.grad(lr, argnums=(0, 1))(jnp.float32(0.1), jnp.float32(0.9))
    p = 2.5
    np.testing.assert_allclose(float(g_init), 0.9**p, rtol=1e-5)
    np.testing.assert_allclose(float(g_rate), 0.1 * p * 0.9 ** (p - 1), rtol=1e-5)


def test_optax_sgd_matches_hand_written_loop():
    sched = exponential_decay(0.5, 3, 0.7, staircase=True)
    target = jnp.asarray([1.0, -2.0, 3.0], jnp.float32)

    def loss(w):
        return 0.5 * jnp.sum((w - target) ** 2)

    tx = optax.sgd(learning_rate=sched)
    w = jnp.zeros(3, jnp.float32)
    state = tx.init(w)

    @jax.jit
    def step(w, state):
        updates, state = tx.update(jax.grad(loss)(w), state)
        return optax.apply_updates(w, updates), state

    w_ref = np.zeros(3, np.float32)
    for t in range(10):
        w, state = step(w, state)
        w_ref = w_ref - np.float32(sched(t)) * (w_ref - np.asarray(target))
    np.testing.assert_allclose(np.asarray(w), w_ref, rtol=1e-6)


# --- config ---------------------------------------------------------------------------


def test_config_defaults_equality_and_replace():
    cfg = ExponentialDecayConfig(0.1, 100000, 0.96)
    assert (cfg.staircase, cfg.transition_begin, cfg.end_value, cfg.name) == (
        False,
        0,
        None,
        "ExponentialDecay",
    )
    assert cfg == ExponentialDecayConfig(0.1, 100000, 0.96)
    assert cfg != cfg.replace(decay_rate=0.95)
    assert hash(cfg) == hash(ExponentialDecayConfig(0.1, 100000, 0.96))
    with pytest.raises(dataclasses_frozen_error()):
        cfg.decay_rate = 0.5  # type: ignore[misc]
    assert exponential_decay(cfg).config is cfg


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize(
    "cfg",
    [
        ExponentialDecayConfig(0.1, 100000, 0.96, staircase=True),
        ExponentialDecayConfig(3e-4, 41, 0.5, transition_begin=7, end_value=1e-5, name=None),
        ExponentialDecayConfig(np.float32(1e-3), np.int64(1000), np.float64(1.05), end_value=1.0),
    ],
)
def test_json_round_trip(cfg):
    text = json.dumps(cfg.to_dict())
    back = ExponentialDecayConfig.from_dict(json.loads(text))
    assert back.to_dict() == cfg.to_dict()
    steps = np.array([0, 40, 41, 99999, 100000, 10**9], np.int32)
    a = np.asarray(exponential_decay(back)(steps), np.float64)
    b = np.asarray(exponential_decay(cfg)(steps), np.float64)
    np.testing.assert_array_equal(a, b)


def test_keras_get_config_dict_loads():
    keras_cfg = {
        "initial_learning_rate": 0.1,
        "decay_steps": 100000,
        "decay_rate": 0.96,
        "staircase": True,
        "name": None,
    }
    cfg = ExponentialDecayConfig.from_config(keras_cfg)
    assert cfg.name is None and cfg.staircase and cfg.decay_steps == 100000
    assert ExponentialDecayConfig.from_dict(cfg.get_config()) == cfg


def test_from_dict_names_every_missing_and_unknown_key():
    with pytest.raises(ValueError) as exc:
        ExponentialDecayConfig.from_dict({"decay_steps": 1, "warmup": 3, "lr": 0.1})
    msg = str(exc.value)
    for key in ("initial_learning_rate", "decay_rate", "warmup", "lr"):
        assert key in msg


def test_to_dict_refuses_tracers_and_batches():
    @jax.jit
    def f(rate):
        ExponentialDecayConfig(0.1, 10, rate).to_dict()
        return rate

    with pytest.raises(TypeError, match="decay_rate is a JAX tracer"):
        f(jnp.float32(0.5))
    batch = ExponentialDecayConfig(np.array([0.1, 0.2]), 10, 0.5)
    with pytest.raises(TypeError, match=r"initial_learning_rate is an array of shape \(2,\)"):
        batch.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"decay_steps": 0}, ValueError, "decay_steps"),
        ({"decay_steps": -3}, ValueError, "-3"),
        ({"decay_rate": -0.5}, ValueError, "decay_rate"),
        ({"initial_learning_rate": float("nan")}, ValueError, "nan"),
        ({"initial_learning_rate": "0.1"}, TypeError, "'0.1'"),
        ({"decay_rate": None}, TypeError, "decay_rate"),
        ({"decay_steps": True}, TypeError, "bool"),
        ({"staircase": "False"}, TypeError, "staircase"),
        ({"transition_begin": -1}, ValueError, "transition_begin"),
        ({"end_value": float("inf")}, ValueError, "end_value"),
    ],
)
def test_bad_input_is_refused_at_construction(kwargs, exc, needle):
    args = {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, **kwargs}
    with pytest.raises(exc, match=needle):
        exponential_decay(**args)


def test_public_api():
    assert {"ExponentialDecay", "ExponentialDecayConfig", "exponential_decay"} <= set(
        jax_expdecay.__all__
    )
    for name in jax_expdecay.__all__:
        assert hasattr(jax_expdecay, name)


def test_sharded_jit_over_eight_devices():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()), ("x",))
    sharding = NamedSharding(mesh, PartitionSpec("x"))
    sched = exponential_decay(0.1, 41, 0.96, staircase=True)
    steps = np.arange(0, 41 * 64, 5, dtype=np.int32)[:400]
    sharded = jax.device_put(steps, sharding)
    got = jax.jit(sched, out_shardings=sharding)(sharded)
    assert got.sharding == sharding
    np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.jit(sched)(steps)))
    exact = [exact_lr(0.1, 41, 0.96, int(s), True) for s in steps]
    assert ulps(np.asarray(got), exact, np.float32).max() <= 2.0
