"""``optax_from_keras``: the optax optimizer that trains as a Keras optimizer does.

One job: map a Keras 3 optimizer (SGD, Adam, AdamW, RMSprop) whose learning rate is an
``ExponentialDecay`` to the optax chain with the same update rule, using our schedule.
Keras's rules (keras/src/optimizers/*.py, Keras 3.15), with ``lr`` the schedule's value:

- SGD: ``m = momentum * m - lr * g``; ``w += m`` (nesterov: ``w += momentum * m - lr * g``).
  The learning rate is applied *before* the momentum sum, so across a change of rate
  this is ``chain(scale_by_learning_rate(s), trace(momentum, nesterov))``, not
  ``optax.sgd`` (which scales the sum by the current rate).
- Adam / AdamW: ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``, AdamW
  first ``w -= lr * weight_decay * w``: ``optax.adam`` / ``optax.adamw``, except where
  epsilon goes: Keras adds it to ``sqrt(v)`` before the bias correction, optax after
  (a relative difference of order ``eps / sqrt(v)``: nil once ``|g| >> 1e-7``).
- RMSprop: ``v = rho * v + (1 - rho) * g^2``; ``w -= lr * g / sqrt(v + eps)`` (centered:
  ``v - avg^2 + eps``), momentum summing the increments: ``optax.rmsprop`` exactly.

Options optax has no equivalent for here (``clipnorm`` per variable, EMA, loss scale
factor, gradient accumulation, ``amsgrad``, weight decay on SGD/RMSprop) are refused,
naming the option; ``global_clipnorm`` and ``clipvalue`` become
``optax.clip_by_global_norm``/``optax.clip`` in front.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ._config import _describe
from ._keras import from_keras

__all__ = ["optax_from_keras"]

_KINDS = ("SGD", "Adam", "AdamW", "RMSprop")
# Keras options, and the value that means "off" (anything else is refused).
_OFF: dict[str, Any] = {
    "clipnorm": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    "amsgrad": False,
}


def _optimizer_config(x: Any) -> tuple[str, Mapping[str, Any]]:
    """(class name, config) of the Keras optimizer in ``x`` (LossScaleOptimizer unwrapped)."""
    if isinstance(x, str | os.PathLike):
        x = _file_optimizer(os.fspath(x))
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(x, keras.optimizers.Optimizer):
        while getattr(x, "inner_optimizer", None) is not None:
            x = x.inner_optimizer
        return type(x).__name__, x.get_config()
    if isinstance(x, Mapping):
        for _ in range(8):
            cfg = x.get("config")
            if not isinstance(cfg, Mapping) or not isinstance(x.get("class_name"), str):
                raise ValueError(
                    "optax_from_keras: a dict must be keras.optimizers.serialize(optimizer) "
                    "({'class_name': ..., 'config': {...}}): a get_config() dict does not say "
                    "which optimizer it is"
                )
            if not isinstance(cfg.get("inner_optimizer"), Mapping):
                return x["class_name"], cfg
            x = cfg["inner_optimizer"]
    raise TypeError(
        "optax_from_keras() takes a Keras optimizer (object, keras.optimizers.serialize() "
        f"dict, or a .keras file path), got {_describe(x)}"
    )


def _file_optimizer(path: str) -> Mapping[str, Any]:
    """The serialized optimizer in a .keras file's config.json (read as from_keras does)."""
    import zipfile

    from ._keras import _CONFIG, _open_regular, _read_config

    with _open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
        data = _read_config(zf, path)
    compile_config = data.get("compile_config") if isinstance(data, Mapping) else None
    optimizer = compile_config.get("optimizer") if isinstance(compile_config, Mapping) else None
    if not isinstance(optimizer, Mapping):
        raise ValueError(f"optax_from_keras: {_CONFIG} in {path!r} has no serialized optimizer")
    return optimizer


def optax_from_keras(x: Any, *, with_step: bool = False) -> Any:
    """The optax optimizer that trains as the given Keras optimizer does, with our schedule.

    For porting a Keras training run in one call: a Keras ``SGD`` (with ``momentum``,
    ``nesterov``), ``Adam``, ``AdamW`` or ``RMSprop`` (``rho``, ``momentum``, ``centered``)
    whose learning rate is ``keras.optimizers.schedules.ExponentialDecay`` becomes the
    optax chain with the same update rule and hyperparameters, its learning rate our
    exact schedule (:func:`from_keras` of the same input). SGD with momentum scales the
    gradient by the rate *before* the momentum sum, as Keras does (``optax.sgd`` scales
    after); Adam's epsilon is added after the bias correction (optax's place; Keras adds
    it before: a relative difference of order ``epsilon / sqrt(v)``). Keras's optimizer
    slots (moments) are not carried over: start from ``tx.init(params)`` and, to resume,
    :func:`set_schedule_step` with the step.

    Args:
      x: a Keras optimizer object, ``keras.optimizers.serialize(optimizer)``, or the path
        of a saved ``.keras`` model (its optimizer). ``LossScaleOptimizer`` is unwrapped.
      with_step: also return the optimizer's step counter (``iterations``), as
        :func:`from_keras` does.

    Returns:
      An ``optax.GradientTransformation``; with ``with_step=True``, ``(tx, step)``.

    Raises:
      TypeError: ``x`` is not a Keras optimizer, dict or path.
      ValueError: another optimizer class; a learning rate that is not an
        ``ExponentialDecay``; an option optax has no equivalent for here (``clipnorm``,
        ``use_ema``, ``loss_scale_factor``, ``gradient_accumulation_steps``, ``amsgrad``,
        ``weight_decay`` on SGD or RMSprop), named in the message.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jax_expdecay import optax_from_keras, set_schedule_step
      >>> keras_sgd = {"class_name": "SGD", "config": {
      ...     "learning_rate": {"class_name": "ExponentialDecay", "config": {
      ...         "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}},
      ...     "momentum": 0.9, "nesterov": False}}
      >>> tx = optax_from_keras(keras_sgd)
      >>> state = set_schedule_step(tx.init(jnp.zeros(2)), 10)
      >>> updates, state = tx.update(jnp.ones(2), state)
      >>> updates.tolist()  # -lr * g at step 10: -0.05
      [-0.05000000074505806, -0.05000000074505806]
    """
    import optax

    name, cfg = _optimizer_config(x)
    if name not in _KINDS:
        raise ValueError(
            f"optax_from_keras: optimizer {name[:60]!r} is not one of {', '.join(_KINDS)}; "
            "use from_keras(x) for its schedule and build the optax optimizer yourself"
        )
    if with_step:
        sched, step = from_keras(x, with_step=True)
    else:
        sched, step = from_keras(x), None
    on = {k: cfg[k] for k, off in _OFF.items() if cfg.get(k, off) != off}
    wd = cfg.get("weight_decay")
    if wd and name in ("SGD", "RMSprop"):
        on["weight_decay"] = wd
    if on:
        shown = ", ".join(f"{k}={_describe(v)}" for k, v in on.items())
        raise ValueError(
            f"optax_from_keras: {name} with {shown} has no equivalent here; remove it from "
            "the Keras optimizer, or build the optax chain yourself"
        )

    def get(key: str) -> float:
        return float(cfg[key])

    if name == "SGD":
        mom = float(cfg.get("momentum") or 0.0)
        core = optax.scale_by_learning_rate(sched)
        if mom:
            core = optax.chain(core, optax.trace(decay=mom, nesterov=bool(cfg.get("nesterov"))))
    elif name in ("Adam", "AdamW") and wd:
        core = optax.adamw(sched, get("beta_1"), get("beta_2"), get("epsilon"), weight_decay=wd)
    elif name in ("Adam", "AdamW"):
        core = optax.adam(sched, get("beta_1"), get("beta_2"), get("epsilon"))
    else:
        core = optax.rmsprop(
            sched,
            decay=get("rho"),
            eps=get("epsilon"),
            centered=bool(cfg.get("centered")),
            momentum=float(cfg.get("momentum") or 0.0) or None,
        )
    clips = []
    if cfg.get("global_clipnorm") is not None:
        clips.append(optax.clip_by_global_norm(float(cfg["global_clipnorm"])))
    if cfg.get("clipvalue") is not None:
        clips.append(optax.clip(float(cfg["clipvalue"])))
    tx = optax.chain(*clips, core) if clips else core
    return (tx, step) if with_step else tx
