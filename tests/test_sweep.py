"""Sweeps: stack/unstack, vmap over every hyperparameter, one trace for many configs,
hypergradients, pmap and NamedSharding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from reference import exact_lr, ulp_error

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack, unstack

K = 256
STEPS = np.array([0, 1, 40, 41, 999, 1000, 123_457, 2**24 + 1, 2**31 - 1], np.int32)
FIELDS = ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin", "end_value")


def _varied(field: str, k: int = K, seed: int = 0) -> list[ExponentialDecayConfig]:
    rng = np.random.default_rng(seed)
    base = {"initial_learning_rate": 0.1, "decay_steps": 41, "decay_rate": 0.96,
            "transition_begin": 0, "end_value": 1e-4}  # fmt: skip
    draws = {
        "initial_learning_rate": lambda: float(10 ** rng.uniform(-6, 0)),
        "decay_steps": lambda: int(rng.integers(1, 10**6)),
        "decay_rate": lambda: float(rng.uniform(0.05, 1.5)),
        "transition_begin": lambda: int(rng.integers(0, 10**6)),
        "end_value": lambda: float(10 ** rng.uniform(-8, -2)),
    }
    out = []
    for _ in range(k):
        fields = dict(base)
        for f in FIELDS if field == "all" else (field,):
            fields[f] = draws[f]()
        out.append(ExponentialDecayConfig(staircase=bool(seed % 2), **fields))
    return out


def _check_exact(got: np.ndarray, cfgs, steps=STEPS) -> None:
    for row, c in zip(got, cfgs, strict=True):
        for g, s in zip(row, steps, strict=True):
            e = exact_lr(c.initial_learning_rate, c.decay_steps, c.decay_rate, int(s),
                         c.staircase, c.transition_begin, c.end_value)  # fmt: skip
            assert ulp_error(g, e, np.float32) <= 2.0, (c, s, g, e)


@pytest.mark.parametrize("field", [*FIELDS, "all"])
def test_vmap_over_each_hyperparameter_batched_schedule(field):
    cfgs = _varied(field, seed=FIELDS.index(field) if field in FIELDS else 7)
    sched = exponential_decay(stack(cfgs))
    got = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sched))
    assert got.shape == (K, len(STEPS))
    _check_exact(got, cfgs)
    # per-config evaluation: the same constants, so the same values up to XLA:CPU's exp,
    # whose last bit depends on the vector lane; within 1 ulp of each other.
    for row, c in list(zip(got, cfgs, strict=True))[:16]:
        single = np.asarray(jax.jit(exponential_decay(c))(STEPS))
        assert np.all(np.abs(row - single) <= np.spacing(np.abs(single)))


@pytest.mark.parametrize("field", [*FIELDS, "all"])
def test_vmap_over_each_hyperparameter_traced(field):
    cfgs = _varied(field, k=32, seed=3)
    batch = stack(cfgs)

    @jax.jit
    @jax.vmap
    def run(init, d, rate, tb, ev):
        return exponential_decay(init, d, rate, cfgs[0].staircase, transition_begin=tb,
                                 end_value=ev)(STEPS)  # fmt: skip

    got = np.asarray(
        run(
            *(
                jnp.asarray(getattr(batch, f)).astype(
                    jnp.int32 if f in ("decay_steps", "transition_begin") else jnp.float32
                )
                for f in FIELDS
            )
        )
    )
    for row, c in zip(got, cfgs, strict=True):
        for g, s in zip(row, STEPS, strict=True):
            e = exact_lr(np.float32(c.initial_learning_rate), c.decay_steps,
                         np.float32(c.decay_rate), int(s), c.staircase, c.transition_begin,
                         np.float32(c.end_value))  # fmt: skip
            if e == 0:
                continue
            # traced constants are rounded to float32: documented bound (see README)
            p = max(0, int(s) - c.transition_begin) / c.decay_steps
            bound = (abs(np.log(np.float32(c.initial_learning_rate)))
                     + abs(p * np.log(np.float32(c.decay_rate))) + 1) * 2.0**-21  # fmt: skip
            assert abs(float(g) / float(e) - 1) <= bound, (c, s)


def test_stack_unstack_round_trip_and_errors():
    cfgs = _varied("all", k=5)
    assert unstack(stack(cfgs)) == cfgs
    with pytest.raises(ValueError, match=r"staircase differs.*split the sweep"):
        stack([cfgs[0], cfgs[1].replace(staircase=not cfgs[1].staircase)])
    with pytest.raises(ValueError, match=r"end_value is given for some.*0\.0 for a decay"):
        stack([cfgs[0], cfgs[1].replace(end_value=None)])
    with pytest.raises(ValueError, match="name differs"):
        stack([cfgs[0], cfgs[1].replace(name="other")])
    with pytest.raises(ValueError, match="empty"):
        stack([])
    with pytest.raises(TypeError, match="element 1 must be an ExponentialDecayConfig, got dict"):
        stack([cfgs[0], {"decay_rate": 0.5}])  # type: ignore[list-item]
    typed = [ExponentialDecayConfig(np.float32(0.1), 10, 0.5)] * 2
    assert stack(typed).initial_learning_rate.dtype == np.float32
    assert exponential_decay(stack(typed))(0).dtype == np.float32


def _count_traces(make_tx, schedules) -> int:
    traces = 0
    params = jnp.ones(4, jnp.float32)

    @jax.jit
    def step(sched, p):
        nonlocal traces
        traces += 1
        tx = make_tx(sched)
        state = tx.init(p)
        updates, _ = tx.update(jnp.full_like(p, 0.5), state, p)
        return optax.apply_updates(p, updates)

    for sched in schedules:
        step(sched, params).block_until_ready()
    return traces


@pytest.mark.parametrize("make", [optax.sgd, optax.adam], ids=["sgd", "adam"])
def test_one_trace_for_eight_configs(make):
    with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict-promotion clean
        ours = [exponential_decay(0.1 * (i + 1), 10 + i, 0.9 - 0.05 * i) for i in range(8)]
        assert _count_traces(make, ours) == 1
        # optax's schedules are closures: static arguments, one trace (and compile) each
        theirs = [optax.exponential_decay(0.1 * (i + 1), 10 + i, 0.9 - 0.05 * i) for i in range(8)]

        def optax_step(sched, p):
            tx = make(sched)
            updates, _ = tx.update(jnp.full_like(p, 0.5), tx.init(p), p)
            return optax.apply_updates(p, updates)

        static = jax.jit(optax_step, static_argnums=0)
        before = static._cache_size()
        for s in theirs:
            static(s, jnp.ones(4, jnp.float32))
        assert static._cache_size() - before == 8


def test_no_tracer_leaks_when_built_inside_jit():
    with jax.check_tracer_leaks():

        @jax.jit
        def f(rate, step):
            return exponential_decay(0.1, 41, rate, staircase=True)(step)

        assert abs(float(f(jnp.float32(0.5), 41)) - 0.05) <= 0.05 * 2.0**-20  # traced: 1 stair


def test_hypergradients_match_analytic():
    s = 25  # p = 2.5

    def lr(init, rate, ev):
        return exponential_decay(init, 10, rate, end_value=ev)(jnp.int32(s))

    g = jax.grad(lr, argnums=(0, 1, 2))(jnp.float32(0.1), jnp.float32(0.9), jnp.float32(1e-4))
    np.testing.assert_allclose(
        [float(x) for x in g], [0.9**2.5, 0.1 * 2.5 * 0.9**1.5, 0.0], rtol=2e-5
    )
    g_floor = jax.grad(lr, argnums=2)(jnp.float32(0.1), jnp.float32(0.9), jnp.float32(0.5))
    assert float(g_floor) == 1.0  # the floor is active


def test_grad_wrt_continuous_decay_steps_is_analytic_and_staircase_is_zero():
    def lr(d, staircase):
        return exponential_decay(0.1, d, 0.9, staircase)(jnp.int32(25))

    g = jax.grad(lambda d: lr(d, False))(jnp.float32(10.0))
    want = -0.1 * 0.9**2.5 * np.log(0.9) * 25 / 10.0**2
    np.testing.assert_allclose(float(g), want, rtol=2e-4)
    assert float(jax.grad(lambda d: lr(d, True))(jnp.float32(10.0))) == 0.0


def test_grad_of_loss_after_sgd_steps_matches_finite_differences(x64):
    target = jnp.asarray([1.0, -2.0, 0.5])

    def final_loss(init, rate):
        sched = exponential_decay(init, 3, rate)
        tx = optax.sgd(sched)
        w = jnp.zeros(3)
        state = tx.init(w)
        for _ in range(6):
            g = jax.grad(lambda w: jnp.sum((w - target) ** 2))(w)
            u, state = tx.update(g, state)
            w = optax.apply_updates(w, u)
        return jnp.sum((w - target) ** 2)

    x = (jnp.float64(0.1), jnp.float64(0.7))
    g = jax.grad(final_loss, argnums=(0, 1))(*x)
    h = 1e-6
    fd = [
        (final_loss(x[0] + h, x[1]) - final_loss(x[0] - h, x[1])) / (2 * h),
        (final_loss(x[0], x[1] + h) - final_loss(x[0], x[1] - h)) / (2 * h),
    ]
    np.testing.assert_allclose([float(v) for v in g], [float(v) for v in fd], rtol=1e-6)


def test_pmap_and_named_sharding_equal_single_device():
    cfgs = _varied("all", k=16, seed=11)
    sched = exponential_decay(stack(cfgs))
    single = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sched))
    n = jax.device_count()
    split = jax.tree_util.tree_map(lambda x: np.asarray(x).reshape(n, -1, *np.shape(x)[1:]), sched)
    pm = np.asarray(jax.pmap(jax.vmap(lambda sc: sc(STEPS)))(split)).reshape(single.shape)
    mesh = Mesh(np.array(jax.devices()), ("sweep",))
    sharded_sched = jax.device_put(sched, NamedSharding(mesh, PartitionSpec("sweep")))
    sh = jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sharded_sched)
    assert sh.sharding.spec[0] == "sweep"  # pyright: ignore[reportAttributeAccessIssue]
    np.testing.assert_array_equal(pm, single)
    np.testing.assert_array_equal(np.asarray(sh), single)


@pytest.mark.parametrize(
    ("field", "values", "optax_vmaps"),
    [
        ("init_value", [0.1, 0.2], True),
        ("transition_steps", [10, 20], False),
        ("decay_rate", [0.5, 0.6], False),
        ("transition_begin", [0, 5], False),
        ("end_value", [1e-3, 1e-4], True),
    ],
)
def test_what_optax_cannot_vmap_we_can(field, values, optax_vmaps):
    """The README's comparison: optax fails on 3 of 5 hyperparameters; we take all 5."""
    base = {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.5,
            "transition_begin": 0, "end_value": 1e-3}  # fmt: skip
    ours_name = {"init_value": "initial_learning_rate", "transition_steps": "decay_steps"}

    def theirs(x):
        return optax.exponential_decay(**{**base, field: x})(25)

    def ours(x):
        kw = {ours_name.get(k, k): v for k, v in {**base, field: x}.items()}
        return exponential_decay(kw.pop("initial_learning_rate"), kw.pop("decay_steps"),
                                 kw.pop("decay_rate"), **kw)(jnp.int32(25))  # fmt: skip

    arr = jnp.asarray(values)
    if optax_vmaps:
        jax.vmap(theirs)(arr)
    else:
        with pytest.raises(jax.errors.TracerBoolConversionError):
            jax.vmap(theirs)(arr)
    got = np.asarray(jax.vmap(ours)(arr))
    for g, v in zip(got, values, strict=True):
        kw = {**base, field: v}
        e = exact_lr(np.float32(kw["init_value"]), kw["transition_steps"],
                     np.float32(kw["decay_rate"]), 25, False, kw["transition_begin"],
                     np.float32(kw["end_value"]))  # fmt: skip
        assert abs(float(g) / float(e) - 1) < 2.0**-18
