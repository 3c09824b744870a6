"""Optax and flax recipes, each checked against a hand-written loop using ``schedule(t)``
with ``t = 0`` for the first update; ``current_learning_rate``; resuming from disk;
dtypes with bfloat16 parameters.

optax's ``adam`` is not clean under ``jax_numpy_dtype_promotion="strict"`` (set in
conftest): its bias correction computes ``decay ** count`` with a Python float and an
int32 count and raises ``TypePromotionError``. Users run with JAX's default
("standard"), so these recipes do too (fixture below).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import serialization
from flax.training import train_state
from reference import exact_lr, ulp_error

import jax_expdecay
from jax_expdecay import current_learning_rate, exponential_decay

STEPS = 6
RTOL = 0.0  # measured: the recipes equal the written-out loops bit for bit (same op order)
B1, B2, EPS = 0.9, 0.999, 1e-8
SCHEDULES = {
    "continuous": exponential_decay(0.1, 2, 0.5),
    "staircase": exponential_decay(0.05, 2, 0.5, staircase=True),
}


@pytest.fixture(autouse=True)
def _standard_promotion():
    # optax.adam's `decay ** count` (float ** int32) fails under strict promotion.
    with jax.numpy_dtype_promotion("standard"):
        yield


def _problem(dtype: Any = jnp.float32):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 4)), dtype)
    y = jnp.asarray(rng.normal(size=(16, 1)), dtype)
    params = {
        "w1": jnp.asarray(rng.normal(size=(4, 8)), dtype),
        "b1": jnp.zeros((8,), dtype),
        "w2": jnp.asarray(rng.normal(size=(8, 1)), dtype),
        "b2": jnp.zeros((1,), dtype),
    }

    def loss(p):
        h = jnp.tanh(x @ p["w1"] + p["b1"])
        return jnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)

    return params, jax.grad(loss)


def _run_optax(tx: optax.GradientTransformation, steps: int = STEPS):
    params, grad = _problem()
    state = tx.init(params)

    @jax.jit
    def step(p, s):
        u, s = tx.update(grad(p), s, p)
        return optax.apply_updates(p, u), s

    for _ in range(steps):
        params, state = step(params, state)
    return params, state


# -- hand-written references: t = 0 for the first update ---------------------------------
def _ref_sgd(lr: Callable[[int], Any], shift: int = 0, steps: int = STEPS):
    params, grad = _problem()

    @jax.jit
    def step(p, lr_t):
        return jax.tree.map(lambda w, g: w + (-lr_t) * g, p, grad(p))

    for t in range(steps):
        params = step(params, lr(t + shift))
    return params


def _ref_adam(
    lr: Callable[[int], Any], shift: int = 0, clip: float | None = None, f32_hp: bool = False
):
    """Adam written out (same operation order as optax), lr(t) with t = 0 first.

    ``f32_hp``: b1, b2, eps are float32 arrays, as inject_hyperparams makes them (then
    ``1 - b1`` is computed in float32, not in Python, which moves results by ~1e-5).
    """
    b1, b2, eps = (jnp.float32(x) for x in (B1, B2, EPS)) if f32_hp else (B1, B2, EPS)
    params, grad = _problem()
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)

    @jax.jit
    def step(p, m, v, count, lr_t):
        g = grad(p)
        if clip is not None:
            norm = jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(g)))
            g = jax.tree.map(lambda x: jnp.where(norm < clip, x, x / norm * clip), g)
        m = jax.tree.map(lambda a, b: (1 - b1) * b + b1 * a, m, g)
        v = jax.tree.map(lambda a, b: (1 - b2) * b**2 + b2 * a, v, g)
        c1 = (1 - b1**count).astype(jnp.float32)
        c2 = (1 - b2**count).astype(jnp.float32)
        u = jax.tree.map(lambda a, b: (a / c1) / (jnp.sqrt(b / c2) + eps), m, v)
        return jax.tree.map(lambda w, x: w + (-lr_t) * x, p, u), m, v

    for t in range(STEPS):
        params, m, v = step(params, m, v, jnp.int32(t + 1), lr(t + shift))
    return params


def _assert_close(got, want, rtol: float) -> None:
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=0)


def _assert_far(got, want) -> None:
    """The reference shifted by one step is distinguishable: the tests can fail."""
    diffs = [
        float(np.max(np.abs(np.asarray(g) - np.asarray(w))))
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True)
    ]
    assert max(diffs) > 1e-4, diffs


@pytest.fixture(params=list(SCHEDULES), scope="module")
def sched(request):
    return SCHEDULES[request.param]


def test_schedule_values_used_here_are_exact(sched):
    c = sched.config
    for t in range(STEPS + 2):
        e = exact_lr(c.initial_learning_rate, c.decay_steps, c.decay_rate, t, c.staircase)
        assert ulp_error(sched(t), e, np.float32) <= 2


@pytest.mark.parametrize(
    "make_tx",
    [
        pytest.param(lambda s: optax.sgd(learning_rate=s), id="sgd"),
        pytest.param(lambda s: optax.scale_by_schedule(lambda c: -s(c)), id="scale_by_schedule"),
        pytest.param(
            lambda s: optax.chain(optax.scale_by_schedule(s), optax.scale(-1.0)),
            id="scale_by_schedule+scale(-1)",
        ),
    ],
)
def test_sgd_like_recipes(sched, make_tx):
    got, _ = _run_optax(make_tx(sched))
    _assert_close(got, _ref_sgd(sched), rtol=RTOL)
    _assert_far(got, _ref_sgd(sched, shift=1))


def test_scale_by_schedule_without_sign_ascends(sched):
    """The pitfall: scale_by_schedule(schedule) alone climbs the loss."""
    got, _ = _run_optax(optax.scale_by_schedule(sched))
    _assert_close(got, _ref_sgd(lambda t: -sched(t)), rtol=RTOL)


@pytest.mark.parametrize(
    ("make_tx", "clip", "f32_hp"),
    [
        pytest.param(lambda s: optax.adam(learning_rate=s), None, False, id="adam"),
        pytest.param(
            lambda s: optax.inject_hyperparams(optax.adam)(learning_rate=s),
            None,
            True,
            id="inject",
        ),
        pytest.param(
            lambda s: optax.chain(
                optax.clip_by_global_norm(1.0),
                optax.scale_by_adam(),
                optax.scale_by_learning_rate(s),
            ),
            1.0,
            False,
            id="chain_clip_adam",
        ),
    ],
)
def test_adam_like_recipes(sched, make_tx, clip, f32_hp):
    got, _ = _run_optax(make_tx(sched))
    _assert_close(got, _ref_adam(sched, clip=clip, f32_hp=f32_hp), rtol=RTOL)
    _assert_far(got, _ref_adam(sched, shift=1, clip=clip, f32_hp=f32_hp))


def test_clipping_is_active_in_the_chain_recipe():
    params, grad = _problem()
    norm = float(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(grad(params)))))
    assert norm > 1.0  # so the reference's clip branch is exercised


def test_inject_hyperparams_state_tracks_the_schedule(sched):
    """Before update t the state has count t; the update uses schedule(t) and stores it in
    ``hyperparams``; afterwards the next rate is schedule(t + 1)."""
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=sched)
    params, grad = _problem()
    state = tx.init(params)
    assert int(state.count) == 0
    assert float(state.hyperparams["learning_rate"]) == float(sched(0))
    for t in range(STEPS):
        assert int(state.count) == t
        assert float(current_learning_rate(sched, state)) == float(sched(t))
        updates, state = tx.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
        assert float(state.hyperparams["learning_rate"]) == float(sched(t))  # the rate used
        assert int(state.count) == t + 1


def test_flax_train_state(sched):
    params, grad = _problem()
    state = train_state.TrainState.create(
        apply_fn=lambda p, x: x, params=params, tx=optax.adam(sched)
    )
    apply = jax.jit(lambda s: s.apply_gradients(grads=grad(s.params)))
    for t in range(STEPS):
        assert int(state.step) == t
        assert float(current_learning_rate(sched, state.opt_state)) == float(sched(t))
        state = apply(state)
    _assert_close(state.params, _ref_adam(sched), rtol=RTOL)
    _assert_far(state.params, _ref_adam(sched, shift=1))


# -- current_learning_rate ----------------------------------------------------------------
STATE_RECIPES = {
    "sgd": lambda s: optax.sgd(s),
    "adam": lambda s: optax.adam(s),
    "inject": lambda s: optax.inject_hyperparams(optax.adam)(learning_rate=s),
    "chain": lambda s: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(s)),
    "masked": lambda s: optax.masked(optax.adam(s), {"w1": True, "b1": False, "w2": True, "b2": False}),
    "nested": lambda s: optax.chain(optax.chain(optax.identity(), optax.sgd(s, momentum=0.9))),
}  # fmt: skip


@pytest.mark.parametrize("recipe", list(STATE_RECIPES))
@pytest.mark.parametrize("jit", [False, True])
def test_current_learning_rate(recipe, jit):
    sched = SCHEDULES["continuous"]
    tx = STATE_RECIPES[recipe](sched)
    params, grad = _problem()
    state = tx.init(params)
    f = jax.jit(current_learning_rate) if jit else current_learning_rate
    for t in range(4):
        got = f(sched, state)
        assert got.dtype == jnp.float32 and float(got) == float(sched(t))
        updates, state = tx.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)


def test_current_learning_rate_dict_state():
    """A state turned into a dict (flax.serialization.to_state_dict) still works."""
    sched = SCHEDULES["staircase"]
    tx = optax.adam(sched)
    params, grad = _problem()
    state = tx.init(params)
    for _ in range(3):
        _, state = tx.update(grad(params), state, params)
    as_dict = serialization.to_state_dict(state)
    assert isinstance(as_dict, dict)
    assert float(current_learning_rate(sched, as_dict)) == float(sched(3))


def test_current_learning_rate_errors():
    sched = SCHEDULES["continuous"]
    params, grad = _problem()
    with pytest.raises(ValueError, match="no step counter"):
        current_learning_rate(sched, optax.sgd(0.1).init(params))
    with pytest.raises(ValueError, match="no step counter"):
        current_learning_rate(sched, ())
    with pytest.raises(TypeError, match="schedule must be callable, got float"):
        current_learning_rate(0.1, optax.sgd(sched).init(params))  # pyright: ignore[reportArgumentType]
    # optax.apply_every keeps its own `count` (calls since the last apply): not the
    # schedule's step, which the state's structure says; eager and jit agree, no NaN.
    tx = optax.chain(optax.apply_every(2), optax.sgd(sched))
    state = tx.init(params)
    _, state = tx.update(grad(params), state, params)
    _, state = tx.update(grad(params), state, params)
    assert float(current_learning_rate(sched, state)) == float(sched(2))
    assert float(jax.jit(current_learning_rate)(sched, state)) == float(sched(2))


# -- resuming ---------------------------------------------------------------------------
def _make(sched):
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optax.adam)(learning_rate=sched),
    )
    _, grad = _problem()

    @jax.jit
    def step(p, s):
        u, s = tx.update(grad(p), s, p)
        return optax.apply_updates(p, u), s

    return tx, step


def test_resume_from_disk_is_bit_identical(tmp_path):
    total, cut = 8, 3
    sched = exponential_decay(0.1, 3, 0.5, staircase=True)
    params0, _ = _problem()

    # Uninterrupted run.
    tx, step = _make(sched)
    p, s = params0, tx.init(params0)
    lrs_full, params_full = [], []
    for _ in range(total):
        lrs_full.append(float(current_learning_rate(sched, s)))
        p, s = step(p, s)
        params_full.append(p)

    # Run `cut` steps, save config (JSON) and state (npz), drop everything.
    tx, step = _make(sched)
    p, s = params0, tx.init(params0)
    for _ in range(cut):
        p, s = step(p, s)
    (tmp_path / "schedule.json").write_text(json.dumps(jax_expdecay.serialize(sched)))
    leaves = jax.tree.leaves((p, s))
    np.savez(tmp_path / "ckpt.npz", *[np.asarray(x) for x in leaves])
    del tx, step, p, s, sched

    # Fresh setup from disk.
    sched2 = jax_expdecay.deserialize(json.loads((tmp_path / "schedule.json").read_text()))
    tx2, step2 = _make(sched2)
    template = (params0, tx2.init(params0))
    with np.load(tmp_path / "ckpt.npz") as z:
        arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
    treedef = jax.tree.structure(template)
    p, s = jax.tree.unflatten(treedef, [jnp.asarray(a) for a in arrays])
    assert int(s[1].count) == cut
    lrs = []
    for t in range(cut, total):
        lrs.append(float(current_learning_rate(sched2, s)))
        p, s = step2(p, s)
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(params_full[t]), strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))
    assert lrs == lrs_full[cut:]
    assert len(set(lrs_full)) > 1  # the rate really changes over the resumed span


# -- dtypes with bfloat16 parameters -----------------------------------------------------
def _bf16_update(tx):
    params = {"w": jnp.ones((3,), jnp.bfloat16)}
    grads = {"w": jnp.full((3,), 0.5, jnp.bfloat16)}
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    new = optax.apply_updates(params, updates)
    return updates["w"].dtype, new["w"].dtype, state


F32_SCHED = exponential_decay(0.1, 3, 0.5)
BF16_SCHED = exponential_decay(jnp.bfloat16(0.1), 3, 0.5)


@pytest.mark.parametrize(
    ("make_tx", "update_dtype"),
    [
        pytest.param(lambda s: optax.sgd(s), jnp.bfloat16, id="sgd"),
        pytest.param(lambda s: optax.adam(s), jnp.bfloat16, id="adam"),
        pytest.param(
            lambda s: optax.chain(
                optax.clip_by_global_norm(1.0), optax.scale_by_adam(), optax.scale_by_learning_rate(s)
            ),
            jnp.bfloat16,
            id="chain",
        ),
        pytest.param(lambda s: optax.scale_by_schedule(lambda c: -s(c)), jnp.bfloat16, id="scale_by_schedule"),
        pytest.param(lambda s: optax.inject_hyperparams(optax.adam)(learning_rate=s), jnp.float32, id="inject"),
    ],
)  # fmt: skip
def test_bf16_params_dtypes(make_tx, update_dtype):
    """Measured: the schedule gives float32; optax casts it to the gradient's dtype
    (bfloat16 updates) except under inject_hyperparams, whose float32 learning rate
    promotes the updates to float32. Parameters stay bfloat16 (apply_updates casts)."""
    assert F32_SCHED(1).dtype == jnp.float32
    upd, par, _ = _bf16_update(make_tx(F32_SCHED))
    assert (upd, par) == (update_dtype, jnp.bfloat16)
    # optax's own schedule behaves the same way.
    upd_o, par_o, _ = _bf16_update(make_tx(optax.exponential_decay(0.1, 3, 0.5)))
    assert (upd_o, par_o) == (upd, par)


@pytest.mark.parametrize(
    ("sched_name", "hp_dtype", "lr_dtype", "update_dtype"),
    [
        # hyperparam_dtype leaves strongly typed arrays alone, and a schedule's output
        # is one (ours and optax's alike): it does not change the learning rate's dtype.
        ("f32", None, jnp.float32, jnp.float32),
        ("f32", jnp.bfloat16, jnp.float32, jnp.float32),
        ("f32", jnp.float32, jnp.float32, jnp.float32),
        # A bfloat16 initial_learning_rate gives a bfloat16 schedule and updates.
        ("bf16", None, jnp.bfloat16, jnp.bfloat16),
        ("bf16", jnp.bfloat16, jnp.bfloat16, jnp.bfloat16),
        ("bf16", jnp.float32, jnp.bfloat16, jnp.float32),
    ],
)
def test_bf16_inject_hyperparam_dtype(sched_name, hp_dtype, lr_dtype, update_dtype):
    sched = F32_SCHED if sched_name == "f32" else BF16_SCHED
    tx = optax.inject_hyperparams(optax.adam, hyperparam_dtype=hp_dtype)(learning_rate=sched)
    upd, par, state = _bf16_update(tx)
    lr = state.hyperparams["learning_rate"]
    assert (lr.dtype, upd, par) == (lr_dtype, update_dtype, jnp.bfloat16)
    assert float(lr) == float(sched(0))
    # A constant learning rate, by contrast, is cast to the parameters' dtype by default.
    const = optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
    assert _bf16_update(const)[2].hyperparams["learning_rate"].dtype == jnp.bfloat16
