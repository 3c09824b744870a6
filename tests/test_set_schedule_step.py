"""``set_schedule_step`` sets only the schedule's counter: resuming gives the rate, 1.0x.

The resume check: a fresh optimizer state (zero moments), its schedule counter set to
``step``, one update with a gradient of ones on zero parameters. It must be the first
update of the same optimizer started fresh at the constant rate ``sched(step)``, bit for
bit: SGD's ``-lr * g``, and adam's ``-lr * mu_hat / (sqrt(nu_hat) + eps)`` with its own
count still 0, which is ``-lr`` up to float32 rounding of the bias correction
(0.9999934x). Setting ``count`` over the whole state (the old recipe) also sets adam's
bias-correction count, and the first update is smaller (checked below).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx, serialization

from jax_expdecay import current_learning_rate, exponential_decay, set_schedule_step

SCHED = exponential_decay(0.1, 41, 0.5, staircase=True)
OPTIMIZERS = {
    "sgd": lambda s: optax.sgd(s),
    "sgd_momentum": lambda s: optax.sgd(s, momentum=0.9),
    "adam": lambda s: optax.adam(s),
    "adamw": lambda s: optax.adamw(s, weight_decay=1e-2),
}


@pytest.fixture(autouse=True)
def _standard_promotion():
    # optax.adam's `decay ** count` (float ** int32) fails under strict promotion.
    with jax.numpy_dtype_promotion("standard"):
        yield


def _first_update_ratio(tx, state) -> np.ndarray:
    params = {"w": jnp.zeros(3, jnp.float32)}
    grads = {"w": jnp.ones(3, jnp.float32)}
    updates, _ = tx.update(grads, state, params)
    return np.asarray(updates["w"])


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("step", [0, 1, 50, 41 * 7, 41 * 100 + 40])  # rate > 0
def test_first_update_after_resume_is_the_rate(name, step):
    tx = OPTIMIZERS[name](SCHED)
    fresh = tx.init({"w": jnp.zeros(3, jnp.float32)})
    state = set_schedule_step(fresh, step)
    lr = np.float32(SCHED(step))
    assert float(current_learning_rate(SCHED, state)) == lr
    update = _first_update_ratio(tx, state)
    fresh_at_lr = OPTIMIZERS[name](lambda count: jnp.asarray(lr))
    want = _first_update_ratio(fresh_at_lr, fresh_at_lr.init({"w": jnp.zeros(3, jnp.float32)}))
    assert np.array_equal(update, want), (update, want)
    assert np.allclose(update / -lr, 1.0, rtol=1e-5, atol=0), update / -lr  # 1.0x
    # only the schedule counter changed: the structure, dtypes and other leaves are kept
    assert jax.tree.structure(state) == jax.tree.structure(fresh)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(fresh), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
    changed = [
        jax.tree_util.keystr(p)
        for (p, a), b in zip(
            jax.tree_util.tree_leaves_with_path(state), jax.tree.leaves(fresh), strict=True
        )
        if not np.array_equal(a, b)
    ]
    assert changed == ([] if step == 0 else [changed[0]])
    if step and name.startswith("adam"):
        assert int(state[0].count) == 0  # adam's bias-correction count, untouched


def test_the_old_recipe_is_the_trap():
    """``tree_set(count=step)`` also sets adam's count: with fresh moments the bias
    correction divides by ``1 - b ** 51`` instead of ``1 - b``, and the first update is
    ``(1 - b1) / (1 - b1**51) / sqrt((1 - b2) / (1 - b2**51))`` = 0.7086x the rate."""
    tx = optax.adam(SCHED)
    fresh = tx.init({"w": jnp.zeros(3, jnp.float32)})
    trap = optax.tree_utils.tree_set(fresh, count=jnp.asarray(50, jnp.int32))
    ratio = _first_update_ratio(tx, trap)[0] / -np.float32(SCHED(50))
    b1, b2, k = 0.9, 0.999, 51
    assert abs(ratio - (1 - b1) / (1 - b1**k) / ((1 - b2) / (1 - b2**k)) ** 0.5) < 1e-5
    assert abs(ratio - 0.7086) < 1e-4, ratio
    ours = _first_update_ratio(tx, set_schedule_step(fresh, 50))[0] / -np.float32(SCHED(50))
    assert abs(ours - 1.0) < 1e-5, ours


def test_under_jit_with_a_traced_step():
    tx = optax.adam(SCHED)
    fresh = tx.init({"w": jnp.zeros(3, jnp.float32)})
    set_jit = jax.jit(set_schedule_step)
    for step in (3, 82, 2**31 - 1):
        state = set_jit(fresh, jnp.asarray(step, jnp.int32))
        assert int(state[1].count) == step and int(state[0].count) == 0
        assert state[1].count.dtype == jnp.int32


@pytest.mark.parametrize(
    ("make", "start"),
    [
        (lambda s: optax.chain(optax.clip_by_global_norm(1.0), optax.inject_hyperparams(optax.adam)(learning_rate=s)), 0),
        (lambda s: optax.MultiSteps(optax.adam(s), 4), 0),
        (lambda s: optax.masked(optax.adam(s), {"w": True}), 0),
        (lambda s: optax.contrib.schedule_free(optax.sgd(1.0), s), 1),  # counts from 1
    ],
    ids=["chain_inject", "multisteps", "masked", "schedule_free"],
)  # fmt: skip
def test_nested_states(make, start):
    tx = make(SCHED)
    state = set_schedule_step(tx.init({"w": jnp.zeros(3, jnp.float32)}), 90)
    assert int(current_learning_rate(lambda c: c, state)) == 90 + start
    assert float(current_learning_rate(SCHED, state)) == float(SCHED(90 + start))


def test_restored_dict_and_stacked_states():
    tx = optax.adam(SCHED)
    fresh = tx.init({"w": jnp.zeros(3, jnp.float32)})
    as_dict = set_schedule_step(serialization.to_state_dict(fresh), 82)
    assert isinstance(as_dict, dict)
    assert int(as_dict["1"]["count"]) == 82 and int(as_dict["0"]["count"]) == 0
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), fresh, fresh)
    got = set_schedule_step(stacked, 41)
    assert got[1].count.shape == (2,) and np.array_equal(got[1].count, [41, 41])


def test_nnx_optimizer_in_place():
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(SCHED), wrt=nnx.Param)
    assert set_schedule_step(opt, 82) is opt
    assert float(current_learning_rate(SCHED, opt)) == float(SCHED(82)) == np.float32(0.025)
    assert int(opt.opt_state[0].count[...]) == 0 and int(opt.step[...]) == 0
    # the first nnx update moves each parameter by -lr (adam, fresh moments, |g| >> eps;
    # 1.0x up to float32 rounding of adam's bias correction), not 0.71x of it
    before = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    grads = jax.tree.map(jnp.ones_like, nnx.state(model, nnx.Param))
    opt.update(model, grads)
    after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(before), strict=True):
        ratio = (np.asarray(a) - np.asarray(b)) / -np.float32(0.025)
        assert np.allclose(ratio, 1.0, rtol=1e-5, atol=0), ratio
    pure = set_schedule_step(nnx.to_pure_dict(nnx.state(opt)), 5)  # a checkpoint's dict
    assert float(current_learning_rate(SCHED, pure)) == float(SCHED(5))


def test_refusals():
    state = optax.adam(SCHED).init({"w": jnp.zeros(3)})
    for bad, exc, msg in [
        (1.5, TypeError, r"step must be an integer .*got float 1\.5"),
        (True, TypeError, r"got bool True"),
        (jnp.float32(3), TypeError, r"step must be an integer"),
        (-1, ValueError, r"step must be >= 0 .*got -1"),
        (2**31, ValueError, r"step 2147483648 does not fit the schedule counter \(int32"),
        (jnp.arange(2), ValueError, r"step must be a scalar, got shape \(2,\)"),
    ]:
        with pytest.raises(exc, match=msg):
            set_schedule_step(state, bad)
    with pytest.raises(ValueError, match=r"set_schedule_step: no step counter .*constant"):
        set_schedule_step(optax.adam(0.1).init({"w": jnp.zeros(3)}), 5)
    model = nnx.Linear(3, 1, rngs=nnx.Rngs(0))
    for fn in (set_schedule_step, lambda m, s: current_learning_rate(SCHED, m)):
        with pytest.raises(
            ValueError, match=r"is an nnx Module \(Linear\), a model: pass the nnx\.Optimizer"
        ):
            fn(model, 5)
