"""``python -m jax_expdecay`` / ``jax-expdecay``: show, export and plot a schedule."""

from __future__ import annotations

import argparse
import csv
import decimal
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from ._config import _FIELDS, ExponentialDecayConfig
from ._schedule import exponential_decay
from ._serialization import deserialize

__all__ = ["main"]

PROG = "jax-expdecay"
SEED = {"initial_learning_rate": 0.1, "decay_steps": 100000, "decay_rate": 0.96, "staircase": True}
_CTX = decimal.Context(prec=50)

EPILOG = """\
examples:
  jax-expdecay                                   # the seed: 0.1 * 0.96 ** floor(step / 100000)
  jax-expdecay --decay-rate 0.5 --decay-steps 1000 --no-staircase --steps 0,500,1000,250000
  jax-expdecay --config keras_schedule.json --format json
  jax-expdecay --start 0 --stop 2000000 --num 50 --log --format csv
  jax-expdecay --plot schedule.png --log-y        # needs: pip install 'jax_expdecay[plot]'
  jax-expdecay --compare-keras                   # needs keras (KERAS_BACKEND=jax is used)

--config reads JSON: our ExponentialDecayConfig.to_dict(), a Keras get_config() dict, or
a serialized envelope {"class_name": "ExponentialDecay", "config": {...}} (Keras 3's
{"module", "class_name", "config", "registered_name"} too). Flags override its fields.
Nothing in the file is ever imported or executed. Errors print one line and exit 2.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        _fail(message)


class _Failure(Exception):
    pass


def _fail(message: str) -> NoReturn:
    raise _Failure(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Show, export and plot an exponential-decay learning-rate schedule "
        "(Keras's ExponentialDecay, computed exactly). Without arguments: the seed's "
        "example, 0.1 decayed by 0.96 every 100000 steps, staircase.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("schedule (Keras names; default: the seed's example)")
    g.add_argument("--config", metavar="FILE", help="JSON config file (see below)")
    g.add_argument("--initial-learning-rate", type=float, metavar="X")
    g.add_argument("--decay-steps", type=int, metavar="N")
    g.add_argument("--decay-rate", type=float, metavar="R")
    g.add_argument("--staircase", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--transition-begin", type=int, metavar="N")
    g.add_argument("--end-value", type=float, metavar="X")
    g.add_argument("--name", metavar="S")
    s = p.add_argument_group("steps (default: stair boundaries over 10 decay periods)")
    s.add_argument("--steps", metavar="S1,S2,...", help="explicit comma-separated steps")
    s.add_argument("--start", type=int, metavar="N", help="first step of a range")
    s.add_argument("--stop", type=int, metavar="N", help="last step of a range")
    s.add_argument("--num", type=int, default=11, metavar="N", help="points in the range")
    s.add_argument("--log", action="store_true", help="log-spaced range (from max(start, 1))")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("table", "json", "csv"), default="table")
    o.add_argument("--plot", metavar="FILE.png", help="write a plot (needs matplotlib)")
    o.add_argument("--log-y", action="store_true", help="log-scale y axis in the plot")
    o.add_argument(
        "--compare-keras", action="store_true", help="add Keras 3's value and the difference"
    )
    return p


def _load_config(args: argparse.Namespace) -> ExponentialDecayConfig:
    fields: dict[str, Any] = dict(SEED)
    if args.config is not None:
        try:
            with open(args.config, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as e:
            _fail(f"cannot read --config {args.config!r}: {e.strerror or e}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            _fail(f"--config {args.config!r} is not valid JSON: {e}")
        fields = deserialize(data).config.to_dict()
    for f in _FIELDS:
        value = getattr(args, f)
        if value is not None:
            fields[f] = value
    return ExponentialDecayConfig(**fields)


def _steps(args: argparse.Namespace, cfg: ExponentialDecayConfig) -> list[int]:
    if args.steps is not None:
        try:
            steps = [int(x) for x in args.steps.split(",") if x.strip()]
        except ValueError:
            _fail(f"--steps must be comma-separated integers, got {args.steps!r}")
        if not steps:
            _fail("--steps is empty")
        return steps
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    if args.start is not None or args.stop is not None:
        start = 0 if args.start is None else args.start
        stop = tb + 10 * d if args.stop is None else args.stop
        if stop < start:
            _fail(f"--stop ({stop}) must be >= --start ({start})")
        if args.num < 1:
            _fail(f"--num must be >= 1, got {args.num}")
        if args.log:
            grid = np.geomspace(max(start, 1), max(stop, 1), args.num)
        else:
            grid = np.linspace(start, stop, args.num)
        return sorted({round(float(x)) for x in grid})
    points = {0, tb} | {tb + k * d for k in range(1, 11)}
    if cfg.staircase:
        points |= {tb + k * d - 1 for k in range(1, 11)}
    return sorted(points)


def _crossings(cfg: ExponentialDecayConfig, horizon: int = 2**31 - 1) -> list[tuple[str, int]]:
    """First step (<= horizon, optax's last step by default) at which the rate passes
    each power of ten inside float32's normal range, computed exactly in decimal."""
    init = decimal.Decimal(float(cfg.initial_learning_rate))
    rate = decimal.Decimal(float(cfg.decay_rate))
    if init <= 0 or rate == 1 or rate == 0:
        return []
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    log_r = _CTX.ln(rate)
    decay = rate < 1
    out = []
    k = math.floor(math.log10(float(init))) if decay else math.ceil(math.log10(float(init)))
    while -38 <= k <= 38:
        target = decimal.Decimal(10) ** k
        if (decay and target >= init) or (not decay and target <= init):
            k += -1 if decay else 1
            continue
        # p * ln(r) < ln(target / init) (decay; > for growth): p > x with x below.
        x = _CTX.divide(_CTX.ln(_CTX.divide(target, init)), log_r)
        if cfg.staircase:
            q = math.floor(x) + 1
            step = tb + q * d
        else:
            step = tb + math.floor(_CTX.multiply(x, decimal.Decimal(d))) + 1
        if cfg.end_value is not None:
            ev = decimal.Decimal(float(cfg.end_value))
            if (decay and ev >= target) or (not decay and ev <= target):
                break
        if step > horizon:
            break
        out.append((f"{'<' if decay else '>'} 1e{k}", step))
        k += -1 if decay else 1
    return out


def _keras_values(cfg: ExponentialDecayConfig, steps: list[int]) -> np.ndarray:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError:
        _fail("--compare-keras needs keras: pip install keras (it runs on the JAX backend)")
    if cfg.transition_begin != 0 or cfg.end_value is not None:
        _fail("--compare-keras: Keras has no transition_begin/end_value; drop them to compare")
    k = keras.optimizers.schedules.ExponentialDecay(
        float(cfg.initial_learning_rate),
        int(cfg.decay_steps),
        float(cfg.decay_rate),
        bool(cfg.staircase),
    )
    return np.asarray([np.asarray(k(s)) for s in steps], np.float64)


def _plot(path: str, cfg: ExponentialDecayConfig, steps: list[int], log_y: bool) -> None:
    try:
        import matplotlib
    except ImportError:
        _fail("--plot needs matplotlib: pip install 'jax_expdecay[plot]'")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = min(steps), max(steps)
    grid = np.unique(np.linspace(lo, hi, 2000).round().astype(np.int64))
    lr = np.asarray(exponential_decay(cfg)(grid.astype(np.int32 if hi < 2**31 else np.float32)))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    ax.plot(grid, lr, drawstyle="steps-post" if cfg.staircase else "default", lw=1.6)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    s = f"step - {cfg.transition_begin}" if cfg.transition_begin else "step"
    p = f"floor(({s}) / {cfg.decay_steps})" if cfg.staircase else f"(({s}) / {cfg.decay_steps})"
    ax.set_title(f"{cfg.initial_learning_rate:g} * {cfg.decay_rate:g} ** {p}", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        _fail(f"cannot write --plot {path!r}: {e.strerror or e}")
    finally:
        plt.close(fig)


def _run(argv: Sequence[str] | None) -> str:
    args = _parser().parse_args(argv)
    try:
        cfg = _load_config(args)
    except (TypeError, ValueError) as e:
        _fail(str(e))
    steps = _steps(args, cfg)
    if min(steps) < -(2**31) or max(steps) > 2**31 - 1:
        _fail(f"steps must fit in int32 (optax's step counter), got {min(steps)}..{max(steps)}")
    lr = np.asarray(exponential_decay(cfg)(np.asarray(steps, np.int32)), np.float64)
    keras_lr = _keras_values(cfg, steps) if args.compare_keras else None
    if args.plot:
        _plot(args.plot, cfg, steps, args.log_y)
    crossings = _crossings(cfg)
    rows = []
    for i, (s, v) in enumerate(zip(steps, lr, strict=True)):
        row: dict[str, Any] = {"step": s, "learning_rate": float(v)}
        if keras_lr is not None:
            k = float(keras_lr[i])
            row["keras"] = k
            row["difference"] = k - float(v)
            row["ulp_float32"] = abs(k - float(v)) / float(np.spacing(np.float32(abs(v)) or 1))
        rows.append(row)
    if args.format == "json":
        return json.dumps(
            {
                "config": cfg.to_dict(),
                "rows": rows,
                "crossings": [{"threshold": t, "step": s} for t, s in crossings],
            },
            indent=2,
        )
    if args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
        return buf.getvalue().rstrip("\n")
    return _table(cfg, rows, crossings, args.plot)


def _table(cfg, rows, crossings, plot) -> str:
    kind = "floor(s / d)" if cfg.staircase else "s / d"
    lines = [
        f"lr = {cfg.initial_learning_rate!r} * {cfg.decay_rate!r} ** {kind}, "
        f"d = {cfg.decay_steps}, s = step - {cfg.transition_begin}"
        + (f", end_value = {cfg.end_value!r}" if cfg.end_value is not None else ""),
        "",
    ]
    header = f"{'step':>12}  {'learning rate':>15}"
    if "keras" in rows[0]:
        header += f"  {'keras':>15}  {'keras - ours':>13}  {'ulp':>10}"
    lines += [header, "-" * len(header)]
    for r in rows:
        line = f"{r['step']:>12}  {r['learning_rate']:>15.9g}"
        if "keras" in r:
            line += f"  {r['keras']:>15.9g}  {r['difference']:>13.3g}  {r['ulp_float32']:>10.4g}"
        lines.append(line)
    if crossings:
        lines += ["", "first step (up to 2**31 - 1) at which the rate crosses each power of ten:"]
        lines += [f"  {t:>8}  at step {s}" for t, s in crossings[:8]]
        if len(crossings) > 8:
            lines.append(f"  ... {len(crossings) - 8} more (--format json lists all)")
    if plot:
        lines += ["", f"plot written to {plot}"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (0, or 2 after a one-line error on stderr).

    Examples:
        >>> from jax_expdecay._cli import main
        >>> main(["--steps", "0,100000", "--format", "csv"])
        step,learning_rate
        0,0.10000000149011612
        100000,0.09600000083446503
        0
    """
    try:
        print(_run(argv))
    except _Failure as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    return 0
