"""Eager transformations (``grad``, ``jacfwd``, ``hessian``, ``vmap`` outside ``jit``): one
cached program, the same bits as under ``jit``.

An eager ``jax.grad(schedule)(5.0)`` used to trace the kernel inline, one operation at a
time, and each eager ``lax.cond`` of the accurate path compiled anew: ~380 ms per call
(3.4 s the first). Under eager ``grad``/``jvp``/``vjp``/``vmap`` a call now dispatches
the shared jitted evaluation, which JAX transforms as a whole.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_expdecay import exponential_decay, warmup_exponential_decay
from jax_expdecay._numbers import _eager_transform

CONFIGS = [
    dict(initial_learning_rate=1.0, decay_steps=10, decay_rate=0.5, transition_begin=20),
    dict(initial_learning_rate=2.0, decay_steps=7, decay_rate=1.5, end_value=50.0, staircase=True),
]
STEPS = [0.0, 5.0, 30.5, 1000.0, 12345.25]


def _bits(x):
    x = np.asarray(x)
    return x.view(np.uint32 if x.dtype.itemsize == 4 else np.uint64)


def _same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(_bits(x), _bits(y))


@pytest.mark.parametrize("kw", CONFIGS, ids=["begin", "staircase-growth-cap"])
def test_eager_derivatives_and_vmap_equal_jit_bits(kw):
    s = exponential_decay(**kw)
    xs = jnp.asarray(STEPS, jnp.float32)
    fns = {  # (the begin config at step 12345.25: d/d step is -0; eager gave +0 before)
        "grad": lambda x: jax.vmap(jax.grad(s))(x),
        "hessian": lambda x: jax.vmap(jax.hessian(s))(x),  # jacfwd of jacrev
        "vmap": lambda x: jax.vmap(s)(x),
    }
    for f in fns.values():
        _same(f(xs), jax.jit(f)(xs))
    # and per scalar step, the way a user calls it from Python
    grads = fns["grad"](xs)
    for i, t in enumerate(STEPS[:3]):
        one = jax.grad(s)(t)
        _same(one, jax.jit(jax.grad(s))(t))
        _same(one, grads[i])


def test_eager_hyperparameter_derivatives_equal_jit_bits():
    """Derivatives w.r.t. the config's own numbers (a traced config outside ``jit``).
    Under ``jit`` only the differentiated numbers are arguments (an argument is a float32;
    the others stay the exact Python numbers, as in the eager call)."""

    def f(init, rate, d, tb, step):
        return exponential_decay(init, d, rate, transition_begin=tb)(step)

    args = (0.1, 0.96, 1000.0, 3.0, 2500.5)

    def under_jit(transform, argnums):
        idx = (argnums,) if isinstance(argnums, int) else argnums

        def g(*diff):
            full = list(args)
            for i, v in zip(idx, diff, strict=True):
                full[i] = v
            return transform(f, argnums)(*full)

        return jax.jit(g)(*(args[i] for i in idx))

    for transform, argnums in [(jax.grad, (0, 1, 2, 3, 4)), (jax.grad, 2), (jax.jacfwd, 1)]:
        _same(transform(f, argnums)(*args), under_jit(transform, argnums))
    # Second derivatives are plain float32 arithmetic (products feeding sums), not
    # correctly rounded: where XLA fuses the forward and backward passes into one
    # program (jit) instead of two (eager), a few entries differ by one ulp. This was so
    # before eager calls were compiled too (then other entries differed).
    eager = jax.tree.leaves(jax.hessian(f, (1, 2))(*args))
    staged = jax.tree.leaves(under_jit(jax.hessian, (1, 2)))
    for x, y in zip(eager, staged, strict=True):
        gap = abs(int(_bits(x).astype(np.int64)) - int(_bits(y).astype(np.int64)))
        assert np.sign(x) == np.sign(y) and gap <= 1, (x, y)
    rates = jnp.asarray([0.5, 0.96, 1.0, 1.5], jnp.float32)
    swept = jax.vmap(lambda r: f(0.1, r, 1000.0, 3.0, 2500.5))
    _same(swept(rates), jax.jit(swept)(rates))


def test_warmup_eager_derivatives_equal_jit_bits():
    s = warmup_exponential_decay(0.0, 0.1, 100, 1000, 0.96)
    for t in [5.0, 99.5, 100.0, 3000.25]:
        _same(jax.grad(s)(t), jax.jit(jax.grad(s))(t))
    xs = jnp.asarray([0.0, 50.0, 150.0, 1e6], jnp.float32)
    _same(jax.vmap(s)(xs), jax.jit(jax.vmap(s))(xs))


def _compiles(fn, caplog) -> list[str]:
    """The programs XLA compiles while ``fn`` runs (JAX's own compile log)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="jax"), jax.log_compiles(True):
        jax.block_until_ready(fn())
    return [r.getMessage() for r in caplog.records if "Finished XLA compilation" in r.getMessage()]


def test_repeated_eager_grad_compiles_nothing(caplog):
    """The second eager call with new values compiles no program: neither for a new step
    nor for another schedule of the same structure, nor w.r.t. a hyperparameter."""
    s = exponential_decay(0.1, 1000, 0.96)
    jax.block_until_ready(jax.grad(s)(5.0))  # the first call compiles
    assert _compiles(lambda: jax.grad(s)(6.0), caplog) == []
    other = exponential_decay(0.5, 77, 0.9)
    assert _compiles(lambda: jax.grad(other)(7.0), caplog) == []
    xs, ys = jnp.arange(16.0), jnp.arange(1.0, 17.0)
    jax.block_until_ready(jax.vmap(jax.grad(s))(xs))
    assert _compiles(lambda: jax.vmap(jax.grad(other))(ys), caplog) == []

    def g(r):
        return exponential_decay(0.1, 1000, r)(5000.0)

    jax.block_until_ready(jax.grad(g)(0.96))
    assert _compiles(lambda: jax.grad(g)(0.9), caplog) == []
    # the log does report compiles (else the asserts above could not fail)
    assert _compiles(lambda: jax.jit(lambda t: s(t) * 3)(1.0), caplog) != []


def test_eager_transform_is_true_only_when_nothing_is_staged():
    seen: list[tuple[str, bool]] = []

    def probe(name):
        def f(x):
            seen.append((name, _eager_transform()))
            return x * 2.0

        return f

    x = jnp.float32(1.0)
    probe("top")(x)
    jax.grad(probe("grad"))(x)
    jax.jacfwd(probe("jacfwd"))(x)
    jax.hessian(probe("hessian"))(x)
    jax.vmap(probe("vmap"))(jnp.ones(3))
    jax.linearize(probe("linearize"), x)
    jax.vjp(probe("vjp"), x)
    jax.jit(probe("jit"))(x)
    jax.grad(jax.jit(probe("grad-jit")))(x)
    jax.jit(jax.grad(probe("jit-grad")))(x)
    jax.vmap(jax.jit(probe("vmap-jit")))(jnp.ones(3))
    jax.lax.scan(lambda c, t: (probe("scan")(c), t), x, jnp.ones(2))
    jax.lax.cond(True, probe("cond"), lambda v: v, x)
    jax.checkpoint(probe("remat"))(x)
    jax.grad(jax.checkpoint(probe("grad-remat")))(x)
    got = dict(seen)
    eager = {"top", "grad", "jacfwd", "hessian", "vmap", "linearize", "vjp"}
    assert {k for k, v in got.items() if v} == eager, got
    assert set(got) == eager | {
        "jit", "grad-jit", "jit-grad", "vmap-jit", "scan", "cond", "remat", "grad-remat"
    }  # fmt: skip
