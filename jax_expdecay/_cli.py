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

import jax
import numpy as np

from ._config import _FIELDS, ExponentialDecayConfig
from ._schedule import exponential_decay
from ._serialization import deserialize

__all__ = ["main"]

PROG = "jax-expdecay"
SEED = {"initial_learning_rate": 0.1, "decay_steps": 100000, "decay_rate": 0.96, "staircase": True}
_CTX = decimal.Context(prec=100)
# Two exponents closer than this (in log space) are taken as equal: the 100-digit logs err
# by < 1e-87 for any exponent below 2**31 * 745, far below it.
_TIE = decimal.Decimal("1e-80")
_MAX_NUM = 100_000


def _whole(text: str) -> int:
    """argparse type: a whole number written as 100000, 100_000 or 1e5."""
    try:
        value = decimal.Decimal(text.strip())
        if value.is_finite() and abs(value) < 2**63 and value == value.to_integral_value():
            return int(value)
    except decimal.InvalidOperation:
        pass
    raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")


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


def _version() -> str:
    from . import __version__

    return __version__


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=(
            "Show, export and plot an exponential-decay learning-rate schedule\n"
            "(Keras's ExponentialDecay, computed exactly):\n"
            "  lr = initial_learning_rate * decay_rate ** ((step - transition_begin) / decay_steps)\n"
            "with floor() of the exponent under --staircase. Without arguments: the seed's\n"
            "example, 0.1 decayed by 0.96 every 100000 steps, staircase."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    g = p.add_argument_group("schedule (Keras names; default: the seed's example)")
    g.add_argument("--config", metavar="FILE", help="JSON config file (see below)")
    g.add_argument("--initial-learning-rate", type=float, metavar="X", help="default 0.1")
    g.add_argument(
        "--decay-steps", type=_whole, metavar="N", help="steps per decay period (default 100000)"
    )
    g.add_argument("--decay-rate", type=float, metavar="R", help="per period (default 0.96)")
    g.add_argument(
        "--staircase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="floor the exponent: decay in stairs (default: on)",
    )
    g.add_argument(
        "--transition-begin", type=_whole, metavar="N", help="hold the rate until step N"
    )
    g.add_argument(
        "--end-value", type=float, metavar="X", help="floor (decay) or cap (growth) of the rate"
    )
    g.add_argument("--name", metavar="S", help="the config's name (kept in --format json)")
    s = p.add_argument_group(
        "steps (default: 0, the first stair boundaries, then log-spaced steps up to where\n"
        "the rate is 1e-3 of the initial one, at least 10 decay periods)"
    )
    s.add_argument(
        "--steps", metavar="S1,S2,...", help="explicit comma-separated steps (1e6 is fine)"
    )
    s.add_argument("--start", type=_whole, metavar="N", help="first step of a range (default 0)")
    s.add_argument(
        "--stop", type=_whole, metavar="N", help="last step of a range (default: as above)"
    )
    s.add_argument(
        "--num", type=_whole, metavar="N", help=f"points in the range (default 11, max {_MAX_NUM})"
    )
    s.add_argument("--log", action="store_true", help="log-spaced range (from max(start, 1))")
    o = p.add_argument_group("output")
    o.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="default: table"
    )
    o.add_argument("--plot", metavar="FILE.png", help="write a plot (needs matplotlib)")
    o.add_argument("--log-y", action="store_true", help="log-scale y axis in the plot")
    o.add_argument(
        "--compare-keras",
        action="store_true",
        help="add Keras 3's value, the relative difference and the float32 ulp distance",
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
        except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, huge ints
            _fail(f"--config {args.config!r} is not valid JSON: {e}")
        fields = deserialize(data).config.to_dict()
    for f in _FIELDS:
        value = getattr(args, f)
        if value is not None:
            fields[f] = value
    return ExponentialDecayConfig(**fields)


def _parse_steps(text: str) -> list[int]:
    try:
        steps = [_whole(x) for x in text.split(",") if x.strip()]
    except argparse.ArgumentTypeError:
        _fail(f"--steps must be comma-separated whole numbers, got {text!r}")
    if not steps:
        _fail("--steps is empty")
    return steps


def _horizon(cfg: ExponentialDecayConfig) -> int:
    """The default table's last step: where the rate reaches 1e-3 (1e3 when growing) of
    the initial one, at least 10 decay periods, at most optax's int32 step counter."""
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    last = tb + 10 * d
    rate = float(cfg.decay_rate)
    if 0 < rate != 1:
        p = abs(3 * math.log(10) / math.log(rate))  # rate ** p == 1e-3 (or 1e3)
        last = max(last, tb + (math.ceil(p) * d if cfg.staircase else math.ceil(p * d)))
    return min(last, 2**31 - 1)


def _round2(x: float) -> int:
    """x rounded to two significant digits (readable step numbers)."""
    if x < 100:
        return round(x)
    scale = 10 ** (len(str(round(x))) - 2)
    return round(x / scale) * scale


def _steps(args: argparse.Namespace, cfg: ExponentialDecayConfig) -> list[int]:
    if args.steps is not None:
        if any(a is not None for a in (args.start, args.stop, args.num)) or args.log:
            _fail("--steps cannot be combined with --start/--stop/--num/--log")
        return _parse_steps(args.steps)
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    if any(a is not None for a in (args.start, args.stop, args.num)) or args.log:
        start = 0 if args.start is None else args.start
        stop = _horizon(cfg) if args.stop is None else args.stop
        num = 11 if args.num is None else args.num
        if stop < start:
            _fail(f"--stop ({stop}) must be >= --start ({start})")
        if not 1 <= num <= _MAX_NUM:
            _fail(f"--num must be between 1 and {_MAX_NUM}, got {num}")
        if args.log:
            if stop < 1:
                _fail(f"--log needs --stop >= 1, got {stop}")
            grid = np.geomspace(max(start, 1), stop, num)
        else:
            grid = np.linspace(start, stop, num)
        return sorted({round(float(x)) for x in grid})
    last = _horizon(cfg)
    points = {0, tb} | {tb + k * d for k in range(1, 4)}
    if cfg.staircase:
        points |= {tb + k * d - 1 for k in range(1, 4)}
    first = tb + 4 * d
    if first < last:
        for x in np.geomspace(first, last, 8).tolist():
            if cfg.staircase:  # the first step of a stair
                points.add(tb + max(4, round(_round2(x - tb) / d)) * d)
            else:
                points.add(tb + _round2(x - tb))
    points.add(last)
    return sorted(p for p in points if p <= 2**31 - 1)


def _crossings(cfg: ExponentialDecayConfig, horizon: int = 2**31 - 1) -> list[tuple[str, int]]:
    """The first step (up to ``horizon``, optax's last int32 step by default) at which the
    exact schedule, ``init * rate ** p`` from the config's double values, is below
    (``rate < 1``) or above (``rate > 1``) each power of ten 1e-38 ... 1e38.

    Computed with 100-digit logarithms and confirmed by a local search: the step found
    has crossed and the step (continuous) or stair (staircase) before it has not. A value
    exactly equal to the power of ten has not crossed it. ``end_value`` stops the list.
    """
    init = decimal.Decimal(float(cfg.initial_learning_rate))
    rate = decimal.Decimal(float(cfg.decay_rate))
    if init <= 0 or rate == 1:
        return []
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    decay = rate < 1
    ev = None if cfg.end_value is None else decimal.Decimal(float(cfg.end_value))
    # Powers of ten the schedule can cross, in the order it crosses them.
    k0 = init.adjusted()  # 10**k0 <= init < 10**(k0 + 1)
    if decay:
        ks = range(k0, -39, -1)
    else:
        ks = range(k0 if init == decimal.Decimal(10) ** k0 else k0 + 1, 39)
    ln_init, ln10 = _CTX.ln(init), _CTX.ln(decimal.Decimal(10))
    ln_rate = _CTX.ln(rate) if rate > 0 else None

    def crossed(n: int, k: int) -> bool:  # n: the stair (staircase) or the step offset
        if ln_rate is None:  # rate 0: the value is 0 once the exponent is positive
            return n > 0
        p = decimal.Decimal(n) if cfg.staircase else _CTX.divide(n, d)
        ln_value = _CTX.add(ln_init, _CTX.multiply(p, ln_rate))
        excess = _CTX.subtract(ln_value, _CTX.multiply(k, ln10))
        return excess < -_TIE if decay else excess > _TIE

    out: list[tuple[str, int]] = []
    for k in ks:
        target = decimal.Decimal(10) ** k
        if ev is not None and (ev >= target if decay else ev <= target):
            break  # end_value keeps the rate on this side of the power of ten
        if ln_rate is None:
            n = 1
        else:
            # rate ** x == target / init: the first stair or step past x, then confirmed.
            x = _CTX.divide(_CTX.subtract(_CTX.multiply(k, ln10), ln_init), ln_rate)
            n = max(1, math.floor(x if cfg.staircase else _CTX.multiply(x, d)) + 1)
            while n > 1 and crossed(n - 1, k):
                n -= 1
            while not crossed(n, k):
                n += 1
        step = tb + (n * d if cfg.staircase else n)
        if step > horizon:
            break
        out.append((f"{'<' if decay else '>'} 1e{k}", step))
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
    d, tb = int(cfg.decay_steps), int(cfg.transition_begin)
    grid = np.linspace(lo, hi, 2000).round()
    if cfg.staircase:  # every stair's first step in range, so the corners are exact
        first, last = max(1, (lo - tb) // d + 1), (hi - tb) // d
        if 0 <= last - first < 4000:
            grid = np.concatenate([grid, tb + d * np.arange(first, last + 1)])
    grid = np.unique(np.concatenate([grid, [lo, hi, tb]]).clip(lo, hi)).astype(np.int32)
    lr = np.asarray(exponential_decay(cfg)(grid))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    if cfg.staircase:
        smooth = exponential_decay(cfg.replace(staircase=False))(grid)
        ax.plot(grid, np.asarray(smooth), "--", lw=0.9, color="0.55", label="staircase=False")
        ax.plot(grid, lr, drawstyle="steps-post", lw=1.6, color="C0", label="staircase=True")
        ax.legend(frameon=False)
    else:
        ax.plot(grid, lr, lw=1.6, color="C0")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_y:
        ax.set_yscale("log")
    s = f"(step - {cfg.transition_begin})" if cfg.transition_begin else "step"
    p = f"floor({s} / {cfg.decay_steps})" if cfg.staircase else f"({s} / {cfg.decay_steps})"
    title = f"{cfg.initial_learning_rate:g} * {cfg.decay_rate:g} ** {p}"
    if cfg.end_value is not None:
        title += f", {'floor' if float(cfg.decay_rate) < 1 else 'cap'} {cfg.end_value:g}"
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    except OSError as e:
        _fail(f"cannot write --plot {path!r}: {e.strerror or e}")
    finally:
        plt.close(fig)


def _ulp32(got: float, ours: float) -> float:
    """|got - ours| in units of float32's spacing at ``ours`` (normal range)."""
    if got == ours:  # also equal infinities
        return 0.0
    spacing = float(np.spacing(np.float32(max(abs(ours), np.finfo(np.float32).tiny))))
    return abs(got - ours) / spacing


def _json_number(v: Any) -> Any:
    """Strict JSON has no inf/nan: those floats become the strings "inf", "-inf", "nan"."""
    return repr(v) if isinstance(v, float) and not math.isfinite(v) else v


def _run(argv: Sequence[str] | None) -> str:
    args = _parser().parse_args(argv)
    try:
        cfg = _load_config(args)
    except (TypeError, ValueError) as e:
        _fail(str(e))
    steps = _steps(args, cfg)
    if min(steps) < -(2**31) or max(steps) > 2**31 - 1:
        _fail(f"steps must fit in int32 (optax's step counter), got {min(steps)}..{max(steps)}")
    # One scalar call per step, as an optimizer sees it: a batched call can differ in the
    # last bit (XLA:CPU's vectorized exp), and a table should not depend on its neighbours.
    fn = jax.jit(exponential_decay(cfg))
    lr = [float(fn(np.int32(s))) for s in steps]
    keras_lr = _keras_values(cfg, steps) if args.compare_keras else None
    if args.plot:
        _plot(args.plot, cfg, steps, args.log_y)
    crossings = _crossings(cfg)
    rows = []
    for i, (s, v) in enumerate(zip(steps, lr, strict=True)):
        row: dict[str, Any] = {"step": s, "learning_rate": v}
        if keras_lr is not None:
            k = float(keras_lr[i])
            row["keras"] = k
            row["difference"] = 0.0 if k == v else k - v  # (also for equal infinities)
            finite = v != 0 and math.isfinite(v) and math.isfinite(k)
            row["relative"] = 0.0 if k == v else ((k - v) / v if finite else None)
            row["ulp_float32"] = _ulp32(k, v)
        rows.append(row)
    if args.format == "json":
        return json.dumps(
            {
                "config": cfg.to_dict(),
                "rows": [{k: _json_number(v) for k, v in row.items()} for row in rows],
                "crossings": [{"threshold": t, "step": s} for t, s in crossings],
            },
            indent=2,
            allow_nan=False,
        )
    if args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in row.items()})
        return buf.getvalue().rstrip("\n")
    return _table(cfg, rows, crossings, args.plot)


def _table(
    cfg: ExponentialDecayConfig,
    rows: list[dict[str, Any]],
    crossings: list[tuple[str, int]],
    plot: str | None,
) -> str:
    kind = "floor(s / d)" if cfg.staircase else "(s / d)"
    lines = [
        f"lr = {cfg.initial_learning_rate!r} * {cfg.decay_rate!r} ** {kind}, "
        f"d = {cfg.decay_steps}, s = step"
        + (f" - {cfg.transition_begin}" if cfg.transition_begin else "")
        + (f", end_value = {cfg.end_value!r}" if cfg.end_value is not None else ""),
        "",
    ]
    header = f"{'step':>12}  {'learning rate':>15}"
    if "keras" in rows[0]:
        header += f"  {'keras':>15}  {'(keras-ours)':>13}  {'f32 ulp':>10}"
        header += f"\n{'':>12}  {'':>15}  {'':>15}  {'/ ours':>13}"
    lines += [header, "-" * max(map(len, header.splitlines()))]
    for r in rows:
        line = f"{r['step']:>12}  {r['learning_rate']:>15.9g}"
        if "keras" in r:
            rel = "-" if r["relative"] is None else f"{r['relative']:+.3g}"
            line += f"  {r['keras']:>15.9g}  {rel:>13}  {r['ulp_float32']:>10.4g}"
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
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `jax-expdecay --num 100000 | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush succeeds
        return 1
    except _Failure as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    return 0
