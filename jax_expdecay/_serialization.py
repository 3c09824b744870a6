"""Keras-compatible ``serialize``/``deserialize`` envelopes for the schedule.

One job: turn a schedule (or its config) into the ``{"class_name", "config"}`` dict of
Keras's classic serialization format (read by Keras 3's
``keras.optimizers.schedules.deserialize``, and the format tf.keras 2.x writes), and read
such dicts (ours, Keras 3's, or a bare config) back, strictly.

Policy
------
* ``serialize`` writes ``{"class_name": "ExponentialDecay", "config": {...}}``. The
  config holds Keras's five keys (``initial_learning_rate``, ``decay_steps``,
  ``decay_rate``, ``staircase``, ``name``). Our extensions ``transition_begin`` and
  ``end_value`` are written **only when they differ from their defaults** (0 and None).
  So a Keras-expressible schedule gives a pure Keras config, and a schedule Keras cannot
  express still round-trips through :func:`deserialize`; Keras's own ``deserialize``
  refuses such a dict with ``TypeError`` (``unexpected keyword argument
  'transition_begin'``) rather than silently dropping the extension (checked in
  ``tests/test_keras.py``).
* ``deserialize`` returns an :class:`~jax_expdecay.ExponentialDecay` schedule, as Keras's
  ``deserialize`` returns a schedule object; its ``.config`` is the
  :class:`~jax_expdecay.ExponentialDecayConfig`.
* Accepted inputs: our envelope; Keras 3's envelope ``{"module", "class_name", "config",
  "registered_name"}`` with ``module`` absent/None/``"keras.optimizers.schedules"`` and
  ``registered_name`` absent/None/``"ExponentialDecay"``; or a bare config dict (no
  ``class_name`` and no ``config`` key). Only the class name ``"ExponentialDecay"`` is
  accepted. Nothing read from the dict is ever imported, looked up or executed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._config import _KERAS_KEYS, ExponentialDecayConfig, _describe
from ._schedule import ExponentialDecay

__all__ = ["deserialize", "serialize"]

_CLASS_NAME = "ExponentialDecay"
_KERAS_MODULE = "keras.optimizers.schedules"
_ENVELOPE_KEYS = ("class_name", "config", "module", "registered_name")


def serialize(schedule_or_config: ExponentialDecay | ExponentialDecayConfig) -> dict[str, Any]:
    """Returns the Keras-style envelope ``{"class_name": ..., "config": {...}}``.

    The result is JSON-native (``json.dumps`` works) and is read by
    :func:`deserialize` and, when ``transition_begin == 0`` and ``end_value is None``, by
    ``keras.optimizers.schedules.deserialize`` (Keras's classic format). Non-default
    ``transition_begin``/``end_value`` are written as extra config keys, which Keras
    refuses with ``TypeError``.

    Args:
      schedule_or_config: an :class:`~jax_expdecay.ExponentialDecay` or an
        :class:`~jax_expdecay.ExponentialDecayConfig` (scalar, concrete values).

    Returns:
      A new dict ``{"class_name": "ExponentialDecay", "config": {...}}``.

    Raises:
      TypeError: for any other type, or a config holding tracers or batched arrays.

    Examples:
      >>> import json
      >>> from jax_expdecay import exponential_decay, serialize
      >>> print(json.dumps(serialize(exponential_decay(0.1, 1000, 0.96, staircase=True))))
      {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.96, "staircase": true, "name": "ExponentialDecay"}}
      >>> serialize(exponential_decay(0.1, 1000, 0.96, transition_begin=50))["config"]["transition_begin"]
      50
      >>> serialize({"initial_learning_rate": 0.1})
      Traceback (most recent call last):
      ...
      TypeError: serialize() takes an ExponentialDecay schedule or an ExponentialDecayConfig, got dict
    """
    if isinstance(schedule_or_config, ExponentialDecay):
        cfg = schedule_or_config.config
    elif isinstance(schedule_or_config, ExponentialDecayConfig):
        cfg = schedule_or_config
    else:
        raise TypeError(
            "serialize() takes an ExponentialDecay schedule or an ExponentialDecayConfig, "
            f"got {type(schedule_or_config).__name__}"
        )
    full = cfg.to_dict()
    config = {k: full[k] for k in _KERAS_KEYS}
    if full["transition_begin"] != 0:
        config["transition_begin"] = full["transition_begin"]
    if full["end_value"] is not None:
        config["end_value"] = full["end_value"]
    return {"class_name": _CLASS_NAME, "config": config}


def _not_a_schedule(d: Any) -> str | None:
    """Where to look instead, when ``d`` is a Keras object, path, optimizer or model dict."""
    if not isinstance(d, Mapping):
        if type(d).__module__.split(".")[0] == "keras":
            return (
                f"deserialize() takes a dict, got a Keras {type(d).__name__} object; "
                "jax_expdecay.from_keras(obj) reads Keras schedules and optimizers"
            )
        if isinstance(d, str | os.PathLike):
            return (
                f"deserialize() takes a dict, got {_describe(d)}; "
                "jax_expdecay.from_keras(path) reads .keras files"
            )
        return None
    if "compile_config" in d:
        return (
            "deserialize: got a saved Keras model's config (config.json), not a schedule; its "
            "schedule is at ['compile_config']['optimizer']['config']['learning_rate']: "
            "jax_expdecay.from_keras(d) reads it"
        )
    enveloped = "class_name" in d or "config" in d
    config = d.get("config") if enveloped else d
    if isinstance(config, Mapping) and ("learning_rate" in config or "inner_optimizer" in config):
        name = d.get("class_name") if enveloped else config.get("name")
        name = repr(name[:60]) if isinstance(name, str) else _describe(name)
        where = "['config']['learning_rate']" if enveloped else "['learning_rate']"
        return (
            f"deserialize: got a Keras optimizer's config ({name}), not a "
            f"schedule; its schedule is at {where}: jax_expdecay.from_keras(d) reads it"
        )
    return None


def deserialize(d: Mapping[str, Any]) -> ExponentialDecay:
    """Builds a schedule from a :func:`serialize` dict, a Keras envelope or a bare config.

    Reads our envelope, Keras 3's ``keras.optimizers.schedules.serialize`` output
    (``module`` must be ``"keras.optimizers.schedules"`` or None, ``registered_name``
    None or ``"ExponentialDecay"``), and a bare ``get_config()`` dict. Strict: the only
    accepted class is ``"ExponentialDecay"``; unknown keys are refused; nothing is
    imported or executed.

    Args:
      d: the dict to read.

    Returns:
      An :class:`~jax_expdecay.ExponentialDecay` (its ``.config`` is the config).

    Raises:
      TypeError: ``d`` or its ``"config"`` is not a dict, or a value has the wrong type.
      ValueError: another class name, module or registered name; unknown or missing
        keys; out-of-range values. The message names the key and the value. A Keras
        optimizer's or saved model's config is refused with where its schedule is
        (:func:`~jax_expdecay.from_keras` reads those, and Keras objects and files).

    Examples:
      >>> from jax_expdecay import deserialize
      >>> keras3 = {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
      ...           "config": {"initial_learning_rate": 1.0, "decay_steps": 10,
      ...                      "decay_rate": 0.5, "staircase": True,
      ...                      "name": "ExponentialDecay"},
      ...           "registered_name": None}
      >>> sched = deserialize(keras3)
      >>> [float(sched(s)) for s in (9, 10, 25)]
      [1.0, 0.5, 0.25]
      >>> deserialize({"initial_learning_rate": 1.0, "decay_steps": 10,
      ...              "decay_rate": 0.5}).config.staircase
      False
      >>> deserialize({"class_name": "CosineDecay", "config": {}})
      Traceback (most recent call last):
      ...
      ValueError: deserialize: class_name must be 'ExponentialDecay', got 'CosineDecay' (type str)
    """
    if not isinstance(d, Mapping):
        raise TypeError(_not_a_schedule(d) or f"deserialize() takes a dict, got {_describe(d)}")
    bad_keys = [k for k in d if not isinstance(k, str)]
    if bad_keys:
        raise ValueError(f"deserialize: dict keys must be strings, got {_describe(bad_keys[0])}")
    hint = _not_a_schedule(d)
    if hint is not None:
        raise ValueError(hint)
    if "class_name" not in d and "config" not in d:
        return ExponentialDecay(ExponentialDecayConfig.from_dict(d))  # a bare config
    unknown = sorted(k for k in d if k not in _ENVELOPE_KEYS)
    if unknown:
        more = " (and more)" if len(unknown) > 10 else ""
        raise ValueError(
            f"deserialize: unknown envelope keys {[k[:60] for k in unknown[:10]]}{more}; "
            f"allowed keys are {list(_ENVELOPE_KEYS)}"
        )
    missing = [k for k in ("class_name", "config") if k not in d]
    if missing:
        raise ValueError(f"deserialize: envelope is missing keys {missing}")
    class_name = d["class_name"]
    if not isinstance(class_name, str):
        raise TypeError(f"deserialize: class_name must be a str, got {_describe(class_name)}")
    if class_name != _CLASS_NAME:
        raise ValueError(
            f"deserialize: class_name must be {_CLASS_NAME!r}, got {_describe(class_name)}"
        )
    module = d.get("module")
    if module is not None and module != _KERAS_MODULE:
        raise ValueError(
            f"deserialize: module must be {_KERAS_MODULE!r} or None, got {_describe(module)}"
        )
    registered = d.get("registered_name")
    if registered is not None and registered != _CLASS_NAME:
        raise ValueError(
            f"deserialize: registered_name must be {_CLASS_NAME!r} or None, "
            f"got {_describe(registered)}"
        )
    config = d["config"]
    if not isinstance(config, Mapping):
        raise TypeError(f"deserialize: config must be a dict, got {_describe(config)}")
    return ExponentialDecay(ExponentialDecayConfig.from_dict(config))
