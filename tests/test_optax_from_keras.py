"""``optax_from_keras``: optax trains as Keras trains, update for update.

Each Keras optimizer applies a fixed sequence of 40 random gradients to a weight vector
(``apply_gradients``), under a continuous ``ExponentialDecay(0.1, 10, 0.5)``: the rate
falls 16x, so an optimizer that applied the rate at the wrong place (after the momentum
sum, as ``optax.sgd`` does) would drift far. The optax optimizer from
``optax_from_keras`` applies the same gradients from the same start; the weights must
agree to float32 rounding (Adam: to its epsilon placement, relative 1e-5). A fixed
gradient sequence, not a loss: with a loss, RMSprop's sign-like steps near the optimum
amplify the last-bit differences of two gradient computations. Then two full
``train_on_batch`` runs end to end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jax_expdecay import from_keras, optax_from_keras, set_schedule_step

keras = pytest.importorskip("keras")
SCHED = dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)
STEPS = 40


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = (x @ np.asarray([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)
    return x, y


def _keras_weights(make):
    x, y = _data()
    opt = make(keras.optimizers.schedules.ExponentialDecay(**SCHED))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False,
                             kernel_initializer=keras.initializers.Constant(0.3))])  # fmt: skip
    model.compile(optimizer=opt, loss="mse")
    with jax.numpy_dtype_promotion("standard"):  # Keras's ops are not strict-promotion clean
        for _ in range(STEPS):
            model.train_on_batch(x, y)
    return np.asarray(model.layers[0].kernel), opt


def _optax_weights(tx):
    x, y = _data()
    w = jnp.full((3, 1), 0.3, jnp.float32)
    state = tx.init(w)
    grad = jax.jit(jax.grad(lambda w: jnp.mean((x @ w - y) ** 2)))
    with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict clean
        for _ in range(STEPS):
            updates, state = tx.update(grad(w), state, w)
            w = optax.apply_updates(w, updates)
    return np.asarray(w), state


CASES = {
    "sgd": (lambda s: keras.optimizers.SGD(s), 1e-6),
    "sgd_momentum": (lambda s: keras.optimizers.SGD(s, momentum=0.9), 1e-6),
    "sgd_nesterov": (lambda s: keras.optimizers.SGD(s, momentum=0.9, nesterov=True), 1e-6),
    "adam": (lambda s: keras.optimizers.Adam(s), 1e-5),
    "adamw": (lambda s: keras.optimizers.AdamW(s, weight_decay=0.05), 1e-5),
    "rmsprop": (lambda s: keras.optimizers.RMSprop(s, rho=0.8), 1e-6),
    "rmsprop_centered_momentum": (lambda s: keras.optimizers.RMSprop(s, momentum=0.5, centered=True), 1e-6),
    "clipped": (lambda s: keras.optimizers.SGD(s, momentum=0.5, global_clipnorm=0.5, ), 1e-6),
}  # fmt: skip


GRADS = np.random.default_rng(1).normal(size=(STEPS, 5)).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_optax_updates_as_keras_does(case):
    make, rtol = CASES[case]
    opt = make(keras.optimizers.schedules.ExponentialDecay(**SCHED))
    v = keras.Variable(np.full(5, 0.3, np.float32))
    with jax.numpy_dtype_promotion("standard"):
        for g in GRADS:
            opt.apply_gradients([(jnp.asarray(g), v)])
    want = np.asarray(v.value)
    for x in (opt, keras.optimizers.serialize(opt)):
        tx = optax_from_keras(x)
        w = jnp.full(5, 0.3, jnp.float32)
        state = tx.init(w)
        with jax.numpy_dtype_promotion("standard"):  # optax's adam is not strict clean
            for g in GRADS:
                updates, state = tx.update(jnp.asarray(g), state, w)
                w = optax.apply_updates(w, updates)
        np.testing.assert_allclose(np.asarray(w), want, rtol=rtol, atol=1e-6)
    assert float(from_keras(opt)(STEPS)) == pytest.approx(0.1 * 0.5**4, rel=1e-6)


@pytest.mark.parametrize("case", ["sgd_nesterov", "adamw"])
def test_optax_trains_as_keras_train_on_batch(case):
    make, rtol = CASES[case]
    want, opt = _keras_weights(make)
    got, _ = _optax_weights(optax_from_keras(opt))
    # atol: a few float32 ulp of the largest weight (|w| ~ 2), summed over 40 updates
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


def test_the_momentum_rule_matters():
    """optax.sgd (rate applied after the momentum sum) drifts from Keras across the
    decay; the chain optax_from_keras builds does not."""
    want, opt = _keras_weights(lambda s: keras.optimizers.SGD(s, momentum=0.9))
    naive, _ = _optax_weights(optax.sgd(from_keras(opt), momentum=0.9))
    assert np.max(np.abs(naive - want)) > 1e-3
    ours, _ = _optax_weights(optax_from_keras(opt))
    np.testing.assert_allclose(ours, want, rtol=1e-6, atol=1e-6)


def test_resume_from_a_saved_model(tmp_path):
    import warnings

    _, opt = _keras_weights(lambda s: keras.optimizers.Adam(s))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    with warnings.catch_warnings():  # Keras 3.15 + numpy 2: Keras's own DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(tmp_path / "m.keras")
    tx, step = optax_from_keras(tmp_path / "m.keras", with_step=True)
    assert step == STEPS
    state = set_schedule_step(tx.init(jnp.zeros(3)), step)
    with jax.numpy_dtype_promotion("standard"):
        updates, _ = tx.update(jnp.ones(3), state)
    # fresh moments: adam's first update is the rate (up to its bias-correction rounding)
    np.testing.assert_allclose(np.asarray(updates), -0.1 * 0.5**4, rtol=1e-5)


@pytest.mark.parametrize(
    ("make", "msg"),
    [
        (lambda s: keras.optimizers.SGD(s, clipnorm=1.0), r"SGD with clipnorm=1\.0 .*has no equivalent"),
        (lambda s: keras.optimizers.Adam(s, amsgrad=True), r"Adam with amsgrad=True"),
        (lambda s: keras.optimizers.SGD(s, weight_decay=0.1), r"SGD with weight_decay=0\.1"),
        (lambda s: keras.optimizers.Adagrad(s), r"optimizer 'Adagrad' is not one of SGD, Adam, AdamW, RMSprop"),
    ],
)  # fmt: skip
def test_refusals(make, msg):
    with pytest.raises(ValueError, match=msg):
        optax_from_keras(make(keras.optimizers.schedules.ExponentialDecay(**SCHED)))


def test_a_get_config_dict_is_refused_with_the_reason():
    opt = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(**SCHED))
    with pytest.raises(ValueError, match=r"does not say which optimizer it is"):
        optax_from_keras(opt.get_config())
    with pytest.raises(TypeError, match=r"got 3 \(type int\)"):
        optax_from_keras(3)
