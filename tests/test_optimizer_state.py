"""``current_learning_rate`` finds the schedule's step from the state's structure.

Each recipe runs real updates and checks three things against the optimizer itself:
the counter picked is the one optax passes to the schedule (recorded inside the update);
``current_learning_rate`` is ``schedule(k)`` after ``k`` updates, eagerly and under
``jit`` alike; and the next update really applies that rate (parameter deltas computed
the way optax computes them, bit for bit). Then Flax NNX (the ``nnx.Optimizer`` object,
its ``opt_state``, ``nnx.state``, orbax and numpy checkpoints, resuming), and the
refusals, which are raised while tracing and name the structure.

optax's ``adam`` fails under strict promotion (``decay ** count``), so these tests use
JAX's standard promotion, as users do (fixture below).
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx, serialization

from jax_expdecay import current_learning_rate, exponential_decay
from jax_expdecay._optax_state import _KINDS, _KNOWN

SCHED = exponential_decay(0.1, 2, 0.5)
STAIRS = exponential_decay(0.05, 3, 0.5, staircase=True)
STEPS = 5
jit_clr = jax.jit(current_learning_rate)


@pytest.fixture(autouse=True)
def _standard_promotion():
    # optax.adam's `decay ** count` (float ** int32) fails under strict promotion.
    with jax.numpy_dtype_promotion("standard"):
        yield


def _problem():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(8,)), jnp.float32)
    params = {"w": jnp.asarray(rng.normal(size=(3,)), jnp.float32), "b": jnp.zeros((), jnp.float32)}

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    return params, loss


def _both(sched: Callable[[Any], Any], state: Any) -> jax.Array:
    """Eager and jit results, which must be identical (value and dtype)."""
    eager, jitted = current_learning_rate(sched, state), jit_clr(sched, state)
    assert eager.dtype == jitted.dtype
    assert np.array_equal(np.asarray(eager), np.asarray(jitted)), (eager, jitted)
    assert np.isfinite(np.asarray(eager)).all()
    return eager


def _optax_classes() -> dict[str, type]:
    """Every NamedTuple class defined in the installed optax, by name."""
    classes: dict[str, type] = {}
    root = pathlib.Path(optax.__file__).parent  # optax/_src has no __init__: walk files
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root.parent).with_suffix("").parts
        if parts[-1].endswith("_test") or parts[-1] == "test_utils":
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            mod = importlib.import_module(name)
        except ImportError:  # optional extras of optax (none in this venv, but harmless)
            continue
        for cls in vars(mod).values():
            if (
                inspect.isclass(cls)
                and hasattr(cls, "_fields")
                and cls.__module__.startswith("optax")
            ):
                classes[cls.__name__] = cls
    return classes


# -- the table of known states -----------------------------------------------------------
def test_known_states_match_installed_optax():
    """Each row names real optax classes whose fields are exactly the row's fields."""
    classes = _optax_classes()
    for fields, kind in _KINDS:
        for name in kind.names.replace(" or ", ", ").split(", "):
            assert name in classes, name
            assert set(classes[name]._fields) == set(fields), (name, classes[name]._fields)
        assert kind.counter in fields or not kind.role, kind
        assert set(kind.gates) <= set(kind.substates) <= set(fields), kind
    assert len(_KNOWN) == len(_KINDS)  # field sets are distinct: a dict form is unambiguous


def test_every_optax_counter_state_is_classified():
    """An optax upgrade that adds a state with a counter fails here until it is classified."""
    classes = _optax_classes()
    with_counter = {n: c for n, c in classes.items() if {"count", "step_count"} & set(c._fields)}
    assert len(with_counter) >= 25  # measured: 27 in optax 0.2.8
    missing = {n: c._fields for n, c in with_counter.items() if frozenset(c._fields) not in _KNOWN}
    assert not missing, missing


# -- the counter picked is the one the schedule receives ------------------------------------
def _recording(sched):
    seen: list[int] = []

    def schedule(count):
        jax.debug.callback(lambda c: seen.append(int(c)), count)
        return sched(count)

    return schedule, seen


READS = {
    "sgd": lambda s: optax.sgd(s),
    "sgd_momentum": lambda s: optax.sgd(s, momentum=0.9, nesterov=True),
    "adam": lambda s: optax.adam(s),
    "adamw_wd_schedule": lambda s: optax.adamw(s, weight_decay=s),
    "chain_clip_adam": lambda s: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(s)),
    "inject_adam": lambda s: optax.inject_hyperparams(optax.adam)(learning_rate=s),
    "inject_two_schedules": lambda s: optax.inject_hyperparams(optax.sgd)(learning_rate=s, momentum=lambda c: 0.9 + 0.0 * s(c)),
    "masked": lambda s: optax.masked(optax.adam(s), {"w": True, "b": False}),
    "multi_transform": lambda s: optax.multi_transform({"a": optax.sgd(s), "b": optax.adam(s)}, {"w": "a", "b": "b"}),
    "prodigy": lambda s: optax.contrib.prodigy(s),
    "dadapt_adamw": lambda s: optax.contrib.dadapt_adamw(s),
    "madgrad": lambda s: optax.contrib.madgrad(s),
    "schedule_free": lambda s: optax.contrib.schedule_free(optax.sgd(1.0), s),
    "reduce_on_plateau": lambda s: optax.chain(optax.adam(s), optax.contrib.reduce_on_plateau(patience=1)),
    "apply_every": lambda s: optax.chain(optax.apply_every(2), optax.sgd(s)),
    "momo": lambda s: optax.contrib.momo(s),
}  # fmt: skip
NEEDS_VALUE = {"reduce_on_plateau", "momo"}
START = {"schedule_free": 1}  # ScheduleFreeState.step_count starts at 1, not 0


@pytest.mark.parametrize("recipe", list(READS))
def test_picked_counter_is_what_the_schedule_receives(recipe):
    sched, seen = _recording(SCHED)
    tx = READS[recipe](sched)
    params, loss = _problem()
    state = tx.init(params)
    for k in range(STEPS):
        step = current_learning_rate(lambda c: c, state)  # the counter itself
        assert int(step) == k + START.get(recipe, 0)
        assert float(_both(SCHED, state)) == float(SCHED(int(step)))
        seen.clear()
        value, grads = jax.value_and_grad(loss)(params)
        extra = {"value": value} if recipe in NEEDS_VALUE else {}
        updates, state = tx.update(grads, state, params, **extra)
        jax.effects_barrier()
        assert seen and set(seen) == {int(step)}, (k, seen)
        params = optax.apply_updates(params, updates)


# -- the rate reported is the rate the next update applies -----------------------------------
@pytest.mark.parametrize("sched", [SCHED, STAIRS], ids=["continuous", "staircase"])
def test_sgd_applies_the_reported_rate(sched):
    """With unit gradients, optax.sgd's update is exactly -lr."""
    tx = optax.sgd(sched)
    params = {"w": jnp.zeros(3, jnp.float32)}
    ones = {"w": jnp.ones(3, jnp.float32)}
    state = tx.init(params)
    for k in range(3 * STEPS):
        lr = _both(sched, state)
        assert float(lr) == float(sched(k))
        updates, state = tx.update(ones, state, params)
        assert np.array_equal(np.asarray(updates["w"]), np.full(3, -np.asarray(lr)))


@pytest.mark.parametrize(
    "make_tx",
    [
        pytest.param(lambda s: optax.adam(s), id="adam"),
        pytest.param(lambda s: optax.adamw(s, weight_decay=0.0), id="adamw"),
        pytest.param(lambda s: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(s)), id="chain_clip_adam"),
    ],
)  # fmt: skip
def test_adam_applies_the_reported_rate(make_tx):
    """The update equals (-lr) * (adam's direction, run alongside), bit for bit: optax's
    scale_by_learning_rate multiplies by -schedule(count)."""
    tx = make_tx(SCHED)
    direction = make_tx(lambda c: -1.0)  # the same chain at rate -1: the bare direction
    params, loss = _problem()
    state, dstate = tx.init(params), direction.init(params)
    for k in range(STEPS):
        lr = _both(SCHED, state)
        assert float(lr) == float(SCHED(k))
        grads = jax.grad(loss)(params)
        updates, state = tx.update(grads, state, params)
        d, dstate = direction.update(grads, dstate, params)
        for u, v in zip(jax.tree.leaves(updates), jax.tree.leaves(d), strict=True):
            assert np.array_equal(np.asarray(u), np.asarray(-lr * v))
        params = optax.apply_updates(params, updates)


def test_inject_hyperparams_used_the_reported_rate():
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=SCHED)
    params, loss = _problem()
    state = tx.init(params)
    for k in range(STEPS):
        lr = _both(SCHED, state)
        updates, state = tx.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        # hyperparams holds the rate the update just used: ours, read before it.
        assert float(state.hyperparams["learning_rate"]) == float(lr) == float(SCHED(k))


def test_multisteps_reports_the_inner_step():
    """MultiSteps(sgd, 3): a real update every 3rd call, at schedule(number of real
    updates so far); between them the rate does not move."""
    every = 3
    tx = optax.MultiSteps(optax.sgd(SCHED), every)
    params = {"w": jnp.zeros(3, jnp.float32)}
    ones = {"w": jnp.ones(3, jnp.float32)}
    state = tx.init(params)
    for call in range(4 * every):
        lr = _both(SCHED, state)
        assert float(lr) == float(SCHED(call // every))
        updates, state = tx.update(ones, state, params)
        want = -np.asarray(lr) if call % every == every - 1 else np.float32(0)
        assert np.array_equal(np.asarray(updates["w"]), np.full(3, want, np.float32))


def test_reduce_on_plateau_rate_is_the_schedules_part():
    """chain(sgd(schedule), reduce_on_plateau): the update is scale * (-schedule(k)) * g,
    with the plateau's scale decided at that update; the old code raised here eagerly
    ('counters disagree') and gave NaN under jit."""
    tx = optax.chain(optax.sgd(SCHED), optax.contrib.reduce_on_plateau(patience=1, factor=0.5))
    params = {"w": jnp.zeros(3, jnp.float32)}
    ones = {"w": jnp.ones(3, jnp.float32)}
    state = tx.init(params)
    scales = []
    for k in range(3 * STEPS):
        lr = _both(SCHED, state)
        assert float(lr) == float(SCHED(k))
        updates, state = tx.update(ones, state, params, value=jnp.float32(1.0))  # a plateau
        scale = state[1].scale
        scales.append(float(scale))
        want = scale * (jnp.asarray(-lr, jnp.float32) * jnp.ones(3, jnp.float32))
        assert np.array_equal(np.asarray(updates["w"]), np.asarray(want))
    assert min(scales) < 1.0  # the plateau did reduce: the scale is really in play


def test_apply_every_is_not_the_step():
    """apply_every's own count resets; the schedule's (sgd's) does not."""
    tx = optax.chain(optax.apply_every(2), optax.sgd(SCHED))
    params, loss = _problem()
    state = tx.init(params)
    for k in range(STEPS):
        assert float(_both(SCHED, state)) == float(SCHED(k))
        _, state = tx.update(jax.grad(loss)(params), state, params)
    assert int(state[0].count) != STEPS  # the counters do differ


def test_decision_ignores_counter_values():
    """Structure decides: adam's bias-correction count set to anything does not matter,
    eagerly or under jit (no value comparison, no NaN)."""
    tx = optax.adam(SCHED)
    params, loss = _problem()
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(jax.grad(loss)(params), state, params)
    for other in (0, 3, 999, -1):
        bent = (state[0]._replace(count=jnp.int32(other)), *state[1:])
        assert float(_both(SCHED, bent)) == float(SCHED(3))


@pytest.mark.parametrize(
    "make_tx",
    [
        pytest.param(lambda s: optax.sgd(s, momentum=0.9), id="sgd_momentum"),
        pytest.param(lambda s: optax.adam(s), id="adam"),
        pytest.param(lambda s: optax.adamw(s, mask=lambda p: {"count": True, "w": False}), id="adamw_masked"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("as_dict", [False, True])
def test_a_parameter_named_count_is_not_a_counter(make_tx, as_dict):
    """A float parameter named ``count`` (in momentum traces, adam moments, masks) is not
    taken for a counter: counters are integer leaves (dtype is static)."""
    params = {"count": jnp.ones((), jnp.float32), "w": jnp.ones(2, jnp.float32)}
    grads = {"count": jnp.ones((), jnp.float32), "w": jnp.ones(2, jnp.float32)}
    tx = make_tx(SCHED)
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(grads, state, params)
    if as_dict:
        state = serialization.to_state_dict(state)
    assert float(_both(SCHED, state)) == float(SCHED(3))


def test_saturated_counter():
    """optax's counter saturates at 2**31 - 1; the schedule is read there."""
    state = optax.sgd(SCHED).init({"w": jnp.zeros(2)})
    state = (state[0], state[1]._replace(count=jnp.int32(2**31 - 1)))
    assert float(_both(SCHED, state)) == float(SCHED(2**31 - 1))


def test_vmapped_states():
    """A stacked sweep of optimizer states: the structure is the same per member."""
    scheds = [exponential_decay(r, 2, 0.5) for r in (0.1, 0.2, 0.4)]
    states = [optax.sgd(s).init({"w": jnp.zeros(2)}) for s in scheds]
    states = [(st[0], st[1]._replace(count=jnp.int32(k))) for k, st in enumerate(states)]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    got = jax.vmap(lambda st: current_learning_rate(SCHED, st))(stacked)
    assert np.array_equal(np.asarray(got), np.asarray([SCHED(k) for k in range(3)]))


@pytest.mark.parametrize("form", ["to_state_dict", "numpy_leaves"])
def test_restored_optax_forms(form):
    tx = optax.chain(
        optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(learning_rate=STAIRS)
    )
    params, loss = _problem()
    state = tx.init(params)
    for _ in range(4):
        _, state = tx.update(jax.grad(loss)(params), state, params)
    if form == "to_state_dict":
        restored = serialization.to_state_dict(state)
        assert isinstance(restored, dict)
    else:
        leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
        restored = jax.tree.unflatten(jax.tree.structure(tx.init(params)), leaves)
    assert float(_both(STAIRS, restored)) == float(STAIRS(4))


# -- refusals: clear, raised while tracing ----------------------------------------------------
class MyState(NamedTuple):
    count: jax.Array
    trace: jax.Array


def _my_transform() -> optax.GradientTransformation:
    return optax.GradientTransformation(
        lambda p: MyState(jnp.int32(0), jnp.float32(0)),
        lambda u, s, p=None: (u, MyState(s.count + 1, s.trace)),
    )


REFUSED = {
    "adam_constant": (lambda: optax.adam(0.01), r"does not use a learning-rate schedule.*its only counters are \[0\]\.count \(ScaleByAdamState: .*bias correction"),
    "sgd_constant": (lambda: optax.sgd(0.1), r"no step counter that a schedule reads.*does not use a learning-rate schedule \(a constant"),
    "inject_constant": (lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.01), r"does not use.*\.count \(InjectStatefulHyperparamsState: .*\.inner_state\[0\]\.count \(ScaleByAdamState"),
    "reduce_on_plateau_constant": (lambda: optax.chain(optax.adam(0.01), optax.contrib.reduce_on_plateau()), r"does not use.*\[1\]\.count \(ReduceLROnPlateauState: .*resets"),
    "multisteps_inside_and_out": (lambda: optax.chain(optax.sgd(SCHED), optax.MultiSteps(optax.sgd(SCHED), 2).gradient_transformation()), r"not the same step \(updated on different calls, or counted from different starts\): \[0\]\[1\]\.count \(ScaleByScheduleState\); \[1\]\.inner_opt_state\[1\]\.count \(ScaleByScheduleState, inside \[1\]\.inner_opt_state \(MultiStepsState"),
    "schedule_free_and_adam_schedule": (lambda: optax.contrib.schedule_free(optax.adam(SCHED), SCHED), r"not the same step .*: \.step_count \(ScheduleFreeState, counting from 1\); \.base_optimizer_state\[1\]\.count \(ScaleByScheduleState\)"),
    "unknown_state": (lambda: optax.chain(_my_transform(), optax.sgd(SCHED)), r"cannot tell .* \[0\]\.count \(MyState\) \(next to the schedule steps \[1\]\[1\]\.count \(ScaleByScheduleState\)\)"),
    "unknown_alone": (lambda: _my_transform(), r"cannot tell .*: \.count \(MyState\);"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_refusals_name_the_structure(case):
    make, pattern = REFUSED[case]
    state = make().init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match=pattern):
        current_learning_rate(SCHED, state)
    traced = []

    def f(st):
        traced.append(True)
        return current_learning_rate(SCHED, st)

    with pytest.raises(ValueError, match=pattern):
        jax.jit(f)(state)
    assert traced  # raised while tracing: nothing ran, nothing returned NaN


def test_refusals_of_plain_values():
    with pytest.raises(ValueError, match="no step counter"):
        current_learning_rate(SCHED, ())
    with pytest.raises(ValueError, match="no step counter"):
        current_learning_rate(SCHED, jnp.int32(3))  # a bare counter: call SCHED(3)
    with pytest.raises(
        ValueError, match=r"cannot tell .*\['count'\] \(dict with fields \{'count', 'other'\}\)"
    ):
        current_learning_rate(SCHED, {"count": jnp.int32(3), "other": 1.0})
    with pytest.raises(TypeError, match="schedule must be callable, got float"):
        current_learning_rate(0.1, optax.sgd(SCHED).init(jnp.zeros(2)))  # pyright: ignore[reportArgumentType]


def test_a_plain_count_dict_is_a_schedule_state():
    """``{'count': c}`` is ScaleByScheduleState's dict form (to_state_dict, orbax)."""
    assert float(_both(SCHED, {"count": jnp.int32(3)})) == float(SCHED(3))


# -- Flax NNX ---------------------------------------------------------------------------------
class Net(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.lin = nnx.Linear(3, 1, rngs=rngs)
        self.count = nnx.Variable(jnp.int32(0))  # a model leaf named `count`: not the step

    def __call__(self, x):
        self.count[...] += 1
        return self.lin(x)[:, 0]


def _nnx_data():
    rng = np.random.default_rng(1)
    return jnp.asarray(rng.normal(size=(8, 3)), jnp.float32), jnp.asarray(
        rng.normal(size=(8,)), jnp.float32
    )


def _nnx_setup(make_tx=lambda s: optax.adam(s), sched=SCHED):
    model = Net(nnx.Rngs(0))
    return model, nnx.Optimizer(model, make_tx(sched), wrt=nnx.Param)


@nnx.jit
def _nnx_step(model, opt, x, y):
    grads = nnx.grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
    opt.update(model, grads)
    return grads


def _nnx_forms(opt):
    return {
        "optimizer": opt,
        "opt_state": opt.opt_state,
        "nnx.state": nnx.state(opt),
        "pure_dict": nnx.to_pure_dict(nnx.state(opt)),
    }


@pytest.mark.parametrize(
    "make_tx",
    [
        pytest.param(lambda s: optax.adam(s), id="adam"),
        pytest.param(
            lambda s: optax.inject_hyperparams(optax.adamw)(learning_rate=s), id="inject_adamw"
        ),
        pytest.param(lambda s: optax.MultiSteps(optax.sgd(s), 2), id="multisteps"),
    ],
)
def test_nnx_optimizer_forms(make_tx):
    model, opt = _nnx_setup(make_tx)
    x, y = _nnx_data()
    every = 2 if isinstance(opt.opt_state, optax.MultiStepsState) else 1
    for k in range(STEPS):
        want = float(SCHED(k // every))
        for name, form in _nnx_forms(opt).items():
            assert float(_both(SCHED, form)) == want, name
        assert float(nnx.jit(current_learning_rate)(SCHED, opt)) == want
        _nnx_step(model, opt, x, y)
    assert int(opt.step[...]) == STEPS  # calls, which is not the step under MultiSteps
    assert int(model.count[...]) == STEPS


def test_nnx_sgd_applies_the_reported_rate():
    """The parameter change of each nnx update is (-lr) * grad, bit for bit."""
    model, opt = _nnx_setup(lambda s: optax.sgd(s))
    x, y = _nnx_data()
    for k in range(STEPS):
        lr = _both(SCHED, opt)
        assert float(lr) == float(SCHED(k))
        before = nnx.to_pure_dict(nnx.state(model, nnx.Param))
        grads = nnx.to_pure_dict(_nnx_step(model, opt, x, y))
        after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
        want = jax.tree.map(lambda p, g, lr=lr: p + (-lr) * g, before, grads)
        for a, w in zip(jax.tree.leaves(after), jax.tree.leaves(want), strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(w))


def test_nnx_constant_rate_is_refused_with_nnx_paths():
    _, opt = _nnx_setup(lambda s: optax.adam(0.01))
    with pytest.raises(
        ValueError, match=r"its only counters are \.opt_state\[0\]\.count \(ScaleByAdamState"
    ):
        current_learning_rate(SCHED, opt)
    with pytest.raises(
        ValueError,
        match=r"\['opt_state'\]\[0\]\['count'\] \(dict with fields \{'count', 'mu', 'nu'\}, as a ScaleByAdamState",
    ):
        jit_clr(SCHED, nnx.state(opt))


def _train(model, opt, steps):
    x, y = _nnx_data()
    rates = []
    for _ in range(steps):
        rates.append(float(current_learning_rate(STAIRS, opt)))
        _nnx_step(model, opt, x, y)
    return rates


@pytest.mark.parametrize("store", ["orbax_target", "orbax_raw", "numpy"])
def test_nnx_checkpoint_and_resume(store, tmp_path):
    """Train 4 steps, save the optimizer (and model), restore into a fresh one, train on:
    rates and parameters are those of an uninterrupted run, bit for bit."""
    total, cut = 9, 4
    make = lambda s: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(s))  # noqa: E731
    model, opt = _nnx_setup(make, STAIRS)
    full_rates = _train(model, opt, total)
    full_params = nnx.to_pure_dict(nnx.state(model, nnx.Param))

    model, opt = _nnx_setup(make, STAIRS)
    _train(model, opt, cut)
    saved = {"model": nnx.state(model), "opt": nnx.state(opt)}
    fresh_model, fresh_opt = _nnx_setup(make, STAIRS)
    if store.startswith("orbax"):
        import orbax.checkpoint as ocp

        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp_path / "ckpt", saved)
            ckptr.wait_until_finished()
            if store == "orbax_target":
                abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, saved)
                restored = ckptr.restore(tmp_path / "ckpt", abstract)
            else:  # no target: plain dicts, tuples as {'0': ...}, Variables as {'value': x}
                restored = ckptr.restore(tmp_path / "ckpt")
                assert isinstance(restored["opt"]["opt_state"]["1"]["0"]["count"], dict)
    else:
        leaves = [np.asarray(v) for v in jax.tree.leaves(saved)]
        np.savez(tmp_path / "ckpt.npz", *leaves)
        with np.load(tmp_path / "ckpt.npz") as z:
            arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
        template = {"model": nnx.state(fresh_model), "opt": nnx.state(fresh_opt)}
        restored = jax.tree.unflatten(jax.tree.structure(template), arrays)
    # The restored state, before it is put back into any object.
    assert float(_both(STAIRS, restored["opt"])) == float(STAIRS(cut))
    if store == "orbax_raw":
        nnx.replace_by_pure_dict(
            model_state := nnx.state(fresh_model), _strip_values(restored["model"])
        )
        nnx.update(fresh_model, model_state)
        nnx.replace_by_pure_dict(opt_state := nnx.state(fresh_opt), _strip_values(restored["opt"]))
        nnx.update(fresh_opt, opt_state)
    else:
        nnx.update(fresh_model, restored["model"])
        nnx.update(fresh_opt, restored["opt"])
    assert float(_both(STAIRS, fresh_opt)) == float(STAIRS(cut))
    rates = _train(fresh_model, fresh_opt, total - cut)
    assert rates == full_rates[cut:]
    assert len(set(full_rates[cut:])) > 1  # the rate really steps within the resumed span
    resumed = nnx.to_pure_dict(nnx.state(fresh_model, nnx.Param))
    for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(full_params), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def _strip_values(tree):
    """orbax's target-less dicts to nnx's pure dict: {'value': x} -> x, '0' -> 0."""
    if isinstance(tree, dict):
        if set(tree) == {"value"}:
            return tree["value"]
        return {int(k) if k.isdigit() else k: _strip_values(v) for k, v in tree.items()}
    return tree
