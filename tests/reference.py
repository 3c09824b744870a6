"""Exact oracles: stairs with Python integers/fractions, values with mpmath."""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np

mpmath.mp.prec = 160


def exact_p(step, d: int, staircase: bool, tb: int = 0) -> Fraction | None:
    """The exact exponent p, or None while the schedule holds (s <= 0)."""
    s = Fraction(step) - tb
    if s <= 0:
        return None
    return Fraction(math.floor(s / d)) if staircase else s / d


def exact_lr(init, d, rate, step, staircase=False, tb=0, end_value=None) -> mpmath.mpf:
    """``init * rate ** p`` in 160-bit arithmetic from the exact double hyperparameters."""
    init_m = mpmath.mpf(float(init))
    p = exact_p(step, int(d), staircase, int(tb))
    if p is None:
        val = init_m
    elif float(rate) == 0.0:
        val = init_m if p == 0 else mpmath.mpf(0)
    else:
        val = init_m * mpmath.power(
            mpmath.mpf(float(rate)), mpmath.mpf(p.numerator) / p.denominator
        )
    if end_value is not None:
        ev = mpmath.mpf(float(end_value))
        val = mpmath.mpf(max(val, ev)) if float(rate) < 1 else mpmath.mpf(min(val, ev))
    return val


def ulp_error(got, exact: mpmath.mpf, dtype) -> float:
    """|got - exact| in units of the spacing of ``exact`` rounded to ``dtype``.

    Exact values below the smallest normal number are measured against that number's
    spacing scaled up, i.e. in absolute terms: the result is |got - exact| / tiny.
    """
    dtype = np.dtype(dtype)
    info = ml_dtypes.finfo(dtype)  # np.finfo(bfloat16) raises with numpy 2.5 + ml_dtypes 0.6
    got_m = mpmath.mpf(float(got)) if np.isfinite(float(got)) else float(got)
    ex_f = float(exact) if abs(exact) < 1e308 else math.copysign(math.inf, exact)
    with np.errstate(over="ignore"):
        rounded = np.asarray(ex_f).astype(dtype)
    if not np.isfinite(rounded):
        return 0.0 if float(got) == float(rounded) else math.inf
    if not np.isfinite(float(got)):
        return math.inf
    if abs(exact) < float(info.tiny):
        return float(abs(got_m - exact) / mpmath.mpf(float(info.tiny)))
    return float(abs(got_m - exact) / mpmath.mpf(float(np.spacing(np.abs(rounded)))))


def exact_array(init, d, rate, steps, staircase=False, tb=0, end_value=None) -> list:
    """``exact_lr`` over an iterable of steps (a list of mpf)."""
    return [exact_lr(init, d, rate, s, staircase, tb, end_value) for s in steps]


def ulps(got, exact: list, dtype) -> np.ndarray:
    """Vectorised ``ulp_error`` (exact values given as mpf)."""
    got = np.asarray(got).reshape(-1)
    return np.asarray([ulp_error(g, e, dtype) for g, e in zip(got, exact, strict=True)])


def exact_stair(step: int, d: int, tb: int = 0) -> int:
    """floor((step - tb) / d) with Python integers (0 while holding)."""
    return max(0, (int(step) - int(tb)) // int(d))
