"""One exact source of truth: a config's leaves carry its exact values through every
transformation, and a schedule's leaves are its config's.

The reference is always the host-built schedule of the same numbers (a closure under
``jit``, constants from numpy float64 ``log2``). Every path that moves a config (a ``jit``
argument, ``vmap`` over a ``stack``, a ``scan`` carry, ``device_put``, ``tree_map``,
``flax.serialization`` and orbax round trips, the schedule as a ``jit`` argument) must
give the same bits, on the typical grid (7 inits x 8 rates x 6 decay_steps, both modes).
Before this, 1000 of 1004 values of the issue's first example differed (the float leaves
became float32: ``0.96`` -> ``0.9599999785``). With x64 off (the default, and these tests').
"""

from __future__ import annotations

import itertools

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack, unstack

INITS = (1.0, 0.1, 0.01, 1e-3, 3e-4, 0.05, 2e-5)
RATES = (0.5, 0.1, 0.9, 0.96, 0.99, 0.95, 0.8, 0.25)
DECAY_STEPS = (1, 10, 100, 1000, 10_000, 100_000)


def _bits(x) -> np.ndarray:
    return np.asarray(x).view(np.int32)


def _steps(stair: bool) -> np.ndarray:
    k = np.arange(60, dtype=np.int64)
    parts = []
    for d in DECAY_STEPS:
        parts += [k * d, k * d + d - 1] if stair else [k * d, k * d + d // 2, k * d + d // 3]
    return np.unique(np.concatenate(parts)).astype(np.int32)


def _grid(stair: bool, cast=float) -> list[ExponentialDecayConfig]:
    return [
        ExponentialDecayConfig(cast(i), d, cast(r), stair)
        for i, r, d in itertools.product(INITS, RATES, DECAY_STEPS)
    ]


def _host(batch: ExponentialDecayConfig, steps: np.ndarray) -> np.ndarray:
    """(configs, steps): the host-built (closed-over) batched schedule, elementwise."""
    return np.asarray(jax.jit(exponential_decay(batch))(steps[:, None])).T


def _paths(batch: ExponentialDecayConfig, steps: np.ndarray, tmp_path) -> dict[str, np.ndarray]:
    """(configs, steps) from every path that moves the config."""
    col = steps[:, None]
    out = {
        "jit argument": jax.jit(lambda c, x: exponential_decay(c)(x))(batch, col).T,
        "vmap over stack": jax.jit(jax.vmap(lambda c: exponential_decay(c)(steps)))(batch),
        "vmap, not jitted": jax.vmap(lambda c: exponential_decay(c)(steps))(batch),
        "scan carry": jax.lax.scan(lambda c, s: (c, exponential_decay(c)(s)), batch, steps)[1].T,
        "device_put": jax.jit(exponential_decay(jax.device_put(batch)))(col).T,
        "tree_map identity": jax.jit(exponential_decay(jax.tree.map(lambda x: x, batch)))(col).T,
        "tree_map jnp.asarray": exponential_decay(jax.tree.map(jnp.asarray, batch))(col).T,
        "schedule as jit argument": jax.jit(lambda s, x: s(x))(exponential_decay(batch), col).T,
        "vmap over the schedule": jax.vmap(lambda s: s(steps))(exponential_decay(batch)),
        "flax state dict": exponential_decay(
            flax.serialization.from_state_dict(batch, flax.serialization.to_state_dict(batch))
        )(col).T,
        "flax msgpack": exponential_decay(
            flax.serialization.from_bytes(batch, flax.serialization.to_bytes(batch))
        )(col).T,
    }
    import orbax.checkpoint as ocp

    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(tmp_path / "cfg", {"cfg": batch})
        ckptr.wait_until_finished()
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, {"cfg": batch})
        restored = ckptr.restore(tmp_path / "cfg", abstract)["cfg"]
    out["orbax"] = exponential_decay(restored)(col).T
    return {k: np.asarray(v) for k, v in out.items()}


_LONG = pytest.mark.long  # the other float32 mode of each: JAX_EXPDECAY_LONG=1


@pytest.mark.parametrize(
    "stair, cast",
    [
        (False, float),
        (True, float),
        (False, np.float32),
        pytest.param(True, np.float32, marks=_LONG),
        pytest.param(False, jnp.float32, marks=_LONG),
        (True, jnp.float32),
    ],
    ids=[
        "continuous-python",
        "staircase-python",
        "continuous-np32",
        "staircase-np32",
        "continuous-jnp32",
        "staircase-jnp32",
    ],
)
def test_typical_grid_through_every_path_is_bit_identical(stair, cast, tmp_path):
    cfgs = _grid(stair, cast)
    steps = _steps(stair)
    batch = stack(cfgs)
    want = _host(batch, steps)
    for i in range(0, len(cfgs), 41):  # the batched host schedule is each config's own
        alone = np.asarray(jax.jit(exponential_decay(cfgs[i]))(steps))
        np.testing.assert_array_equal(_bits(alone), _bits(want[i]))
    assert want.size > 40_000
    for name, got in _paths(batch, steps, tmp_path).items():
        bad = np.nonzero(_bits(got) != _bits(want))
        assert bad[0].size == 0, (name, bad[0].size, [cfgs[i] for i in bad[0][:2]])


@pytest.mark.parametrize("stair", [False, True], ids=["continuous", "staircase"])
def test_built_inside_vmap_python_numbers_stay_exact(stair):
    """Sweep one field as a traced array, the others Python numbers: the Python numbers
    stay exact; a swept float32 array is taken as those float32 values."""
    steps = _steps(stair)
    inits32 = np.asarray(INITS, np.float32)
    rates32 = np.asarray(RATES, np.float32)
    for d in (10, 1000):
        by_init = jax.jit(jax.vmap(lambda i, d=d: exponential_decay(i, d, 0.96, stair)(steps)))
        want = _host(ExponentialDecayConfig(inits32, d, 0.96, stair), steps)
        np.testing.assert_array_equal(_bits(by_init(jnp.asarray(inits32))), _bits(want))
        by_rate = jax.jit(jax.vmap(lambda r, d=d: exponential_decay(0.1, d, r, stair)(steps)))
        want = _host(ExponentialDecayConfig(0.1, d, rates32, stair), steps)
        np.testing.assert_array_equal(_bits(by_rate(jnp.asarray(rates32))), _bits(want))
    ds = np.asarray(DECAY_STEPS, np.int32)
    by_d = jax.jit(jax.vmap(lambda d: exponential_decay(0.1, d, 0.9, stair)(steps)))
    want = _host(ExponentialDecayConfig(0.1, ds.astype(np.int64), 0.9, stair), steps)
    np.testing.assert_array_equal(_bits(by_d(jnp.asarray(ds))), _bits(want))


def test_issue_examples():
    cfg = ExponentialDecayConfig(0.1, 1000, 0.96)
    steps = jnp.arange(0, 10**6, 997, dtype=jnp.int32)
    ref = _bits(exponential_decay(cfg)(steps))
    for got in (
        jax.jit(lambda c: exponential_decay(c)(steps))(cfg),
        exponential_decay(jax.device_put(cfg))(steps),
        jax.lax.scan(lambda c, s: (c, exponential_decay(c)(s)), cfg, steps)[1],
        jax.vmap(lambda c: exponential_decay(c)(steps))(stack([cfg, cfg]))[1],
    ):
        np.testing.assert_array_equal(_bits(got), ref)
    # 1 * 0.9999999 ** 1e8 = 4.53999e-05; the float32 rate gave 6.64976e-06
    near_one = ExponentialDecayConfig(1.0, 1, 0.9999999)
    want = float(exponential_decay(near_one)(10**8))
    assert abs(want / 4.539990e-05 - 1) < 1e-6
    assert float(jax.jit(lambda c: exponential_decay(c)(10**8))(near_one)) == want
    batch = stack([near_one, near_one])
    got = jax.vmap(lambda c: exponential_decay(c)(10**8))(batch)
    np.testing.assert_array_equal(np.asarray(got), [want, want])


def test_sweep_pick_winner_rebuild_alone():
    """The issue's round trip: sweep only init (rate a Python float inside vmap), pick
    the winner, rebuild it alone with the same numbers: bit-identical."""
    steps = np.arange(2000, dtype=np.int32)
    inits = jnp.asarray([0.1, 0.5], jnp.float32)
    swept = jax.jit(jax.vmap(lambda i: exponential_decay(i, 1000, 0.9)(steps)))(inits)
    alone = exponential_decay(np.float32(0.1), 1000, 0.9)(steps)
    np.testing.assert_array_equal(_bits(swept[0]), _bits(alone))
    # sweeping only decay_steps: 0.09 at the first stair
    ds = jnp.asarray([100, 300], jnp.int32)
    swept = jax.jit(jax.vmap(lambda d: exponential_decay(0.1, d, 0.9, True)(steps)))(ds)
    alone = exponential_decay(0.1, 100, 0.9, True)(steps)
    np.testing.assert_array_equal(_bits(swept[0]), _bits(alone))
    assert float(alone[100]) == np.float32(0.09)


def test_config_attributes_and_dict_show_the_given_numbers():
    cfg = ExponentialDecayConfig(0.1, 2**40 + 3, 0.96, transition_begin=2**33, end_value=1e-7)
    for moved in (
        jax.device_put(cfg),
        jax.tree.map(lambda x: x, cfg),
        jax.jit(lambda c: c)(cfg),
        flax.serialization.from_bytes(cfg, flax.serialization.to_bytes(cfg)),
        unstack(jax.jit(lambda c: c)(stack([cfg, cfg])))[1],
    ):
        assert moved == cfg
        assert moved.decay_rate == 0.96 and type(moved.decay_rate) is float
        assert moved.decay_steps == 2**40 + 3 and type(moved.decay_steps) is int
        assert moved.to_dict() == cfg.to_dict()
    typed = ExponentialDecayConfig(np.float32(0.1), 10, np.float16(0.5))
    back = jax.device_put(typed)
    assert back == typed and back.initial_learning_rate.dtype == np.float32
    assert back.decay_rate.dtype == np.float16
    sched = exponential_decay(jax.device_put(typed))
    assert sched(3).dtype == jnp.float32


def test_tree_map_cannot_change_values_silently():
    """The schedule's leaves are its config's: a scaled schedule reads its config's new
    numbers everywhere (the old one gave 0.0158 at step 0 for a config saying 0.001)."""
    sched = exponential_decay(0.001, 1000, 0.96)
    assert len(jax.tree.leaves(sched)) == len(jax.tree.leaves(sched.config))

    def half(x):
        return x * 0.5 if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x

    scaled = jax.tree.map(half, sched)
    assert scaled.config.initial_learning_rate == 0.0005
    assert scaled.config.decay_rate == 0.48
    want = exponential_decay(0.0005, 1000, 0.48)
    steps = np.array([0, 1, 999, 1000, 123_456], np.int32)
    np.testing.assert_array_equal(_bits(scaled(steps)), _bits(want(steps)))
    np.testing.assert_array_equal(
        _bits(jax.jit(lambda s, x: s(x))(scaled, steps)), _bits(want(steps))
    )
    # casting the leaves to bfloat16: the config says what the schedule computes
    cast = jax.tree.map(lambda x: x.astype(jnp.bfloat16) if x.dtype == np.float32 else x, sched)
    now = cast.config.initial_learning_rate
    assert float(cast(0)) == np.float32(now)
    # leaves a map made invalid are refused when the values are read, naming the field
    frac = jax.tree.map(
        lambda x: x * 0.5 if x.dtype == np.int32 else x, exponential_decay(0.001, 1001, 0.96)
    )
    with pytest.raises(ValueError, match="decay_steps must be a whole number"):
        frac(5)


def test_flax_train_state_holding_a_config_saves_and_restores_exactly():
    from flax.training import train_state

    class State(train_state.TrainState):
        lr: ExponentialDecayConfig

    cfg = ExponentialDecayConfig(0.1, 2**40 + 3, 0.9999999, transition_begin=7, end_value=1e-9)
    state = State.create(apply_fn=None, params={"w": jnp.ones(3)}, tx=optax_sgd(), lr=cfg)
    blob = flax.serialization.to_bytes(state)
    fresh = state.replace(lr=ExponentialDecayConfig(1.0, 1, 0.5, transition_begin=0, end_value=0.0))
    back = flax.serialization.from_bytes(fresh, blob)
    assert back.lr == cfg and back.lr.to_dict() == cfg.to_dict()
    steps = np.array([0, 10**8, 2**32 - 1], np.uint32)
    np.testing.assert_array_equal(
        _bits(exponential_decay(back.lr)(steps)), _bits(exponential_decay(cfg)(steps))
    )
    state_dict = flax.serialization.to_state_dict(cfg)
    assert set(state_dict) >= {"decay_rate", "decay_rate_mid", "decay_rate_lo", "decay_steps"}


def optax_sgd():
    import optax

    return optax.sgd(0.1)
