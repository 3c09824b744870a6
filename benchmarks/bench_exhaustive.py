"""Every int32 step of a schedule against the exact value: steps checked, mismatches, time.

Run:  python benchmarks/bench_exhaustive.py [--config keras] [--mode both]
          [--start 0] [--stop 2147483648] [--dtype float32] [--selftest]

For one config and mode, evaluates our jitted schedule at every int32 step in
``[start, stop)`` (chunks of 2^20 steps) and compares its bits with the correctly rounded
value of the exact ``init * rate ** p`` (``init``, ``rate`` the exact binary values given,
``p = (s - tb) / d`` or ``floor((s - tb) / d)``), rounded to nearest-even into the output
dtype; float32 results below 2^-126 are expected flushed to 0 (except those that round to
2^-126), as the README states. bfloat16/float16 are checked where the exact value is a
normal number of that format (``--dtype``).

How the expected value is decided, per step (``_filter``):

* a float64 *filter* (IEEE ``+ - x``, numpy, no libm: constants from mpmath at 300 bits)
  computes ``V = y * 2^n`` as ``y_hi + y_lo`` with a rigorous bound ``B`` on
  ``|y_hi + y_lo - y|`` (derived next to the code, ``_ERR`` and ``_t_bound``), finds the
  candidate ``c`` = the format's rounding of ``fl(y_hi + y_lo) 2^n`` and accepts it when
  both neighbouring midpoints of ``c`` are provably farther than ``B`` from ``y``;
* the rest (``B`` ~ 2^-53 relative: a few steps per 2^31, plus every exact tie) go to
  ``_decide_exact``: mpmath at 320 bits, and where that is within 2^-300 of a midpoint an
  exact rational test (``V`` is rational only if ``rate`` is a ``b``-th power of a
  rational for ``p = a/b``; then ``V`` is computed as a ``Fraction``) with ties to even.
  This count is printed as "mpmath".

Staircase schedules are decided once per distinct stair and every step is compared with
its stair's value, so a value one step early or late at a stair boundary is reported.

``--selftest`` validates the checker: planted one-ulp errors (up and down) and swapped
stair boundaries must all be reported, and the filter must agree with pure mpmath
(``_decide_exact``) on random steps. CI runs a short slice of this (tests/test_exhaustive.py).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import ml_dtypes
import mpmath
import numpy as np

import jax_expdecay

_PREC = 320  # mpmath bits for constants and undecided steps
CHUNK = 2**20
_SUB = 2**12  # numpy sub-chunk: 4x faster than 2^20-element arrays (cache)
INT32_END = 2**31


@dataclass(frozen=True)
class Fmt:
    """An output format: significand bits (with the implicit one), exponent range."""

    name: str
    dtype: Any
    bits_dtype: Any
    p: int  # significand bits
    emin: int  # exponent of the smallest normal
    emax: int  # exponent of the largest finite
    flush: bool  # subnormal results expected as 0 (float32: the kernel flushes them)

    @property
    def min_normal(self) -> float:
        return math.ldexp(1.0, self.emin)

    @property
    def max_finite(self) -> float:
        return math.ldexp(2.0 - math.ldexp(1.0, 1 - self.p), self.emax)


FMTS = {
    "float32": Fmt("float32", np.float32, np.uint32, 24, -126, 127, True),
    "bfloat16": Fmt("bfloat16", ml_dtypes.bfloat16, np.uint16, 8, -126, 127, True),
    "float16": Fmt("float16", np.float16, np.uint16, 11, -14, 15, False),
}


@dataclass(frozen=True)
class Config:
    init: float
    decay_steps: int
    rate: float
    transition_begin: int = 0

    def label(self) -> str:
        tb = f", tb={self.transition_begin}" if self.transition_begin else ""
        return f"({self.init!r}, {self.decay_steps}, {self.rate!r}{tb})"


# ----------------------------------------------------------------------------------------
# Exact decisions (mpmath + fractions): the reference the filter must agree with.
# ----------------------------------------------------------------------------------------
def _exact_p(cfg: Config, s: int, staircase: bool) -> Fraction:
    e = max(int(s) - cfg.transition_begin, 0)
    return Fraction(e // cfg.decay_steps) if staircase else Fraction(e, cfg.decay_steps)


def _iroot(n: int, b: int) -> int | None:
    """The integer ``b``-th root of ``n >= 0`` if ``n`` is a perfect power, else None."""
    if n < 2:
        return n
    r = round(n ** (1.0 / b)) if n.bit_length() < 1000 else 1 << (n.bit_length() // b)
    # Newton on integers from an upper estimate
    x = max(r, 1)
    while x**b < n:
        x *= 2
    while True:
        y = ((b - 1) * x + n // x ** (b - 1)) // b
        if y >= x:
            break
        x = y
    for c in (x - 1, x, x + 1):
        if c >= 0 and c**b == n:
            return c
    return None


def _odd(n: int) -> int:
    return n >> ((n & -n).bit_length() - 1) if n else 0


def exact_rational(init: float, rate: float, p: Fraction) -> Fraction | None:
    """``init * rate ** p`` as a dyadic ``Fraction`` when it is one with a short odd part,
    else None (then it is irrational or not dyadic: never a midpoint of any format)."""
    if p == 0:
        return Fraction(init)
    r = Fraction(rate)
    if r == 0:
        return Fraction(0)
    a, b = p.numerator, p.denominator
    num, den = _iroot(r.numerator, b), _iroot(r.denominator, b)
    if num is None or den is None:
        return None  # rate ** (1/b) irrational, so rate ** (a/b) is (gcd(a, b) = 1)
    if a < 0:
        num, den, a = den, num, -a
    # the result is dyadic only if the odd parts of num ** a and den ** a are tiny
    on, od = _odd(num), _odd(den)
    if od != 1 or (on > 1 and a * on.bit_length() > 4096):
        return None
    return Fraction(init) * Fraction(num, den) ** a


def _round_exact(v: Any, fmt: Fmt, tie_value: Fraction | None) -> float:
    """The format's rounding (ties to even, gradual underflow, overflow to inf) of the
    positive real ``v`` (an mpf at ``_PREC`` bits, or exact when ``tie_value`` is given)."""
    x = float(v)  # nearest double: within a half quantum of the format, so the candidate
    c = _rn_fmt(np.asarray([x]), fmt)[0]  # is the rounding or a neighbour of it
    for _ in range(3):
        lo, hi = _mids(np.asarray([c]), fmt)
        lo_v, hi_v = float(lo[0]), float(hi[0])
        below = _cmp(v, lo_v, tie_value) if lo_v > -np.inf else 1
        above = _cmp(v, hi_v, tie_value) if hi_v < np.inf else -1
        if below > 0 and above < 0:
            return float(c)
        if below == 0 or above == 0:  # an exact tie: the even neighbour
            other = _neighbour(c, fmt, -1 if below == 0 else 1)
            return float(c) if _is_even(c, fmt) else float(other)
        c = _neighbour(c, fmt, -1 if below < 0 else 1)
    raise AssertionError(f"no rounding found for {v}")


def _cmp(v: Any, m: float, tie_value: Fraction | None) -> int:
    """sign(v - m), exact."""
    if tie_value is not None:
        d = tie_value - Fraction(m)
        return (d > 0) - (d < 0)
    d = v - mpmath.mpf(m)
    return (d > 0) - (d < 0)


def _decide_exact(cfg: Config, s: int, staircase: bool, fmt: Fmt) -> float:
    """The expected output at step ``s`` by mpmath (and exact rationals near midpoints),
    before the float32 flush rule (applied by ``_apply_flush``)."""
    p = _exact_p(cfg, s, staircase)
    init = abs(cfg.init)
    with mpmath.workprec(_PREC):
        if cfg.rate == 0 and p > 0:
            v = mpmath.mpf(0)
        else:
            v = mpmath.mpf(init) * mpmath.power(
                mpmath.mpf(cfg.rate), mpmath.mpf(p.numerator) / p.denominator
            )
        if v == 0 or init == 0:
            return 0.0
        x = float(v)
        c = _rn_fmt(np.asarray([x]), fmt)[0]
        lo, hi = _mids(np.asarray([c]), fmt)
        near = [m for m in (float(lo[0]), float(hi[0])) if np.isfinite(m)]
        close = any(abs(v - m) <= abs(v) * mpmath.mpf(2) ** -300 for m in near)
        tie_value = exact_rational(init, cfg.rate, p) if close else None
        if close and tie_value is None:  # irrational yet this close: more bits
            with mpmath.workprec(4000):
                v = mpmath.mpf(init) * mpmath.power(
                    mpmath.mpf(cfg.rate), mpmath.mpf(p.numerator) / p.denominator
                )
                if any(abs(v - m) <= abs(v) * mpmath.mpf(2) ** -3900 for m in near):
                    raise AssertionError(f"undecidable step {s} of {cfg}")
                return _round_exact(v, fmt, None)
        return _round_exact(v, fmt, tie_value)


# ----------------------------------------------------------------------------------------
# Format helpers (numpy, exact).
# ----------------------------------------------------------------------------------------
def _rn_fmt(x: np.ndarray, fmt: Fmt) -> np.ndarray:
    """Round float64 ``x >= 0`` to the format, ties to even, gradual underflow, inf on
    overflow. Exact: ``x / q`` is a power-of-two scaling, ``np.rint`` is ties-to-even."""
    x = np.asarray(x, np.float64)
    _, e = np.frexp(x)  # x = m 2^e, m in [0.5, 1)
    q_exp = np.maximum(e - fmt.p, fmt.emin + 1 - fmt.p)
    c = np.ldexp(np.rint(np.ldexp(x, -q_exp)), q_exp)
    return np.where(c > fmt.max_finite, np.inf, c)


def _to_bits(c: np.ndarray, fmt: Fmt) -> np.ndarray:
    return np.asarray(c, np.float64).astype(fmt.dtype).view(fmt.bits_dtype)


def _from_bits(b: np.ndarray, fmt: Fmt) -> np.ndarray:
    return np.asarray(b, fmt.bits_dtype).view(fmt.dtype).astype(np.float64)


def _neighbour(c: float, fmt: Fmt, direction: int) -> float:
    b = _to_bits(np.asarray([c]), fmt).astype(np.int64) + direction
    return float(_from_bits(b.astype(fmt.bits_dtype), fmt)[0])


def _is_even(c: float, fmt: Fmt) -> bool:
    return int(_to_bits(np.asarray([c]), fmt)[0]) % 2 == 0


def _mids(c: np.ndarray, fmt: Fmt) -> tuple[np.ndarray, np.ndarray]:
    """The midpoints below and above each candidate ``c >= 0`` (float64, exact: formats
    of at most 24 bits). Below 0: -inf; above the largest finite: its overflow threshold
    (``max + ulp/2``, a tie that rounds to inf); for ``c = inf``: that threshold, +inf."""
    bits = _to_bits(np.where(np.isinf(c), 0.0, c), fmt).astype(np.int64)
    inf_bits = int(_to_bits(np.asarray([np.inf]), fmt)[0])
    b_inf = np.where(np.isinf(c), inf_bits, bits)
    prev = _from_bits(np.maximum(b_inf - 1, 0).astype(fmt.bits_dtype), fmt)
    nxt = _from_bits(np.minimum(b_inf + 1, inf_bits).astype(fmt.bits_dtype), fmt)
    cc = _from_bits(b_inf.astype(fmt.bits_dtype), fmt)
    ovf = fmt.max_finite + math.ldexp(1.0, fmt.emax - fmt.p)  # max + half its ulp
    lo = np.where(b_inf == 0, -np.inf, np.where(np.isinf(cc), ovf, (prev + cc) / 2))
    hi = np.where(np.isinf(cc), np.inf, np.where(np.isinf(nxt), ovf, (cc + nxt) / 2))
    return lo, hi


def _apply_flush(c: np.ndarray, fmt: Fmt) -> np.ndarray:
    """The kernel's documented flush: float32/bfloat16 values below 2^-126 are 0 (a
    rounding *to* 2^-126 is kept)."""
    if not fmt.flush:
        return c
    return np.where(c < fmt.min_normal, 0.0, c)


# ----------------------------------------------------------------------------------------
# The float64 filter.
# ----------------------------------------------------------------------------------------
def _dd(x: Any) -> tuple[float, float]:
    """An mpf as a double-double ``hi + lo`` (within 2^-106 relative)."""
    hi = float(x)
    return hi, float(x - mpmath.mpf(hi))


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split26(x: float) -> tuple[float, float]:
    """``x = h + l`` with ``h`` of 26 and ``l`` of at most 27 significant bits (exact)."""
    if x == 0:
        return 0.0, 0.0
    m, e = math.frexp(x)
    h = math.ldexp(math.floor(m * 2**26), e - 26)
    return h, x - h


@dataclass(frozen=True)
class _Consts:
    a: tuple[float, float]  # log2 |init|
    k: tuple[float, float]  # log2(rate) [/ d]
    k_split: tuple[float, float]  # k[0] as 26 + 27 bits
    ln2: tuple[float, float]
    table: tuple[np.ndarray, np.ndarray]  # 2^(j/64) as double-doubles


def _consts(cfg: Config, staircase: bool) -> _Consts:
    with mpmath.workprec(_PREC):
        a = mpmath.log(mpmath.mpf(abs(cfg.init)), 2)
        k = mpmath.log(mpmath.mpf(cfg.rate), 2)
        if not staircase:
            k = k / cfg.decay_steps
        t1, t2 = zip(*[_dd(mpmath.power(2, mpmath.mpf(j) / 64)) for j in range(64)], strict=True)
        kd = _dd(k)
        return _Consts(
            _dd(a), kd, _split26(kd[0]), _dd(mpmath.log(2)), (np.array(t1), np.array(t2))
        )


# The error of y_hi + y_lo (y = V 2^-n in [0.9946, 1.9947]), derived step by step below
# with u = 2^-53 (every numpy op is one IEEE double rounding; numpy never contracts):
#   t = A + N K as th + tl:   |error| <= E_t = 2^-100 (|A| + |N K|)   (_t_bound)
#   r = (v + tl) ln2:         |error| <= 2^-59 (|v| <= 2^-7 + 2^-60)
#   q = expm1(r), degree 6:   truncation 0.0055^7/5040 < 2^-64; rounding
#                             <= 2.1 u |q| + 1.006 |dr| < 2^-58.3
#   y = T1 + (T1 q + T2 (1 + q)): 2 * 2^-58.3 + 2 * 2^-59.4 + 2^-104 < 2^-56
# and E_t in t is a relative error < 0.7 E_t in V. With |y| < 2:  B = 2^-55 + 1.4 E_t;
# _ERR adds a factor of 2 for safety (B = 2^-54 + 2.8 E_t); the filter then leaves about
# one step in 2^29 undecided (plus every exact tie), and those go to mpmath.
_ERR = 2.0**-54


def _t_bound(c: _Consts, n: np.ndarray) -> np.ndarray:
    """E_t: the double-double ``t`` from ``_exponent64`` is within this of ``A + N K``.

    Constants within 2^-106 relative (mpmath at 320 bits, rounded twice): 2^-106
    (|A| + |N K|). ``N K_hi`` is four exact products (N in 16 + 15 bits, K_hi in 26 + 27)
    summed by TwoSum, errors and ``N K_lo`` (< 2^-52 |N K|) summed with < 3 roundings of
    quantities below 2^-51 (|A| + |N K|): < 2^-102 (|A| + |N K|); so 2^-100 is safe."""
    return 2.0**-100 * (abs(c.a[0]) + np.abs(n) * abs(c.k[0]) + 1e-300)


def _exponent64(c: _Consts, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A + N K`` as a double-double (N: float64 integers below 2^31)."""
    nh = np.floor(n / 2.0**15) * 2.0**15  # exact: top 16 bits
    nl = n - nh  # low 15 bits
    kh, kl = c.k_split
    hi, e1 = _two_sum(nh * kh, nh * kl)  # each product exact (<= 16 x 27 bits)
    hi, e2 = _two_sum(hi, nl * kh)
    lo = (e1 + e2) + (nl * kl + n * c.k[1])
    th, e3 = _two_sum(np.full_like(hi, c.a[0]), hi)
    tl = (e3 + lo) + c.a[1]
    s = th + tl  # Fast2Sum: |th| >= |tl| or th == 0
    return s, tl - (s - th)


def _filter(c: _Consts, n: np.ndarray, fmt: Fmt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected values (before flush) at exponents ``A + n K``, the decided mask, and
    the "certainly tiny" mask (no need for mpmath: the value is below a quarter of the
    smallest subnormal of the format, so it rounds to 0)."""
    th, tl = _exponent64(c, n)
    et = _t_bound(c, n)
    tiny = th < fmt.emin - fmt.p - 3  # V < 2^-(149+2) etc.: rounds to 0
    huge = th > fmt.emax + 3  # rounds to inf
    th_c = np.clip(th, -1000.0, 1000.0)
    k = np.rint(th_c * 64.0)
    v = th_c - k / 64.0  # exact (see the module doc of the checker)
    tl_c = np.where((th_c == th), tl, 0.0)
    r = v * c.ln2[0] + (tl_c * c.ln2[0] + v * c.ln2[1])
    q = r * (1.0 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720))))))
    j = (k.astype(np.int64) & 63).astype(np.intp)
    n2 = np.floor_divide(k, 64.0)
    t1, t2 = c.table[0][j], c.table[1][j]
    y_hi = t1
    y_lo = t1 * q + t2 * (1.0 + q)
    bound = _ERR + 2.8 * et
    x = np.ldexp(y_hi + y_lo, n2.astype(np.int64))
    cand = _rn_fmt(x, fmt)
    lo, hi = _mids(cand, fmt)
    lo_y = np.ldexp(lo, -n2.astype(np.int64))
    hi_y = np.ldexp(hi, -n2.astype(np.int64))
    with np.errstate(invalid="ignore"):
        d_lo = (y_hi - lo_y) + y_lo  # two roundings: error < 2^-51.9 (|d| + |y_lo|)
        d_hi = (hi_y - y_hi) - y_lo
    slack = 2.0**-51 * np.abs(y_lo)
    ok_lo = np.isneginf(lo) | (d_lo * (1 - 2.0**-50) - slack > bound)
    ok_hi = np.isposinf(hi) | (d_hi * (1 - 2.0**-50) - slack > bound)
    decided = (ok_lo & ok_hi) | tiny | huge
    cand = np.where(tiny, 0.0, np.where(huge, np.inf, cand))
    return cand, decided, tiny


# ----------------------------------------------------------------------------------------
# The run.
# ----------------------------------------------------------------------------------------
def _expected_for(
    cfg: Config, staircase: bool, fmt: Fmt, n: np.ndarray, steps_of: np.ndarray, c: _Consts
) -> tuple[np.ndarray, int, np.ndarray]:
    """Expected bits for exponent multipliers ``n`` (stairs or step offsets); ``steps_of``
    gives a step with that ``n`` (for ``_decide_exact``). Returns (bits, mpmath count,
    the checked mask: where the exact value is in the format's checked range)."""
    if cfg.rate == 0:
        val = np.where(n > 0, 0.0, _round_exact_init(cfg, fmt))
        decided = np.ones(n.shape, bool)
        tiny = np.zeros(n.shape, bool)
    else:
        nf = n.astype(np.float64)
        parts = [_filter(c, nf[i : i + _SUB], fmt) for i in range(0, len(nf), _SUB)]
        val, decided, tiny = (np.concatenate(x) for x in zip(*parts, strict=True))
    und = np.flatnonzero(~decided)
    for i in und:
        val[i] = _decide_exact(cfg, int(steps_of[i]), staircase, fmt)
    checked = np.ones(n.shape, bool)
    if not fmt.flush:  # float16: checked where the exact value is normal (see --help)
        checked = (val > fmt.min_normal) & ~tiny
    val = _apply_flush(val, fmt)
    if cfg.init < 0:
        val = -val
    return _to_bits(val, fmt), len(und), checked


def _round_exact_init(cfg: Config, fmt: Fmt) -> float:
    with mpmath.workprec(_PREC):
        return _round_exact(mpmath.mpf(abs(cfg.init)), fmt, Fraction(abs(cfg.init)))


def make_schedule(cfg: Config, staircase: bool, fmt: Fmt):
    init = cfg.init if fmt.name == "float32" else jnp.asarray(cfg.init, fmt.dtype)
    sched = jax_expdecay.exponential_decay(
        init, cfg.decay_steps, cfg.rate, staircase, transition_begin=cfg.transition_begin
    )
    return jax.jit(sched)


def _all_tiny(c: _Consts, off: np.ndarray, fmt: Fmt) -> bool:
    """Whether ``A + n K`` at both ends of a chunk (so everywhere between: linear) is
    far below the format's smallest subnormal (its value then rounds to 0)."""
    ends = np.asarray([off[0], off[-1]], np.float64)
    th, _ = _exponent64(c, ends)
    return bool(np.all(th < fmt.emin - fmt.p - 3))


@dataclass
class Result:
    checked: int = 0
    mismatches: int = 0
    mpmath: int = 0
    seconds: float = 0.0
    first: list | None = None


def check_range(
    cfg: Config,
    staircase: bool,
    fmt: Fmt,
    start: int,
    stop: int,
    *,
    ours=None,
    plant=None,
    chunk: int = CHUNK,
    keep: int = 10,
) -> Result:
    """Checks steps ``[start, stop)``. ``ours(steps) -> bits`` replaces the schedule
    (``plant(steps, bits) -> bits`` modifies its output: the self-test)."""
    t0 = time.perf_counter()
    res = Result(first=[])
    c = _consts(cfg, staircase) if cfg.rate != 0 else None
    if ours is None:
        sched = make_schedule(cfg, staircase, fmt)

        def ours(s: np.ndarray) -> np.ndarray:
            return np.asarray(sched(jnp.asarray(s))).view(fmt.bits_dtype)

    stair_cache: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        steps = np.arange(lo, hi, dtype=np.int64)
        off = np.maximum(steps - cfg.transition_begin, 0)
        got = ours(steps.astype(np.int32))
        if plant is not None:
            got = plant(steps, got)
        if staircase:
            stairs = off // cfg.decay_steps
            s0, s1 = int(stairs[0]), int(stairs[-1])
            key = s0
            if key not in stair_cache:
                stair_cache.clear()
                un = np.arange(s0, s1 + 1, dtype=np.int64)
                rep = un * cfg.decay_steps + cfg.transition_begin  # first step of the stair
                e, m, ck = _expected_for(cfg, True, fmt, un, rep, c)  # type: ignore[arg-type]
                res.mpmath += m
                stair_cache[key] = (s0, e, ck)
            base, e, ck = stair_cache[key]
            if int(stairs[-1]) - base >= len(e):  # the chunk runs past the cached stairs
                stair_cache.clear()
                un = np.arange(s0, s1 + 1, dtype=np.int64)
                rep = un * cfg.decay_steps + cfg.transition_begin
                e, m, ck = _expected_for(cfg, True, fmt, un, rep, c)  # type: ignore[arg-type]
                res.mpmath += m
                stair_cache[s0] = (s0, e, ck)
                base = s0
            want, checked = e[stairs - base], ck[stairs - base]
        elif c is not None and _all_tiny(c, off, fmt):  # t is monotone in the step
            want = _to_bits(np.full(len(steps), -0.0 if cfg.init < 0 else 0.0), fmt)
            m, checked = 0, np.ones(len(steps), bool)
        else:
            want, m, checked = _expected_for(cfg, False, fmt, off, steps, c)  # type: ignore[arg-type]
            res.mpmath += m
        bad = np.flatnonzero(checked & (got != want))
        res.checked += int(checked.sum())
        res.mismatches += len(bad)
        for i in bad[: max(0, keep - len(res.first))]:
            res.first.append((int(steps[i]), int(got[i]), int(want[i])))
    res.seconds = time.perf_counter() - t0
    return res


CONFIGS = {
    "keras": Config(0.1, 100_000, 0.96),  # the Keras documentation example
    "near1": Config(1.0, 1_000_000, 0.999),  # rate near 1, long decay_steps: normal to 2^31
    "near1b": Config(0.01, 10_000_000, 0.9),
    "grow": Config(1e-30, 10_000_000, 1.5),  # growth: from 1e-30 to ~inf
    "d1": Config(0.1, 1, 1 - 2.0**-24),  # decay_steps 1, rate the float just below 1
    "d3": Config(3.0, 3, 0.99999),
    "d7": Config(0.5, 7, 0.999999),
    "dyadic": Config(1.0, 1, 0.5),  # exact powers of two: every value exact
    "dyadic_ties": Config(1.0 + 2.0**-24, 1, 1.0 - 2.0**-12),  # exact values, many ties?
}


# ----------------------------------------------------------------------------------------
# Self-test: the checker must report planted errors and agree with mpmath.
# ----------------------------------------------------------------------------------------
def selftest(start: int = 790_000, n: int = 2**16, samples: int = 200, seed: int = 0) -> dict:
    """Plants one-ulp errors (and swapped stair boundaries) into exact expected bits and
    checks every one is reported; compares the filter with ``_decide_exact`` on random
    steps. Returns the counts (raises AssertionError on any failure)."""
    rng = np.random.default_rng(seed)
    out = {}
    fmt = FMTS["float32"]
    for name in ("keras", "d3"):
        cfg = CONFIGS[name]
        for staircase in (False, True):
            c = _consts(cfg, staircase)
            truth: dict[int, int] = {}

            def exact_bits(steps: np.ndarray, cfg=cfg, staircase=staircase, c=c) -> np.ndarray:
                off = np.maximum(steps - cfg.transition_begin, 0)
                nn = off // cfg.decay_steps if staircase else off
                e, _, _ = _expected_for(cfg, staircase, fmt, nn, steps, c)
                return e

            planted: set[int] = set()

            def plant(
                steps: np.ndarray, got: np.ndarray, staircase=staircase, cfg=cfg, planted=planted
            ):
                got = got.copy()
                idx = rng.choice(len(steps), 40, replace=False)
                for k, i in enumerate(idx):
                    got[i] = int(got[i]) + (1 if k % 2 else -1)  # one ulp up / down
                    planted.add(int(steps[i]))
                if staircase:  # swap the values either side of every stair boundary
                    b = np.flatnonzero((steps % cfg.decay_steps == 0) & (steps > steps[0]))
                    for i in b:
                        if got[i] != got[i - 1]:
                            got[i], got[i - 1] = got[i - 1], got[i]
                            planted.update((int(steps[i]), int(steps[i - 1])))
                return got

            s0 = start if name == "keras" else 3 * 10**6  # both cross stair boundaries
            res = check_range(
                cfg, staircase, fmt, s0, s0 + n, ours=exact_bits, plant=plant, keep=10**6
            )
            found = {s for s, _, _ in res.first or []}
            assert found == planted, (name, staircase, sorted(planted ^ found)[:5])
            out[(name, staircase, "planted")] = len(planted)
            # the filter against pure mpmath on random steps
            steps = np.sort(rng.integers(0, [2**28, 2**31], (samples // 2, 2)).ravel())
            off = np.maximum(steps - cfg.transition_begin, 0)
            nn = off // cfg.decay_steps if staircase else off
            val, decided, _ = _filter(c, nn.astype(np.float64), fmt)
            for i in np.flatnonzero(decided):
                ref = _decide_exact(cfg, int(steps[i]), staircase, fmt)
                assert val[i] == ref, (name, staircase, int(steps[i]), val[i], ref)
            truth[0] = int(decided.sum())
            out[(name, staircase, "mpmath agree")] = int(decided.sum())
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="keras", help=f"one of {sorted(CONFIGS)} or 'all'")
    ap.add_argument("--mode", choices=["continuous", "staircase", "both"], default="both")
    ap.add_argument("--dtype", choices=sorted(FMTS), default="float32")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=INT32_END)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        t0 = time.perf_counter()
        for k, v in selftest().items():
            print(f"selftest {k}: {v}")
        print(f"selftest ok in {time.perf_counter() - t0:.1f} s")
        return
    names = sorted(CONFIGS) if args.config == "all" else [args.config]
    modes = {"both": [False, True], "continuous": [False], "staircase": [True]}[args.mode]
    fmt = FMTS[args.dtype]
    print(f"# steps [{args.start}, {args.stop}), {fmt.name}, jit on {jax.devices()[0].platform}")
    print(f"{'config':<40} {'mode':<11} {'checked':>11} {'mismatch':>8} {'mpmath':>6} {'s':>7}")
    for name in names:
        cfg = CONFIGS[name]
        for staircase in modes:
            r = check_range(cfg, staircase, fmt, args.start, args.stop)
            mode = "staircase" if staircase else "continuous"
            print(
                f"{cfg.label():<40} {mode:<11} {r.checked:>11} {r.mismatches:>8} "
                f"{r.mpmath:>6} {r.seconds:>7.1f}",
                flush=True,
            )
            for s, g, w in r.first or []:
                print(f"    step {s}: ours {g:#x}, want {w:#x}")


if __name__ == "__main__":
    main()
