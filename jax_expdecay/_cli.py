"""``python -m jax_expdecay`` / ``jax-expdecay``: show, export and plot a schedule."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import decimal
import io
import json
import math
import os
import re
import stat
import sys
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NoReturn

import jax
import numpy as np

from ._config import _FIELDS, _REQUIRED_KEYS, ExponentialDecayConfig
from ._crossing import _first_step_above, first_step_below
from ._keras import _optimizer_parts
from ._schedule import exponential_decay
from ._serialization import deserialize

__all__ = ["main"]

PROG = "jax-expdecay"
# The demo shown when no schedule flag (and no --config) is given: the example in the
# Keras documentation of ExponentialDecay.
KERAS_EXAMPLE = {
    "initial_learning_rate": 0.1,
    "decay_steps": 100000,
    "decay_rate": 0.96,
    "staircase": True,
}
# Every other run uses the library's own defaults, read from the config class itself so
# that the CLI cannot drift from exponential_decay(): staircase=False, transition_begin=0,
# end_value=None, name="ExponentialDecay". The three required fields have no default.
LIBRARY_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(ExponentialDecayConfig)
    if f.default is not dataclasses.MISSING
}
_INT32_MAX = 2**31 - 1
_MAX_NUM = 100_000
_MAX_CONFIG_BYTES = 1 << 20  # a config is a few hundred bytes; 1 MiB is generous
# Options that take a value, for `--steps -5,0` (argparse < 3.13 reads "-5,0" as an option).
_VALUE_OPTIONS = (
    "--config",
    "--initial-learning-rate",
    "--decay-steps",
    "--decay-rate",
    "--transition-begin",
    "--end-value",
    "--name",
    "--steps",
    "--start",
    "--stop",
    "--num",
    "--format",
    "--plot",
    "--crossings",
)
_NEGATIVE = re.compile(r"-(\d|\.\d|inf|nan)", re.IGNORECASE)


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
  jax-expdecay                                   # the Keras documentation example:
                                                 # 0.1 * 0.96 ** floor(step / 100000)
  jax-expdecay --initial-learning-rate 0.1 --decay-steps 1000 --decay-rate 0.5 --steps 0,500,1e3
  jax-expdecay --config keras_schedule.json --format json
  jax-expdecay --config schedule.json --start 0 --stop 2000000 --num 50 --log --format csv
  jax-expdecay --plot schedule.svg --log-y       # needs: pip install 'jax_expdecay[plot]'
  jax-expdecay --compare-keras                   # needs keras (KERAS_BACKEND=jax is used)

defaults: with no schedule flag and no --config, the Keras documentation example above. Otherwise the
schedule is built as exponential_decay() builds it: --initial-learning-rate,
--decay-steps and --decay-rate are required (from flags or --config), and the other
fields default as in exponential_decay(): --no-staircase, --transition-begin 0, no
--end-value, --name ExponentialDecay.
Keras's underscore spellings work too: --initial_learning_rate is --initial-learning-rate.

values: the learning rate is JAX's default float, float32, evaluated one step at a time
as an optimizer sees it, and printed (table, JSON, CSV) as the shortest decimal that
reads back to the same float32 (0.096, not 0.0960000008).

--config reads JSON (a regular file of at most 1 MiB): our ExponentialDecayConfig.to_dict(),
a Keras get_config() dict, or a serialized envelope {"class_name": "ExponentialDecay",
"config": {...}} (Keras 3's {"module", "class_name", "config", "registered_name"} too).
Flags override its fields. Nothing in the file is ever imported or executed. Errors print
one line and exit 2.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        if message.startswith("unrecognized arguments: "):
            message += _suggestions(message.removeprefix("unrecognized arguments: ").split())
        _fail(message)


def _options() -> list[str]:
    return [o for a in _parser()._actions for o in a.option_strings if o.startswith("--")]


def _suggestions(unknown: list[str]) -> str:
    """ "(did you mean --format?)" for each unknown option close to a real one."""
    import difflib

    known = _options()
    hints = []
    for arg in unknown:
        if arg.startswith("--"):
            close = difflib.get_close_matches(arg.split("=")[0], known, n=1, cutoff=0.75)
            if close:
                hints.append(f"{arg.split('=')[0]}: did you mean {close[0]}?")
    return f" ({'; '.join(hints)})" if hints else ""


def _dashes(argv: list[str]) -> list[str]:
    """Keras's underscore spellings as our dashed options: ``--initial_learning_rate 0.1``
    and ``--decay_steps=100`` are ``--initial-learning-rate``/``--decay-steps`` (no
    option of ours has an underscore, so this renames nothing else)."""
    out = []
    for arg in argv:
        if arg.startswith("--") and "_" in arg.split("=")[0]:
            name, sep, value = arg.partition("=")
            arg = name.replace("_", "-") + sep + value
        out.append(arg)
    return out


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
            "with floor() of the exponent under --staircase. Without arguments: the Keras\n"
            "documentation example, 0.1 decayed by 0.96 every 100000 steps, staircase."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    g = p.add_argument_group(
        "schedule (Keras names; defaults: exponential_decay()'s, see 'defaults' below)"
    )
    g.add_argument("--config", metavar="FILE", help="JSON config file (see below)")
    g.add_argument(
        "--initial-learning-rate",
        type=float,
        metavar="X",
        help="required (no default in exponential_decay); 0.1 in the Keras documentation example",
    )
    g.add_argument(
        "--decay-steps",
        type=_whole,
        metavar="N",
        help="steps per decay period: required; 100000 in the Keras documentation example",
    )
    g.add_argument(
        "--decay-rate",
        type=float,
        metavar="R",
        help="factor per decay period: required; 0.96 in the Keras documentation example",
    )
    g.add_argument(
        "--staircase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="floor the exponent: decay in stairs (default: off, as exponential_decay's "
        "staircase=False; on in the Keras documentation example)",
    )
    g.add_argument(
        "--transition-begin",
        type=_whole,
        metavar="N",
        help="hold the rate until step N (default: 0, as exponential_decay)",
    )
    g.add_argument(
        "--end-value",
        type=float,
        metavar="X",
        help="floor (decay) or cap (growth) of the rate (default: none, as exponential_decay)",
    )
    g.add_argument(
        "--name",
        metavar="S",
        help="the config's name, kept in --format json (default: ExponentialDecay, as "
        "exponential_decay)",
    )
    s = p.add_argument_group(
        "steps (default: 0, the first stair boundaries, then log-spaced steps up to where\n"
        "the rate is 1e-3 of the initial one, at least 10 decay periods)"
    )
    s.add_argument(
        "--steps", metavar="S1,S2,...", help="explicit comma-separated steps (1e6 and -5 are fine)"
    )
    s.add_argument("--start", type=_whole, metavar="N", help="first step of a range (default 0)")
    s.add_argument(
        "--stop", type=_whole, metavar="N", help="last step of a range (default: as above)"
    )
    s.add_argument(
        "--num", type=_whole, metavar="N", help=f"points in the range (default 11, max {_MAX_NUM})"
    )
    s.add_argument(
        "--log",
        action="store_true",
        help="log-spaced range, from --start (0 or no --start: from 1; a negative "
        "--start is refused)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="default: table"
    )
    o.add_argument(
        "--crossings",
        metavar="WHICH",
        default="table",
        help="first step at which the rate is below (decay) or above (growth) a threshold, "
        "exact: 'table' (default) each power of ten crossed up to the table's last step; "
        "'all' every power of ten to 1e-38 (1e38) up to step 2**31 - 1; 'none'; or "
        "comma-separated thresholds such as 1e-3,5e-4 (any step)",
    )
    o.add_argument(
        "--plot",
        metavar="FILE",
        help="write a plot in the format its suffix names: .png, .svg, .pdf, .jpg, ... "
        "(needs matplotlib)",
    )
    o.add_argument("--log-y", action="store_true", help="log-scale y axis in the plot")
    o.add_argument(
        "--compare-keras",
        action="store_true",
        help="add Keras 3's value as its optimizers apply it in training (under jax.jit, "
        "KERAS_BACKEND=jax), the relative difference, the float32 ulp distance, which of "
        "the two is nearer the exact value, and Keras's eager value (a Python int step)",
    )
    return p


def _fix_negative_values(argv: list[str]) -> list[str]:
    """``--steps -5,0`` as ``--steps=-5,0``: argparse before 3.13 takes a value that
    starts with ``-`` and is not a plain number (``-5,0``, ``-1e-3``) for an option.
    Unique prefixes (``--st`` is not one) are handled as argparse handles them."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" not in arg and i + 1 < len(argv):
            exact = arg in _VALUE_OPTIONS
            matches = [o for o in _VALUE_OPTIONS if o.startswith(arg)]
            if (exact or len(matches) == 1) and _NEGATIVE.match(argv[i + 1]):
                out.append(f"{arg}={argv[i + 1]}")
                i += 2
                continue
        out.append(arg)
        i += 1
    return out


def _is_schedule_flag_given(args: argparse.Namespace) -> bool:
    return args.config is not None or any(getattr(args, f) is not None for f in _FIELDS)


def _read_config_file(path: str) -> str:
    """The text of a JSON ``--config`` file: a regular file of at most 1 MiB.

    Opened without blocking (a FIFO with no writer would hang a plain ``open``), then
    checked on the open descriptor (no race with the path changing), and read with a
    bound (``/dev/zero`` and ``/proc`` files report no useful size). Raises OSError
    (cannot open) or UnicodeDecodeError; refuses special and oversized files with a
    one-line failure.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                     (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                     (stat.S_ISSOCK, "a socket"))  # fmt: skip
            kind = next((name for test, name in kinds if test(mode)), "not a regular file")
            _fail(f"--config {path!r} is {kind}; give a regular JSON file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(_MAX_CONFIG_BYTES + 1)
    if len(data) > _MAX_CONFIG_BYTES:
        _fail(f"--config {path!r} is over 1 MiB (the limit for a config file)")
    return data.decode("utf-8")


def _load_config(args: argparse.Namespace) -> ExponentialDecayConfig:
    # The Keras documentation example only when no schedule flag is given; else exponential_decay's rules.
    fields: dict[str, Any] = dict(
        LIBRARY_DEFAULTS if _is_schedule_flag_given(args) else KERAS_EXAMPLE
    )
    args.saved_step = None
    args.saved_step_note = None
    if args.config is not None and args.config.lower().endswith(".keras"):
        from ._keras import from_keras  # a saved Keras model: its optimizer's schedule

        try:
            try:  # and the optimizer's step counter, read from model.weights.h5 (h5py)
                sched, args.saved_step = from_keras(args.config, with_step=True)
            except ImportError as e:  # no h5py: the schedule alone, and say why
                sched = from_keras(args.config)
                args.saved_step_note = f"the saved step is not shown: {e}"
            fields = sched.config.to_dict()
        except OSError as e:
            _fail(f"cannot read --config {args.config!r}: {e.strerror or e}")
    elif args.config is not None:
        try:
            data = json.loads(_read_config_file(args.config))
        except OSError as e:
            _fail(f"cannot read --config {args.config!r}: {e.strerror or e}")
        except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, huge ints
            _fail(f"--config {args.config!r} is not valid JSON: {e}")
        if isinstance(data, dict) and ("compile_config" in data or _optimizer_parts(data, "")):
            from ._keras import from_keras  # a Keras optimizer's or model's config

            fields = from_keras(data).config.to_dict()
        else:
            fields = deserialize(data).config.to_dict()
    for f in _FIELDS:
        value = getattr(args, f)
        if value is not None:
            fields[f] = value
    missing = ["--" + f.replace("_", "-") for f in _REQUIRED_KEYS if f not in fields]
    if missing:
        _fail(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required: "
            f"exponential_decay() has no default for {'it' if len(missing) == 1 else 'them'} "
            "(or give --config FILE; with no schedule flag at all, the Keras documentation example runs)"
        )
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
            if args.start is not None and args.start < 0:
                _fail(
                    f"--log needs --start >= 0 (a log-spaced range starts at step 1, or at "
                    f"--start if larger), got {args.start}; list negative steps with --steps"
                )
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


def _direction(cfg: ExponentialDecayConfig) -> str:
    """ "below" if the rate falls (decay from a positive rate), "above" if it rises."""
    init, rate = float(cfg.initial_learning_rate), float(cfg.decay_rate)
    rises = init != 0 and rate != 1 and (init > 0) == (rate > 1)
    return "above" if rises else "below"


def _first(cfg: ExponentialDecayConfig, value: Fraction, direction: str) -> int | None:
    if direction == "below":
        return first_step_below(cfg, value)
    return _first_step_above(cfg, value)


# (label, threshold, direction, step): step None means never.
_Crossing = tuple[str, float, str, "int | None"]


def _crossings(cfg: ExponentialDecayConfig, which: str, last_step: int) -> list[_Crossing]:
    """The exact first step at which the rate is below (decay) or above (growth) each
    threshold: powers of ten crossed after step 0 and up to ``last_step`` ("table") or
    to optax's last int32 step ("all"), or the thresholds the user lists (any step)."""
    direction = _direction(cfg)
    if which == "none":
        return []
    if which not in ("table", "all"):
        out: list[_Crossing] = []
        for text in which.split(","):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                _fail(
                    "--crossings must be table, all, none or comma-separated finite "
                    f"numbers, got {which!r}"
                )
            out.append((repr(value), value, direction, _first(cfg, Fraction(value), direction)))
        return out
    init = float(cfg.initial_learning_rate)
    if init <= 0 or float(cfg.decay_rate) == 1:
        return []  # powers of ten are positive; a constant rate crosses nothing
    horizon = last_step if which == "table" else _INT32_MAX
    k0 = decimal.Decimal(init).adjusted()  # 10**k0 <= init < 10**(k0 + 1)
    ks = range(k0, -39, -1) if direction == "below" else range(k0, 39)
    out = []
    for k in ks:
        step = _first(cfg, Fraction(10) ** k, direction)
        if step is None or step > horizon:
            break
        if step > 0:  # not already beyond it at step 0
            out.append((f"1e{k}", float(f"1e{k}"), direction, step))
    return out


def _crossing_lines(crossings: list[_Crossing], which: str, last_step: int) -> list[str]:
    if not crossings:
        return []
    sym = {"below": "<", "above": ">"}
    direction = crossings[0][2]
    if which in ("table", "all"):
        upto = f"step {last_step}" if which == "table" else "step 2**31 - 1"
        head = f"first step at which the rate is {direction} each power of ten, up to {upto}:"
        # Runs that cross at one step (decay_rate 0, or a rate that falls by more than 10x
        # in a step) share a line.
        groups: list[list[_Crossing]] = []
        for c in crossings:
            if groups and groups[-1][-1][3] == c[3]:
                groups[-1].append(c)
            else:
                groups.append([c])
        items = [
            (f"{sym[g[0][2]]} {g[0][0]}" + (f" ... {g[-1][0]}" if len(g) > 1 else ""), g[0][3])
            for g in groups
        ]
    else:
        head = f"first step at which the rate is {direction} each threshold:"
        items = [(f"{sym[c[2]]} {c[0]}", c[3]) for c in crossings]
    lines = ["", head]
    shown = items if which == "all" else items[:12]
    width = max(len(label) for label, _ in shown)
    for label, step in shown:
        lines.append(f"  {label:>{width}}  " + ("never" if step is None else f"at step {step}"))
    if len(items) > len(shown):
        lines.append(
            f"  ... {len(items) - len(shown)} more (--crossings all or --format json list all)"
        )
    return lines


def _keras_values(cfg: ExponentialDecayConfig, steps: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Keras 3's rate at each step, as its optimizers apply it in training and eagerly.

    Training: Keras's JAX trainer updates inside ``jax.jit``, where the optimizer reads
    ``learning_rate`` = ``schedule(iterations)`` with ``iterations`` an int32 array. That
    is what ``_train`` reads back: the ``learning_rate`` of a real Keras optimizer, under
    ``jit``, with its ``iterations`` set to the step (``keras.StatelessScope``, as the
    trainer sets it). XLA compiles Keras's float32 ``step / decay_steps`` to a product
    with the reciprocal, so it can land a stair late: ``(1.0, 41, 0.5, staircase)``
    gives 1.0 at step 41 in training and 0.5 eagerly. (Checked against
    ``train_on_batch`` with SGD: equal at all 655 steps tried, stair edges and random
    int32 steps of five configs.) Eager: the schedule called on a Python int.
    """
    os.environ.setdefault("KERAS_BACKEND", "jax")
    if cfg.transition_begin != 0 or cfg.end_value is not None:
        _fail("--compare-keras: Keras has no transition_begin/end_value; drop them to compare")
    try:
        import keras
    except Exception as e:  # ImportError, or Keras refusing its backend
        if isinstance(e, ImportError) and e.name == "keras":
            _fail("--compare-keras needs keras: pip install keras (it runs on the JAX backend)")
        backend = os.environ.get("KERAS_BACKEND")
        _fail(
            f"--compare-keras: keras is installed but failed to import with "
            f"KERAS_BACKEND={backend!r} ({type(e).__name__}: {e}); install that backend "
            "or run with KERAS_BACKEND=jax"
        )
    k = keras.optimizers.schedules.ExponentialDecay(
        float(cfg.initial_learning_rate),
        int(cfg.decay_steps),
        float(cfg.decay_rate),
        bool(cfg.staircase),
    )
    eager = np.asarray([np.asarray(k(s)) for s in steps], np.float64)
    if keras.backend.backend() != "jax":  # training values are read through jax.jit
        _fail(
            f"--compare-keras shows what Keras applies in training on the JAX backend; "
            f"KERAS_BACKEND is {keras.backend.backend()!r}: run with KERAS_BACKEND=jax"
        )
    opt: Any = keras.optimizers.SGD(learning_rate=k)  # pyright: ignore[reportArgumentType]
    dtype = opt.iterations.dtype

    @jax.jit
    def _train(step: jax.Array) -> Any:
        with keras.StatelessScope(state_mapping=[(opt.iterations, step)]):
            return opt.learning_rate

    train = np.asarray([np.asarray(_train(np.asarray(s, dtype))) for s in steps], np.float64)
    return train, eager


def _exact(cfg: ExponentialDecayConfig, step: int) -> decimal.Decimal:
    """The schedule at ``step`` in 50-digit arithmetic on the config's double values
    (no transition_begin/end_value: --compare-keras refuses them)."""
    ctx = decimal.Context(prec=50)
    init = decimal.Decimal(float(cfg.initial_learning_rate))
    rate = decimal.Decimal(float(cfg.decay_rate))
    d, s = int(cfg.decay_steps), step - int(cfg.transition_begin)
    p = Fraction(0) if s <= 0 else Fraction(s // d) if cfg.staircase else Fraction(s, d)
    if p == 0 or init == 0:
        return init
    if rate == 0:
        return decimal.Decimal(0)
    ln = ctx.add(ctx.ln(abs(init)), ctx.multiply(ctx.divide(p.numerator, p.denominator),
                                                   ctx.ln(rate)))  # fmt: skip
    return ctx.exp(ln).copy_sign(init)


def _nearer(ours: float, keras: float, exact: decimal.Decimal) -> str:
    """Which value is nearer the exact one: "ours", "keras", "same" (equal values) or
    "tie" (equally near, within the 50-digit reference's error)."""
    if ours == keras:
        return "same"

    def dist(x: float) -> decimal.Decimal:
        return abs(decimal.Decimal(x) - exact) if math.isfinite(x) else decimal.Decimal("inf")

    a, b = dist(ours), dist(keras)
    if abs(a - b) <= abs(exact) * decimal.Decimal("1e-40"):
        return "tie"
    return "ours" if a < b else "keras"


def _plot_format(path: str) -> str:
    """The format named by ``path``'s suffix, if matplotlib can write it."""
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    suffix = os.path.splitext(path)[1][1:].lower()
    if suffix not in formats:
        _fail(
            f"--plot {path!r}: the file's suffix names its format; use one of "
            f"{', '.join('.' + f for f in sorted(formats))} (got {('.' + suffix) if suffix else 'no suffix'})"
        )
    return suffix


def _plot(path: str, cfg: ExponentialDecayConfig, steps: list[int], log_y: bool) -> None:
    try:
        import matplotlib
    except ImportError:
        _fail("--plot needs matplotlib: pip install 'jax_expdecay[plot]'")
    matplotlib.use("Agg")
    fmt = _plot_format(path)
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
        fig.savefig(path, format=fmt)
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


def _f32(v: float) -> str:
    """The shortest decimal that reads back to the same float32 (numpy's repr)."""
    return str(np.float32(v))


def _json_f32(v: float) -> Any:
    """A float32 value as the JSON number with the shortest text that reads back to it
    (strict JSON has no inf/nan: those become the strings "inf", "-inf", "nan")."""
    return float(_f32(v)) if math.isfinite(v) else repr(v)


def _json_number(v: Any) -> Any:
    """Strict JSON has no inf/nan: those floats become the strings "inf", "-inf", "nan"."""
    return repr(v) if isinstance(v, float) and not math.isfinite(v) else v


_F32_KEYS = ("learning_rate", "keras", "keras_eager")


def _run(argv: Sequence[str] | None) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(_fix_negative_values(_dashes(argv)))
    try:
        cfg = _load_config(args)
    except (TypeError, ValueError) as e:
        _fail(str(e))
    steps = _steps(args, cfg)
    explicit = (
        args.steps is not None
        or args.log
        or any(a is not None for a in (args.start, args.stop, args.num))
    )
    if args.saved_step is not None and not explicit:
        steps = sorted({*steps, args.saved_step})
    if min(steps) < -(2**31) or max(steps) > _INT32_MAX:
        _fail(f"steps must fit in int32 (optax's step counter), got {min(steps)}..{max(steps)}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (checked before any work)
        except ImportError:
            _fail("--plot needs matplotlib: pip install 'jax_expdecay[plot]'")
        _plot_format(args.plot)
    crossings = _crossings(cfg, args.crossings, max(steps))
    # One scalar call per step, as an optimizer sees it: a batched call can differ in the
    # last bit (XLA:CPU's vectorized exp), and a table should not depend on its neighbours.
    fn = jax.jit(exponential_decay(cfg))
    lr = [float(fn(np.int32(s))) for s in steps]
    keras = _keras_values(cfg, steps) if args.compare_keras else None
    if args.plot:
        _plot(args.plot, cfg, steps, args.log_y)
    rows = []
    for i, (s, v) in enumerate(zip(steps, lr, strict=True)):
        row: dict[str, Any] = {"step": s, "learning_rate": v}
        if keras is not None:
            k = float(keras[0][i])
            exact = _exact(cfg, s)
            row["keras"] = k  # as Keras applies it in training
            row["keras_eager"] = float(keras[1][i])
            row["difference"] = 0.0 if k == v else k - v  # (also for equal infinities)
            finite = v != 0 and math.isfinite(v) and math.isfinite(k)
            row["relative"] = 0.0 if k == v else ((k - v) / v if finite else None)
            row["ulp_float32"] = _ulp32(k, v)
            row["exact"] = float(exact)
            row["nearer"] = _nearer(v, k, exact)
        rows.append(row)
    if args.format == "json":
        saved = {} if args.saved_step is None else {"saved_step": args.saved_step}
        return json.dumps(
            {
                "config": cfg.to_dict(),
                **saved,
                "rows": [
                    {k: _json_f32(v) if k in _F32_KEYS else _json_number(v) for k, v in r.items()}
                    for r in rows
                ],
                "crossings": [
                    {"threshold": t, "direction": direction, "step": s}
                    for _, t, direction, s in crossings
                ],
            },
            indent=2,
            allow_nan=False,
        )
    if args.format == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: _f32(v) if k in _F32_KEYS else repr(v) if isinstance(v, float) else v
                    for k, v in row.items()
                }
            )
        return buf.getvalue().rstrip("\n")
    saved = []
    if args.saved_step is not None:
        saved = [
            f"{args.config}: the optimizer has made {args.saved_step} updates; the next "
            f"uses the rate at step {args.saved_step} (in the table), "
            f"{_f32(lr[steps.index(args.saved_step)])}"
            if args.saved_step in steps
            else f"{args.config}: the optimizer has made {args.saved_step} updates; the "
            f"next uses the rate at step {args.saved_step}"
        ]
    elif args.saved_step_note:
        saved = [f"{args.config}: {args.saved_step_note}"]
    table = _table(cfg, rows, _crossing_lines(crossings, args.crossings, max(steps)), args.plot)
    return "\n".join([*saved, table]) if saved else table


def _table(
    cfg: ExponentialDecayConfig,
    rows: list[dict[str, Any]],
    crossing_lines: list[str],
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
        header += f"  {'keras':>15}  {'(keras-ours)':>13}  {'f32 ulp':>10}  {'nearer':>7}"
        header += f"  {'keras':>15}"
        header += (
            f"\n{'':>12}  {'':>15}  {'in training':>15}  {'/ ours':>13}  {'':>10}  {'exact':>7}"
        )
        header += f"  {'eager':>15}"
    lines += [header, "-" * max(map(len, header.splitlines()))]
    for r in rows:
        line = f"{r['step']:>12}  {_f32(r['learning_rate']):>15}"
        if "keras" in r:
            rel = "-" if r["relative"] is None else f"{r['relative']:+.3g}"
            line += f"  {_f32(r['keras']):>15}  {rel:>13}  {r['ulp_float32']:>10.4g}"
            line += f"  {r['nearer']:>7}  {_f32(r['keras_eager']):>15}"
        lines.append(line)
    lines += crossing_lines
    if plot:
        lines += ["", f"plot written to {plot}"]
    return "\n".join(lines)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(message: str) -> str:
    """Control characters (a newline in an argument) escaped: an error is one line."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], message)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (0, or 2 after a one-line error on stderr).

    Examples:
        >>> from jax_expdecay._cli import main
        >>> main(["--steps", "0,100000", "--format", "csv"])
        step,learning_rate
        0,0.1
        100000,0.096
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
        print(f"{PROG}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    return 0
