"""Sweeps: stack/unstack, vmap over every hyperparameter, one trace for many configs,
hypergradients, pmap and NamedSharding, and the README's K-model training sweep.

Measured on this machine (2 CPU cores, jax 0.10.2), recorded here so the tolerances below
have a source:

* a batched schedule (``exponential_decay(stack(cfgs))``) gives bit-for-bit the values of
  each config evaluated alone (eager, jitted closure, or jitted with the schedule as an
  argument): 0 mismatches over 4 x 512 random configs x 4000 steps;
* a config built inside ``vmap``/``jit`` from traced float32 values (constants rounded to
  float32 on the device) is at most 7.5 ulp from mpmath over 64 configs x 9 steps per
  hyperparameter, at most 0.11 of the bound asserted below; its stairs are exact.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from reference import exact_lr, exact_stair, ulp_error

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack, unstack

K = 256
STEPS = np.array([0, 1, 40, 41, 999, 1000, 123_457, 2**24 + 1, 2**31 - 1], np.int32)
FIELDS = ("initial_learning_rate", "decay_steps", "decay_rate", "transition_begin", "end_value")
INT_FIELDS = ("decay_steps", "transition_begin")


def _varied(field: str, k: int = K, seed: int = 0) -> list[ExponentialDecayConfig]:
    """k configs that differ in ``field`` (or in every field for "all"); odd seeds stair."""
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


def _exact(c: ExponentialDecayConfig, step: int, cast=float):
    ev = None if c.end_value is None else cast(c.end_value)
    return exact_lr(cast(c.initial_learning_rate), c.decay_steps, cast(c.decay_rate), step,
                    c.staircase, c.transition_begin, ev)  # fmt: skip


# -- stack / unstack --------------------------------------------------------------------
def test_stack_gives_1d_leaves_of_length_k_and_unstack_inverts_it():
    cfgs = _varied("all", k=5)
    batch = stack(cfgs)
    for f in FIELDS:
        arr = getattr(batch, f)
        assert isinstance(arr, np.ndarray) and arr.shape == (5,), f
        assert arr.dtype == (np.int64 if f in INT_FIELDS else np.float64), f
        assert arr.tolist() == [getattr(c, f) for c in cfgs], f
    assert (batch.staircase, batch.name) == (cfgs[0].staircase, cfgs[0].name)
    assert unstack(batch) == cfgs
    sched = exponential_decay(batch)
    # every leaf of the schedule (config fields and host constants) is batched
    assert {np.shape(leaf) for leaf in jax.tree_util.tree_leaves(sched)} == {(5,)}
    # a scalar step broadcasts to one rate per config, equal to vmap and to each config
    by_call = np.asarray(sched(jnp.int32(1000)))
    by_vmap = np.asarray(jax.vmap(lambda s, t: s(t), in_axes=(0, None))(sched, jnp.int32(1000)))
    alone = np.asarray([exponential_decay(c)(jnp.int32(1000)) for c in cfgs])
    assert by_call.shape == (5,)
    np.testing.assert_array_equal(by_call, alone)
    np.testing.assert_array_equal(by_vmap, alone)


def test_stacked_schedule_under_x64_is_batched(x64):
    """With x64 on, a batched schedule closed over is each config's bit for bit; mapped by
    vmap its leaves are traced and its float64 constants come from XLA's float64 ``log2``
    on the device (``_exponent.traced_consts``, a few ulp): the rounding test takes them
    to be within 2^-40 and the accurate path gives each config's bits too."""
    cfgs = [c.replace(staircase=True) for c in _varied("all", k=6, seed=2)]
    sched = exponential_decay(stack(cfgs))
    assert {np.shape(leaf) for leaf in jax.tree_util.tree_leaves(sched)} == {(6,)}
    steps = np.array([0, 41, 10**6, 2**40 + 3, 2**62], np.int64)
    closed = np.asarray(jax.jit(sched)(steps[:, None])).T
    got = np.asarray(jax.jit(jax.vmap(lambda sc: sc(steps)))(sched))
    assert got.dtype == np.float64
    for row, traced, c in zip(closed, got, cfgs, strict=True):
        alone = np.asarray(exponential_decay(c)(steps))
        np.testing.assert_array_equal(row, alone)
        np.testing.assert_array_equal(traced, alone)


def test_stack_keeps_a_common_typed_dtype():
    typed = [ExponentialDecayConfig(np.float32(0.1 * i), 10, 0.5) for i in (1, 2)]
    batch = stack(typed)
    assert batch.initial_learning_rate.dtype == np.float32
    assert exponential_decay(batch)(0).dtype == np.float32
    assert [type(c.initial_learning_rate) for c in unstack(batch)] == [np.float32] * 2
    assert unstack(batch) == typed
    mixed = [typed[0], ExponentialDecayConfig(0.3, 10, 0.5)]  # typed and untyped: float64
    assert stack(mixed).initial_learning_rate.dtype == np.float64
    halves = [typed[0], ExponentialDecayConfig(np.float16(0.5), 10, 0.5)]  # numpy's promotion
    assert stack(halves).initial_learning_rate.dtype == np.float32


def test_stack_and_unstack_refuse_bad_input_with_what_to_do():
    cfgs = _varied("all", k=3)
    with pytest.raises(ValueError, match=r"staircase differs.*split the sweep"):
        stack([cfgs[0], cfgs[1].replace(staircase=not cfgs[1].staircase)])
    with pytest.raises(ValueError, match=r"end_value is given for some.*0\.0 for a decay"):
        stack([cfgs[0], cfgs[1].replace(end_value=None)])
    with pytest.raises(ValueError, match=r"name differs.*replace\(name="):
        stack([cfgs[0], cfgs[1].replace(name="other")])
    with pytest.raises(ValueError, match="empty"):
        stack([])
    with pytest.raises(TypeError, match="element 1 must be an ExponentialDecayConfig, got dict"):
        stack([cfgs[0], {"decay_rate": 0.5}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="element 0 has a non-scalar"):
        stack([stack(cfgs)])
    with pytest.raises(
        TypeError, match="takes an ExponentialDecayConfig or an ExponentialDecay, got list"
    ):
        unstack(cfgs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"needs a batch.*stack\(\[\.\.\.\]\) builds a batch"):
        unstack(cfgs[0])  # a scalar config is not a batch
    with pytest.raises(ValueError, match="needs a batch"):
        unstack(exponential_decay(cfgs[0]))  # nor is a scalar schedule


# -- vmap over every hyperparameter ---------------------------------------------------------
@pytest.mark.parametrize("field", [*FIELDS, "all"])
def test_vmap_over_each_hyperparameter_batched_schedule(field):
    """A stacked schedule gives, bit for bit, what each config gives alone."""
    cfgs = _varied(field, seed=FIELDS.index(field) if field in FIELDS else 7)
    sched = exponential_decay(stack(cfgs))
    got = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sched))
    assert got.shape == (K, len(STEPS))
    as_argument = jax.jit(lambda sc: sc(STEPS))  # one compile for all 256 configs
    for row, c in zip(got, cfgs, strict=True):
        np.testing.assert_array_equal(row, np.asarray(as_argument(exponential_decay(c))))
    for row, c in list(zip(got, cfgs, strict=True))[:4]:  # closed over: compile-time consts
        np.testing.assert_array_equal(row, np.asarray(jax.jit(exponential_decay(c))(STEPS)))
        np.testing.assert_array_equal(row, np.asarray(exponential_decay(c)(STEPS)))
    for row, c in zip(got, cfgs, strict=True):  # and the values are the exact ones
        for g, s in zip(row, STEPS, strict=True):
            assert ulp_error(g, _exact(c, int(s)), np.float32) <= 2.0, (c, s, g)


def _traced_run(staircase: bool):
    @jax.jit
    @jax.vmap
    def run(init, d, rate, tb, ev, steps):
        return exponential_decay(init, d, rate, staircase, transition_begin=tb,
                                 end_value=ev)(steps)  # fmt: skip

    return run


def _traced_args(cfgs):
    batch = stack(cfgs)
    return [
        jnp.asarray(getattr(batch, f)).astype(jnp.int32 if f in INT_FIELDS else jnp.float32)
        for f in FIELDS
    ]


@pytest.mark.parametrize("field", [*FIELDS, "all"])
@pytest.mark.parametrize("staircase", [False, True], ids=["continuous", "staircase"])
def test_vmap_over_each_hyperparameter_traced(field, staircase):
    """A config built inside vmap/jit from traced float32 values: constants rounded to
    float32 on the device, so the bound is relative, (|log init| + |p log r| + 1) 2^-21."""
    cfgs = [c.replace(staircase=staircase) for c in _varied(field, k=64, seed=3)]
    steps = np.broadcast_to(STEPS, (len(cfgs), len(STEPS)))
    got = np.asarray(_traced_run(staircase)(*_traced_args(cfgs), steps))
    checked = 0
    for row, c in zip(got, cfgs, strict=True):
        for g, s in zip(row, STEPS, strict=True):
            e = _exact(c, int(s), cast=np.float32)  # the float32 values the device sees
            if e == 0:
                continue
            p = max(0, int(s) - c.transition_begin) / c.decay_steps
            p = math.floor(p) if staircase else p
            bound = (abs(math.log(np.float32(c.initial_learning_rate)))
                     + abs(p * math.log(np.float32(c.decay_rate))) + 1) * 2.0**-21  # fmt: skip
            assert abs(float(g) / float(e) - 1) <= bound, (c, s, g, e)
            checked += 1
    assert checked >= len(cfgs) * 3


def test_traced_stairs_are_exact():
    """Stair index under a traced (runtime) decay_steps and transition_begin, at every
    stair edge: rate 0.5 and init 1 make the value 2^-n, so n = round(-log2(value)) is
    recovered exactly (the traced error, < 2^-14 relative here, is far below a stair)."""
    rng = np.random.default_rng(5)
    ds = np.concatenate([[1, 2, 3, 7, 41, 1000, 2**16 - 1, 2**20 + 1, 2**24 - 3],
                         rng.integers(1, 2**24, 23)]).astype(np.int64)  # fmt: skip
    tbs = rng.integers(0, 2**20, len(ds))
    cfgs = [ExponentialDecayConfig(1.0, int(d), 0.5, True, transition_begin=int(tb),
                                   end_value=0.0) for d, tb in zip(ds, tbs, strict=True)]  # fmt: skip
    # steps n*d + tb + {-1, 0, 1} for n up to 120 (2^-121 is a normal float32)
    steps = []
    for d, tb in zip(ds, tbs, strict=True):
        ns = np.unique(np.clip([0, 1, 2, 3, 60, 119, 120, (2**31 - 2 - tb) // d], 0, 120))
        row = [int(n) * int(d) + int(tb) + e for n in ns for e in (-1, 0, 1)]
        steps.append(np.clip(row + [0] * (24 - len(row)), 0, 2**31 - 1))
    steps = np.asarray(steps, np.int32)
    got = np.asarray(_traced_run(True)(*_traced_args(cfgs), steps))
    stairs = -np.log2(got.astype(np.float64))
    n = np.rint(stairs)
    assert np.abs(stairs - n).max() < 2.0**-14
    want = np.asarray(
        [
            [exact_stair(s, c.decay_steps, c.transition_begin) for s in row]
            for row, c in zip(steps, cfgs, strict=True)
        ]
    )
    np.testing.assert_array_equal(n, want)
    assert want.max() >= 120  # the edges really were reached


# -- no retracing --------------------------------------------------------------------------
def _update(make_tx, sched, p):
    tx = make_tx(sched)
    updates, _ = tx.update(jnp.full_like(p, 0.5), tx.init(p), p)
    return optax.apply_updates(p, updates)


@pytest.mark.parametrize("make", [optax.sgd, optax.adam], ids=["sgd", "adam"])
def test_one_trace_for_eight_configs_optax_closures_eight(make):
    params = jnp.ones(4, jnp.float32)
    traces = {"ours": 0, "optax": 0}

    def counted(name):
        def step(sched, p):
            traces[name] += 1
            return _update(make, sched, p)

        return step

    ours_step = jax.jit(counted("ours"))  # the schedule is an argument (a pytree)
    # optax's schedules are closures over Python floats, not pytrees: they can only be
    # static arguments, so every new one is a new trace and compile
    optax_step = jax.jit(counted("optax"), static_argnums=0)
    values = [(0.1 * (i + 1), 10 + i, 0.9 - 0.05 * i) for i in range(8)]
    with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict-promotion clean
        got = [ours_step(exponential_decay(*v), params) for v in values]
        theirs = [optax_step(optax.exponential_decay(*v), params) for v in values]
    assert traces == {"ours": 1, "optax": 8}
    # and the 8 updates really used 8 different rates (first update: step 0 -> init)
    assert len({float(g[0]) for g in got}) == 8
    np.testing.assert_allclose(np.asarray(got), np.asarray(theirs), rtol=1e-6)


def test_chex_max_traces_one_for_new_values():
    import chex

    @jax.jit
    @chex.assert_max_traces(n=1)
    def lr(sched, step):
        return sched(step)

    for c in _varied("all", k=8, seed=1):
        assert float(lr(exponential_decay(c), jnp.int32(77))) == float(exponential_decay(c)(77))


def test_no_tracer_leaks_when_built_inside_jit():
    with jax.check_tracer_leaks():

        @jax.jit
        def f(init, d, rate, tb, ev, step):
            cfg = ExponentialDecayConfig(init, d, rate, True, transition_begin=tb, end_value=ev)
            return exponential_decay(cfg)(step), cfg.decay_rate

        lr, rate = f(jnp.float32(0.5), jnp.int32(41), jnp.float32(0.5), jnp.int32(3),
                     jnp.float32(0.0), jnp.int32(3 + 82))  # fmt: skip
        # traced constants: 2 stairs, 0.5 * 0.5**2, within the traced bound
        assert abs(float(lr) / 0.125 - 1) <= 4 * 2.0**-21
        assert float(rate) == 0.5


# -- hypergradients -------------------------------------------------------------------------
@pytest.mark.parametrize("staircase", [False, True], ids=["continuous", "staircase"])
def test_hypergradients_match_analytic(staircase):
    s, d = 25, 10
    p = 2 if staircase else 2.5

    def lr(init, rate, ev):
        return exponential_decay(init, d, rate, staircase, end_value=ev)(jnp.int32(s))

    init, rate = 0.1, 0.9
    g = jax.grad(lr, argnums=(0, 1, 2))(jnp.float32(init), jnp.float32(rate), jnp.float32(1e-4))
    want = [rate**p, init * p * rate ** (p - 1)]
    np.testing.assert_allclose([float(x) for x in g[:2]], want, rtol=2e-6)
    assert float(g[2]) == 0.0  # the floor is not active
    g_floor = jax.grad(lr, argnums=(0, 1, 2))(
        jnp.float32(init), jnp.float32(rate), jnp.float32(0.5)
    )
    assert [float(x) for x in g_floor] == [0.0, 0.0, 1.0]  # the floor is active


def test_grad_wrt_decay_steps():
    """Continuous, float traced decay_steps: the analytic -lr * log(rate) * p / d.
    Staircase: 0 (piecewise constant). Integer decay_steps: not differentiable (JAX's
    TypeError from grad)."""

    def lr(d, staircase):
        return exponential_decay(0.1, d, 0.9, staircase)(jnp.int32(25))

    g = jax.grad(lambda d: lr(d, False))(jnp.float32(10.0))
    want = -0.1 * 0.9**2.5 * math.log(0.9) * 2.5 / 10.0
    np.testing.assert_allclose(float(g), want, rtol=2e-5)
    assert float(jax.grad(lambda d: lr(d, True))(jnp.float32(10.0))) == 0.0
    with pytest.raises(TypeError, match="grad requires real- or complex-valued inputs"):
        jax.grad(lambda d: lr(d, False))(jnp.int32(10))


def test_grad_of_loss_after_sgd_steps_matches_finite_differences(x64):
    target = jnp.asarray([1.0, -2.0, 0.5])

    @jax.jit
    def final_loss(init, rate, ev):
        tx = optax.sgd(exponential_decay(init, 3, rate, end_value=ev))
        w = jnp.zeros(3)
        state = tx.init(w)
        for _ in range(8):
            g = jax.grad(lambda w: jnp.sum((w - target) ** 2))(w)
            u, state = tx.update(g, state)
            w = optax.apply_updates(w, u)
        return jnp.sum((w - target) ** 2)

    # end_value 0.06 is active for the last updates (0.1 * 0.7**(7/3) = 0.0435 < 0.06)
    x = (jnp.float64(0.1), jnp.float64(0.7), jnp.float64(0.06))
    g = jax.grad(final_loss, argnums=(0, 1, 2))(*x)
    h = 1e-6
    fd = []
    for i in range(3):
        up = [v + h if j == i else v for j, v in enumerate(x)]
        dn = [v - h if j == i else v for j, v in enumerate(x)]
        fd.append((final_loss(*up) - final_loss(*dn)) / (2 * h))
    assert all(abs(float(v)) > 1e-3 for v in fd)  # all three matter
    np.testing.assert_allclose([float(v) for v in g], [float(v) for v in fd], rtol=1e-7)


# -- devices --------------------------------------------------------------------------------
def test_pmap_and_named_sharding_equal_single_device():
    cfgs = _varied("all", k=16, seed=11)
    sched = exponential_decay(stack(cfgs))
    single = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sched))
    cpus = jax.devices("cpu")  # the 8 host devices (tests/conftest.py); on a machine
    n = len(cpus)  # with a GPU, `single` ran on the GPU: a cross-backend check too
    assert n == 8
    split = jax.tree_util.tree_map(lambda x: np.asarray(x).reshape(n, -1, *np.shape(x)[1:]), sched)
    pm = jax.pmap(jax.vmap(lambda sc: sc(STEPS)), devices=cpus)(split)
    pm = np.asarray(pm).reshape(single.shape)
    mesh = Mesh(np.array(cpus), ("sweep",))
    sharded_sched = jax.device_put(sched, NamedSharding(mesh, PartitionSpec("sweep")))
    sh = jax.jit(jax.vmap(lambda sc: sc(STEPS)))(sharded_sched)
    assert sh.sharding.spec[0] == "sweep"  # pyright: ignore[reportAttributeAccessIssue]
    assert len({s.device for s in sh.addressable_shards}) == 8
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


# -- the README's training sweep ----------------------------------------------------------
# The same `loss_fn`/`train` as the README's sweep section (K MLPs on sklearn's digits in one
# jit(vmap(train)) call with inject_hyperparams(adam)), on fewer configs and steps.
@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    X, y = load_digits(return_X_y=True)
    return jnp.asarray(X / 16.0, jnp.float32), jnp.asarray(y)


def _make_train(X, y):
    def loss_fn(p):
        h = jax.nn.relu(X @ p["w1"] + p["b1"])
        return optax.softmax_cross_entropy_with_integer_labels(h @ p["w2"] + p["b2"], y).mean()

    def train(schedule, key, num_steps=300):
        k1, k2 = jax.random.split(key)
        params = {
            "w1": 0.1 * jax.random.normal(k1, (64, 64)),
            "b1": jnp.zeros(64),
            "w2": 0.1 * jax.random.normal(k2, (64, 10)),
            "b2": jnp.zeros(10),
        }
        tx = optax.inject_hyperparams(optax.adam)(learning_rate=schedule)

        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, state), losses = jax.lax.scan(step, (params, tx.init(params)), length=num_steps)
        return losses, state.hyperparams["learning_rate"], state.count

    return train


def test_training_sweep_trains_every_config_and_shards(digits):
    num_steps, k = 60, 8
    configs = [
        ExponentialDecayConfig(lr, 20, rate, staircase=True)
        for lr in (3e-3, 1e-2)
        for rate in (0.3, 0.5, 0.7, 0.9)
    ]
    schedules = exponential_decay(stack(configs))
    train = _make_train(*digits)
    keys = jax.random.split(jax.random.PRNGKey(0), k)
    run = jax.jit(jax.vmap(lambda s, key: train(s, key, num_steps)))
    with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict-promotion clean
        losses, final_lr, count = run(schedules, keys)
        mesh = Mesh(np.array(jax.devices()), ("sweep",))
        on_mesh = NamedSharding(mesh, PartitionSpec("sweep"))
        s_losses, s_lr, _ = run(jax.device_put(schedules, on_mesh), jax.device_put(keys, on_mesh))
    losses = np.asarray(losses)
    assert losses.shape == (k, num_steps)
    assert (losses[:, -1] < 0.6 * losses[:, 0]).all(), losses[:, [0, -1]]  # measured: <= 0.44
    # a faster decay leaves a higher loss, for each initial rate
    for row in (losses[:4, -1], losses[4:, -1]):
        assert (np.diff(row) < 0).all(), row
    # the injected rate is the schedule's value at the last update (count before it)
    np.testing.assert_array_equal(np.asarray(count), num_steps)
    last = np.asarray([exponential_decay(c)(num_steps - 1) for c in configs])
    np.testing.assert_array_equal(np.asarray(final_lr), last)
    for c, lr in zip(configs, last, strict=True):
        assert ulp_error(lr, _exact(c, num_steps - 1), np.float32) <= 2.0
    # sharded over 8 devices: the rates are identical, the losses agree to float32
    # matmul summation order (measured: at most 3.6e-7 relative)
    assert s_lr.sharding.spec[0] == "sweep"  # pyright: ignore[reportAttributeAccessIssue]
    np.testing.assert_array_equal(np.asarray(s_lr), np.asarray(final_lr))
    np.testing.assert_allclose(np.asarray(s_losses), losses, rtol=1e-5)


@pytest.mark.parametrize("staircase", [False, True])
def test_grad_wrt_decay_rate_at_exactly_one(staircase):
    """No decay (rate 1) is a natural starting point of a hypergradient search: the value
    is exactly init, and d lr / d rate = init * p there, not 0."""

    def lr(rate):
        return exponential_decay(0.1, 10, rate, staircase)(jnp.int32(25))

    p = 2 if staircase else 2.5
    assert float(lr(jnp.float32(1.0))) == float(np.float32(0.1))
    np.testing.assert_allclose(float(jax.grad(lr)(jnp.float32(1.0))), 0.1 * p, rtol=1e-6)
