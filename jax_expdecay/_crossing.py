"""The exact first step at which a schedule's rate drops below (or rises above) a value.

One job: answer "from which step on is the learning rate below ``value``?" exactly, for
the real-number schedule defined by a concrete config (its float64 values taken as exact
rationals), without evaluating the schedule step by step.

Method
------
With ``q = value / initial_learning_rate`` the rate has crossed ``value`` at exponent
``p`` iff ``p > x = ln(q) / ln(decay_rate)`` (the schedule is monotone in ``p``). The
first stair is ``floor(x) + 1`` and the first continuous step offset is
``floor(x * decay_steps) + 1``; both are estimated from decimal logarithms and then
*confirmed* at the candidate and the step before it by an exact sign test of
``D = n * ln(rate) - m * ln(q)`` (for ``p = n / m``):

* ``D`` is evaluated with :mod:`decimal` (``ln`` is correctly rounded), and its sign is
  accepted once ``|D|`` exceeds a bound on the accumulated rounding error, raising the
  precision until it does;
* before raising the precision, an exact tie ``rate ** n == q ** m`` is looked for in
  rational arithmetic (``rate = C ** m'``, ``q = C ** n'`` with ``n' / m'`` the reduced
  ``p``): a tie means the rate *equals* ``value`` there, which is not below it.
"""

from __future__ import annotations

import decimal
import math
import numbers
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from ._config import ExponentialDecayConfig, _describe, _is_tracer
from ._schedule import ExponentialDecay

if TYPE_CHECKING:
    from ._warmup import WarmupExponentialDecay

__all__ = ["first_step_below"]

_MAX_DIGITS = 20_000  # never reached: a nonzero D needs far fewer digits to show its sign


def _iroot(n: int, k: int) -> int | None:
    """The exact integer k-th root of ``n >= 0``, or None if there is none."""
    if n < 2:
        return n
    if k > n.bit_length():
        return None
    x = 1 << -(-n.bit_length() // k)  # >= the root
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            break
        x = y
    return x if x**k == n else None


def _is_tie(rate: Fraction, q: Fraction, n: int, m: int) -> bool:
    """Whether ``rate ** (n / m) == q`` exactly (``rate, q > 0``, ``n >= 0``, ``m >= 1``)."""
    g = math.gcd(n, m)
    n, m = n // g, m // g
    if n == 0:
        return q == 1
    # rate ** n == q ** m with gcd(n, m) = 1: rate = C ** m and q = C ** n for a rational C.
    num, den = _iroot(rate.numerator, m), _iroot(rate.denominator, m)
    if num is None or den is None:
        return False
    c = Fraction(num, den)
    if c == 1:
        return q == 1
    bits_c = abs(num.bit_length() - den.bit_length())  # |log2 C| within 1
    bits_q = abs(q.numerator.bit_length() - q.denominator.bit_length())
    if n * max(bits_c - 1, 0) > bits_q + 1:  # C ** n is far larger than q
        return False
    return c**n == q


class _Logs:
    """``ln`` of two positive rationals at a given precision, with a bound on |ln|."""

    def __init__(self, rate: Fraction, q: Fraction):
        self.rate, self.q = rate, q
        self._cache: dict[int, tuple[decimal.Decimal, ...]] = {}

    def at(self, digits: int) -> tuple[decimal.Decimal, ...]:
        if digits not in self._cache:
            ctx = decimal.Context(prec=digits, Emax=10**9, Emin=-(10**9))
            out = []
            for f in (self.rate, self.q):
                a, b = ctx.ln(decimal.Decimal(f.numerator)), ctx.ln(decimal.Decimal(f.denominator))
                out += [ctx.subtract(a, b), abs(a) + abs(b) + 1]
            self._cache[digits] = tuple(out)
        return self._cache[digits]


def _crossed(logs: _Logs, p: Fraction) -> bool:
    """Whether ``rate ** p`` is strictly beyond ``q`` on the side the rate moves to,
    i.e. ``p > ln(q) / ln(rate)``: the sign of ``D = n ln(rate) - m ln(q)`` is that of
    ``ln(rate)`` (``p = n / m``). Exact: ties are found in rationals."""
    n, m = p.numerator, p.denominator
    digits = 60
    tie_checked = False
    while digits <= _MAX_DIGITS:
        ln_rate, size_rate, ln_q, size_q = logs.at(digits)
        ctx = decimal.Context(prec=digits, Emax=10**9, Emin=-(10**9))
        d = ctx.subtract(ctx.multiply(n, ln_rate), ctx.multiply(m, ln_q))
        # Each ln is correctly rounded (relative error <= 5e-digits); the two products and
        # the subtraction add as much again: 100x that, relative to the sum of magnitudes.
        bound = (n * size_rate + m * size_q) * decimal.Decimal(10) ** (2 - digits)
        if abs(d) > bound:
            return (d < 0) == (ln_rate < 0)
        if not tie_checked:
            if _is_tie(logs.rate, logs.q, n, m):
                return False  # equal to the value: not beyond it
            tie_checked = True
        digits *= 2
    raise ArithmeticError(f"could not resolve rate ** {p} against {logs.q}")  # pragma: no cover


def _first_below(
    init: Fraction,
    rate: Fraction,
    value: Fraction,
    end: Fraction | None,
    clamp_max: bool,
    d: int,
    tb: int,
    staircase: bool,
) -> int | None:
    """The first step >= 0 at which ``clamp(init * rate ** p(step)) < value`` (exact), or
    None. ``clamp`` is ``max(., end)`` if ``clamp_max`` else ``min(., end)``."""

    def clamp(x: Fraction) -> Fraction:
        if end is None:
            return x
        return max(x, end) if clamp_max else min(x, end)

    if clamp(init) < value:
        return 0  # held at init (or the clamp) until transition_begin, so from step 0
    decreasing = (init > 0 and rate < 1) or (init < 0 and rate > 1)
    if not decreasing:
        return None  # constant or growing: never below if not at step 0
    if clamp_max and end is not None and end >= value:
        return None  # the floor keeps it at or above value
    # The unclamped rate falls to 0+ (init > 0) or to -inf (init < 0).
    if init > 0 and value <= 0:
        return None
    if rate == 0:  # init while p == 0, then 0 < value
        return tb + (d if staircase else 1)
    q = value / init  # in (0, 1] (init > 0) or [1, inf) (init < 0): x >= 0
    logs = _Logs(rate, q)
    ctx = decimal.Context(prec=40, Emax=10**9, Emin=-(10**9))
    ln_rate, _, ln_q, _ = logs.at(40)
    x = ctx.divide(ln_q, ln_rate)
    scale = 1 if staircase else d
    digits = 40 + max(0, ctx.multiply(x, scale).adjusted())
    ln_rate, _, ln_q, _ = logs.at(digits)
    ctx = decimal.Context(prec=digits, Emax=10**9, Emin=-(10**9))
    estimate = ctx.multiply(ctx.divide(ln_q, ln_rate), scale)
    n = max(1, math.floor(estimate) + 1)  # the stair (staircase) or the step offset
    while n > 1 and _crossed(logs, Fraction(n - 1, scale)):
        n -= 1
    while not _crossed(logs, Fraction(n, scale)):
        n += 1
    return tb + n * d if staircase else tb + n


def _exact(arg: str, x: Any) -> Fraction:
    if _is_tracer(x):
        raise TypeError(
            f"first_step_below needs concrete values, but {arg} is a JAX tracer ({x!r}); "
            "call it outside jit/vmap"
        )
    arr = np.asarray(x)
    if arr.ndim != 0:
        raise TypeError(
            f"first_step_below needs a single schedule, but {arg} is an array of shape "
            f"{arr.shape} (a batch); call jax_expdecay.unstack(...) and ask for each"
        )
    return Fraction(int(arr)) if arr.dtype.kind in "iu" else Fraction(float(arr))


def _parts(schedule: Any) -> tuple[Fraction, Fraction, Fraction | None, int, int, bool]:
    # A config, or a schedule holding one (ExponentialDecay, or ``checked(...)``'s wrapper).
    cfg = schedule if isinstance(schedule, ExponentialDecayConfig) else None
    held = getattr(schedule, "config", None)
    if cfg is None and isinstance(held, ExponentialDecayConfig):
        cfg = held
    if cfg is None:
        raise TypeError(
            "schedule must be an ExponentialDecay or an ExponentialDecayConfig, got "
            f"{_describe(schedule)}"
        )
    init = _exact("initial_learning_rate", cfg.initial_learning_rate)
    rate = _exact("decay_rate", cfg.decay_rate)
    d = int(_exact("decay_steps", cfg.decay_steps))
    tb = int(_exact("transition_begin", cfg.transition_begin))
    end = None if cfg.end_value is None else _exact("end_value", cfg.end_value)
    return init, rate, end, d, tb, cfg.staircase


def _value(value: Any) -> Fraction:
    if _is_tracer(value):
        raise TypeError(f"value must be a concrete number, got a JAX tracer {value!r}")
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"value must be a real number, got a bool: {_describe(value)}")
    if not isinstance(value, numbers.Real | np.ndarray | np.generic) and not hasattr(
        value, "__array__"
    ):
        raise TypeError(f"value must be a real number, got {_describe(value)}")
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"value must be a real scalar, got {_describe(value)}")
    if arr.dtype.kind in "iu":
        return Fraction(int(arr))
    f = float(arr)
    if not math.isfinite(f):
        raise ValueError(f"value must be finite, got {_describe(value)}")
    return Fraction(f)


def first_step_below(
    schedule: ExponentialDecay | ExponentialDecayConfig | WarmupExponentialDecay, value: Any
) -> int | None:
    """Returns the first step at which the exact learning rate is below ``value``.

    The answer is the smallest step ``s >= 0`` (optax counts from 0) with
    ``lr(s) < value``, where ``lr`` is the schedule in exact real arithmetic on the
    config's values (each float taken as the exact binary number it holds):
    ``initial_learning_rate * decay_rate ** p``, ``p`` as in
    :func:`~jax_expdecay.exponential_decay`, then the ``end_value`` floor or cap. It is
    computed from logarithms and confirmed exactly at the step (or stair) found and the
    one before, so it costs microseconds to milliseconds whatever the step.

    * Ties: a rate exactly *equal* to ``value`` is not below it (the crossing is the
      next step, or the next stair with ``staircase=True``).
    * Staircase schedules cross at a stair's first step, ``transition_begin + k *
      decay_steps``; continuous ones at any step after ``transition_begin``.
    * ``None`` means never: the rate never gets below ``value``, e.g. ``end_value >=
      value``, ``value <= 0`` (the rate stays positive), or a schedule that is constant
      (``decay_rate == 1``) or grows (``decay_rate > 1``) and starts at or above
      ``value``. A growing schedule never decreases, so its answer is 0 or None.
    * ``decay_rate == 0``: the rate is ``initial_learning_rate`` until the exponent
      becomes positive, then 0 (Keras's rule).
    * The step is an exact Python int and may be past optax's int32 step counter
      (2**31 - 1), or past int64; compare it with your training length.
    * The float32 value the schedule returns at the answer is the exact rate rounded,
      so it can *equal* a float32 ``value`` there (rounding up onto it).

    Args:
      schedule: an :class:`~jax_expdecay.ExponentialDecay` or an
        :class:`~jax_expdecay.ExponentialDecayConfig` with concrete scalar values, or a
        :class:`~jax_expdecay.WarmupExponentialDecay` (its exact ramp, then its decay).
      value: a finite real number (int, float, ``fractions.Fraction``, numpy scalar).

    Returns:
      The first step (a Python int), or None if the rate is never below ``value``.

    Raises:
      TypeError: ``schedule`` is not a schedule or config, holds tracers (built inside
        ``jit``/``vmap``) or arrays (a batch: ``unstack`` it first); ``value`` is not a
        real scalar (a bool, a string, an array).
      ValueError: ``value`` is NaN or infinite.

    Examples:
      >>> from jax_expdecay import exponential_decay, first_step_below
      >>> first_step_below(exponential_decay(0.1, 100000, 0.96, staircase=True), 0.01)
      5700000
      >>> first_step_below(exponential_decay(1.0, 10, 0.5), 0.5)  # equal at 10, below at 11
      11
      >>> first_step_below(exponential_decay(1.0, 10, 0.5, end_value=0.2), 0.1) is None
      True
      >>> first_step_below(exponential_decay(1.0, 10, 0.0, transition_begin=5), 1e-30)
      6
    """
    if type(schedule).__name__ == "WarmupExponentialDecay":  # warmup_exponential_decay's
        return schedule._first_step_below(value)  # pyright: ignore[reportAttributeAccessIssue,reportPrivateUsage]
    init, rate, end, d, tb, staircase = _parts(schedule)
    return _first_below(init, rate, _value(value), end, rate < 1, d, tb, staircase)


def _first_step_above(
    schedule: ExponentialDecay | ExponentialDecayConfig, value: Any
) -> int | None:
    """The first step >= 0 at which the exact rate is above ``value`` (the mirror image
    of :func:`first_step_below`: ``lr > v`` iff ``-lr < -v``; the clamp flips)."""
    init, rate, end, d, tb, staircase = _parts(schedule)
    neg_end = None if end is None else -end
    return _first_below(-init, rate, -_value(value), neg_end, not rate < 1, d, tb, staircase)
