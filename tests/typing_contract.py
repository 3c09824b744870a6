"""The public API's typing contract, checked by pyright in strict mode (see pyproject).

Also collected by pytest, so the contract is exercised at runtime too.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax  # pyright: ignore[reportMissingTypeStubs]  # optax ships no stubs
from typing_extensions import assert_type

import jax_expdecay
from jax_expdecay import (
    ExponentialDecay,
    ExponentialDecayConfig,
    current_learning_rate,
    deserialize,
    exponential_decay,
    serialize,
    stack,
    unstack,
)


def test_typing_contract() -> None:
    sched = exponential_decay(0.1, 1000, 0.96, staircase=True)
    assert_type(sched, ExponentialDecay)
    lr = sched(jnp.int32(3))
    assert_type(lr, jax.Array)
    assert_type(sched(7), jax.Array)

    cfg = ExponentialDecayConfig(0.1, 1000, 0.96)
    assert_type(exponential_decay(cfg), ExponentialDecay)
    data = cfg.to_dict()
    assert_type(data, dict[str, Any])
    assert_type(ExponentialDecayConfig.from_dict(data), ExponentialDecayConfig)
    assert_type(cfg.replace(decay_rate=0.5), ExponentialDecayConfig)

    envelope = serialize(sched)
    assert_type(envelope, dict[str, Any])
    assert_type(deserialize(envelope), ExponentialDecay)

    batch = stack([cfg, cfg.replace(decay_rate=0.5)])
    assert_type(batch, ExponentialDecayConfig)
    assert_type(unstack(batch), list[ExponentialDecayConfig])

    tx = optax.sgd(learning_rate=sched)  # an optax.Schedule
    params = {"w": sched(0)}  # any jax.Array
    state = tx.init(params)
    assert_type(current_learning_rate(sched, state), jax.Array)
    assert isinstance(jax_expdecay.__version__, str)
    assert float(lr) == float(sched(3))
