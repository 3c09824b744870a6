"""The public API's typing contract, checked by pyright in strict mode (see pyproject).

Also collected by pytest, so the contract is exercised at runtime too. Wrong calls carry
a narrow ``pyright: ignore``; unnecessary ignores are errors here, so each one proves that
pyright rejects the call (and pytest that it raises at runtime).
"""
# pyright: reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax  # pyright: ignore[reportMissingTypeStubs]  # optax ships no stubs
import pytest
from typing_extensions import assert_type

import jax_expdecay
from jax_expdecay import (
    ExponentialDecay,
    ExponentialDecayConfig,
    current_learning_rate,
    deserialize,
    exponential_decay,
    serialize,
    set_schedule_step,
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
    assert_type(set_schedule_step(state, 3), optax.OptState)
    assert isinstance(jax_expdecay.__version__, str)
    assert float(lr) == float(sched(3))


def test_typing_annotations_and_optax_schedule() -> None:
    sched: ExponentialDecay = exponential_decay(0.1, 1000, 0.96)
    lr: jax.Array = sched(3)
    cfg: ExponentialDecayConfig = sched.config
    assert_type(cfg.staircase, bool)
    assert_type(cfg.name, str | None)
    as_schedule: optax.Schedule = sched
    assert float(as_schedule(3)) == float(lr)
    again = exponential_decay(ExponentialDecayConfig.from_config(sched.get_config()))
    assert again.config == cfg


def test_typing_rejects_wrong_calls() -> None:
    with pytest.raises(TypeError):
        exponential_decay("0.1", 1000, 0.96)  # pyright: ignore[reportArgumentType]
    with pytest.raises(TypeError):
        exponential_decay(0.1, 1000, 0.96, True, 5)  # pyright: ignore[reportCallIssue]
