"""What a Keras user types next (issue 17, items 6 and 7): the schedule's fields as
attributes, clear messages for a model or an empty batch, the CLI's Keras habits."""

from __future__ import annotations

import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack

FIELDS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase",
          "transition_begin", "end_value", "name")  # fmt: skip


def test_schedule_fields_are_read_only_attributes():
    sched = exponential_decay(0.1, 1000, 0.96, staircase=True, transition_begin=5,
                              end_value=1e-4, name="lr")  # fmt: skip
    for f in FIELDS:
        assert getattr(sched, f) == getattr(sched.config, f), f
        with pytest.raises(
            AttributeError, match=f"property '{f}' of 'ExponentialDecay' object has no setter"
        ):
            setattr(sched, f, 1)
    assert sched.initial_learning_rate == 0.1 and sched.staircase is True
    batch = exponential_decay(stack([ExponentialDecayConfig(0.1, 10, r) for r in (0.5, 0.9)]))
    assert batch.decay_rate.shape == (2,) and batch[1].decay_rate == batch.config[1].decay_rate
    assert set(FIELDS) == {f for f in ExponentialDecayConfig.__dataclass_fields__}
