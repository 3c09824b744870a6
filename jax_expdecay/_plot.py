"""``plot``: a matplotlib ``Figure`` of a schedule, or of a batch of them, for notebooks.

matplotlib is imported only when ``plot`` is called (it is the ``[plot]`` extra). The
figure is made with ``matplotlib.figure.Figure``, not ``pyplot``: no global state, no
open-figure warnings in loops; Jupyter shows a returned ``Figure`` as an image.

Values are the schedule's own (float32 nearest the exact ones, from one jitted call on
the grid); a staircase is drawn as steps whose corners are the exact first steps of each
stair in range (up to 4000 of them), so a stair never looks a step early or late.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._config import ExponentialDecayConfig
from ._schedule import ExponentialDecay, exponential_decay

__all__ = ["plot"]

_MAX_CORNERS = 4000  # stair corners added to the grid, per schedule


def _schedules(schedule: Any) -> list[ExponentialDecay]:
    """One schedule per curve: a batch is split, configs are built, lists are flattened."""
    if isinstance(schedule, ExponentialDecayConfig):
        schedule = exponential_decay(schedule)
    if isinstance(schedule, ExponentialDecay):
        shape = schedule.batch_shape
        if not shape:
            return [schedule]
        flat = np.arange(int(np.prod(shape))).reshape(shape)
        return [schedule[np.unravel_index(i, shape)] for i in flat.ravel()]
    if isinstance(schedule, Sequence) and not isinstance(schedule, str) and schedule:
        return [s for item in schedule for s in _schedules(item)]
    raise TypeError(
        "plot: schedule must be an ExponentialDecay (one or a batch), an "
        "ExponentialDecayConfig, or a non-empty list of them, got "
        f"{type(schedule).__name__}"
    )


def _grid(cfg: ExponentialDecayConfig, lo: int, hi: int) -> np.ndarray:
    grid = np.linspace(lo, hi, 2000).round()
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    extra = np.asarray([lo, hi, tb], np.float64)
    if cfg.staircase:  # the first step of every stair in range: exact corners
        first, last = max(1, (lo - tb) // d + 1), (hi - tb) // d
        if 0 <= last - first < _MAX_CORNERS:
            extra = np.concatenate([extra, tb + d * np.arange(first, last + 1, dtype=np.float64)])
    return np.unique(np.concatenate([grid, extra]).clip(lo, hi)).astype(np.int64)


def _label(cfg: ExponentialDecayConfig) -> str:
    p = "floor(s / d)" if cfg.staircase else "s / d"
    text = f"{cfg.initial_learning_rate:g} * {cfg.decay_rate:g} ** ({p}), d = {cfg.decay_steps}"
    if cfg.transition_begin:
        text += f", from step {cfg.transition_begin}"
    if cfg.end_value is not None:
        text += f", {'floor' if float(cfg.decay_rate) < 1 else 'cap'} {cfg.end_value:g}"
    return text


def plot(
    schedule: Any,
    steps: int | tuple[int, int] | None = None,
    *,
    log_y: bool = False,
    labels: Sequence[str] | None = None,
    ax: Any = None,
) -> Any:
    """A matplotlib ``Figure`` of a schedule's learning rate against the step.

    One curve per schedule: a batch (from :func:`stack`) or a list gives one each, with
    a legend. A staircase is drawn as stairs with exact corners. Needs matplotlib
    (``pip install 'jax_expdecay[plot]'``); the command line's ``--plot FILE`` draws the
    same kind of figure.

    Args:
      schedule: an ``ExponentialDecay`` (one, or a batch), an ``ExponentialDecayConfig``,
        or a list of them. Traced values cannot be plotted.
      steps: the last step (an int: steps 0 to it), a ``(first, last)`` pair, or None:
        from 0 to where the first schedule reaches 1e-3 of its initial rate, at least
        10 decay periods (the command line's default horizon).
      log_y: a logarithmic learning-rate axis.
      labels: one legend label per curve (default: each config's formula).
      ax: a matplotlib ``Axes`` to draw into (its figure is returned); default a new
        figure of 6.4 x 3.6 inches.

    Returns:
      The ``matplotlib.figure.Figure``.

    Raises:
      ImportError: matplotlib is not installed (the message says how to install it).
      TypeError: ``schedule`` is none of the above.
      ValueError: ``steps`` is negative, reversed or beyond 2**31 - 1, or ``labels`` does
        not have one label per curve.

    Examples:
      >>> from jax_expdecay import ExponentialDecayConfig, exponential_decay, plot, stack
      >>> fig = plot(exponential_decay(0.1, 1000, 0.5, staircase=True), 5000)
      >>> [line.get_label() for line in fig.axes[0].get_lines()]
      ['0.1 * 0.5 ** (floor(s / d)), d = 1000']
      >>> sweep = stack([ExponentialDecayConfig(0.1, 1000, r) for r in (0.5, 0.9)])
      >>> len(plot(sweep, (0, 5000), log_y=True).axes[0].get_lines())
      2
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plot needs matplotlib: pip install 'jax_expdecay[plot]'") from e
    scheds = _schedules(schedule)
    if labels is not None and len(labels) != len(scheds):
        raise ValueError(f"plot: labels has {len(labels)} labels for {len(scheds)} curves")
    if steps is None:
        from ._cli import _horizon

        lo, hi = 0, _horizon(scheds[0].config)
    elif isinstance(steps, tuple):
        lo, hi = (int(s) for s in steps)
    else:
        lo, hi = 0, int(steps)
    if not 0 <= lo < hi <= 2**31 - 1:
        raise ValueError(
            f"plot: steps must run from a first step >= 0 to a larger last step <= 2**31 - 1, "
            f"got {lo}..{hi}"
        )
    if ax is None:
        fig = Figure(figsize=(6.4, 3.6), dpi=100)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for i, sched in enumerate(scheds):
        cfg = sched.config
        grid = _grid(cfg, lo, hi)
        lr = np.asarray(sched(grid.astype(np.uint32)), np.float64)
        label = labels[i] if labels is not None else _label(cfg)
        style = {"drawstyle": "steps-post"} if cfg.staircase else {}
        ax.plot(grid, lr, lw=1.5, label=label, **style)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
