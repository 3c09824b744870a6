"""The accurate path's decision near a rounding midpoint (``_fixed._side``), proved.

``_fixed.one`` rounds from exact integers; where its value lies within its written error
bound of a midpoint it asks ``_side`` on which side of the midpoint the exact
``|init| rate^p`` lies: exactly in rationals where equality is possible, else by Ziv's
loop in ``decimal``. These tests compare ``_side`` with ``fractions.Fraction`` (rational
cases, ties included) and with mpmath at 600 bits (irrational cases, midpoints placed
2^-60 to 2^-300 from the value), then force every rounding of a grid through ``_side``
and compare the result with the exactly rounded reference in every output format.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import mpmath
import numpy as np
import pytest

from jax_expdecay import _fixed, exponential_decay
from jax_expdecay._exponent import _NA, P32
from tests.test_exhaustive import round_fraction

F = Fraction


def _sign(x: Fraction) -> int:
    return (x > 0) - (x < 0)


RATIONAL = [  # (|init|, rate, p): |init| rate^p is rational
    (F(1), F(3, 4), F(7)),
    (F(3, 8), F(5, 4), F(3)),
    (F(1), F(9, 16), F(1, 2)),  # sqrt(9/16) = 3/4
    (F(5), F(1, 8), F(2, 3)),  # (1/8)^(2/3) = 1/4
    (F(7, 2), F(2), F(3, 1)),
    (F(1), F(2) ** -40, F(5, 8)),  # 2^-25
    (F(1), F(4), F(1, 2)),
    (F(3), F(27, 8), F(4, 3)),  # (3/2)^4
    (F(1) + F(1, 2**52), F(1) + F(1, 2**52), F(2)),
    (F(0.1), F(0.96), F(3)),  # non-dyadic doubles, integer p: rational, 1000+ bits
    (F(1), F(0.75), F(60)),  # 3^60: more bits than any output format
]


@pytest.mark.parametrize("a, rate, p", RATIONAL)
@pytest.mark.parametrize("offset", [0, 1, -1])
def test_side_exact_against_fractions(a, rate, p, offset):
    """Midpoint exactly at the value (a tie: 0) or 2^-k relative away on either side."""
    exact = a * rate**p.numerator if p.denominator == 1 else None
    if exact is None:  # the rational root, found independently by mpmath
        mpmath.mp.prec = 400
        v = (
            mpmath.mpf(a.numerator)
            / a.denominator
            * (mpmath.mpf(rate.numerator) / rate.denominator)
            ** (mpmath.mpf(p.numerator) / p.denominator)
        )
        exact = F(mpmath.nstr(v, 100, min_fixed=-(10**6), max_fixed=10**6)).limit_denominator(2**80)
        assert exact > 0
    for k in (1, 60, 200):
        mid = exact if offset == 0 else exact * (1 + offset * F(1, 2**k))
        assert _fixed._side(a, rate, p, mid) == _sign(exact - mid), (a, rate, p, k)
        if offset == 0:
            break


def _mp_value(a: Fraction, rate: Fraction, p: Fraction, prec: int = 600) -> mpmath.mpf:
    mpmath.mp.prec = prec
    return (mpmath.mpf(a.numerator) / a.denominator) * mpmath.power(
        mpmath.mpf(rate.numerator) / rate.denominator,
        mpmath.mpf(p.numerator) / p.denominator,
    )


def _to_fraction(x: mpmath.mpf) -> Fraction:
    man, exp = mpmath.mpf(x).man_exp
    return F(int(man)) * F(2) ** int(exp)


IRRATIONAL = [  # (|init|, rate, p): |init| rate^p is irrational
    (F(0.1), F(0.96), F(750390, 100000)),
    (F(1), F(0.999), F(123456789, 1000000)),
    (F(3e-3), F(1.0001), F(1, 3)),
    (F(1), F(0.5), F(1, 3)),  # 2^(-1/3)
    (F(2.5), F(0.96), F(10**4 + 7, 7)),  # ~2^-84
    (F(1), F(9, 16), F(1, 3)),  # not a perfect cube
]


@pytest.mark.parametrize("a, rate, p", IRRATIONAL)
@pytest.mark.parametrize("k", [60, 150, 300])
@pytest.mark.parametrize("side", [1, -1])
def test_side_irrational_against_mpmath(a, rate, p, k, side):
    """The midpoint 2^-k relative above or below the value (mpmath, 600 bits): ``_side``
    must name the side, which needs Ziv's loop to go past k bits."""
    v = _to_fraction(_mp_value(a, rate, p))  # within 2^-590 relative
    mid = v * (1 - side * F(1, 2**k))
    assert _fixed._side(a, rate, p, mid) == side


FORMATS = {  # significant bits, emin
    "float32": (24, -126),
    "bfloat16": (8, -126),
    "float16": (11, -14),
    "float64": (53, -1022),
}
NO_OVERFLOW = 10**4  # one() rounds without an upper limit; the caller applies emax
CONFIGS = [(0.1, 1000, 0.96), (1.0, 1, 0.75), (2.5, 7, 1.5), (1e-3, 100_000, 0.96), (1.0, 3, 0.5)]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("staircase", [False, True])
def test_every_rounding_decided_by_side(monkeypatch, fmt, staircase):
    """With the bound patched to cover everything, every value of ``one`` goes through
    ``_side``; the roundings must equal the exact ones (Fraction for integer p, else
    mpmath at 600 bits, whose error is far below the distance to any midpoint here)."""
    monkeypatch.setattr(_fixed, "_bound", lambda n: 1 << 160)
    bits, emin = FORMATS[fmt]
    rng = np.random.default_rng(0)
    for init, d, rate in CONFIGS:
        digits = _fixed._digits(float(init), d, float(rate), staircase, P32.umax)
        a_int = _fixed._from_digits(digits[:_NA])
        k_int = _fixed._from_digits(digits[_NA:])
        for step in [0, 1, 2, 3, 7, 41, 999, *rng.integers(0, 5000, 8).tolist()]:
            n = step // d if staircase else step
            p = F(n) if staircase else F(n, d)
            exact = (F(init), F(rate), p)
            got, _ = _fixed.one(n, 0.0, a_int, k_int, bits, emin, exact)
            if p.denominator == 1:
                ref = F(init) * F(rate) ** p.numerator
            else:
                ref = _to_fraction(_mp_value(F(init), F(rate), p))
            if ref < F(2) ** emin and fmt in ("float32", "bfloat16"):
                continue  # these formats' results flush there; one()'s value is not used
            assert got == round_fraction(ref, bits, emin, NO_OVERFLOW), (fmt, init, d, rate, step)


@pytest.mark.parametrize("n", range(28, 41))
def test_float64_ties_three_quarters(x64, n):
    """0.75^n = 3^n / 4^n has more than 53 significant bits from n = 34 (3^34 > 2^53):
    at n = 34 it is exactly a float64 midpoint (3^34 has 54 bits), to even; beyond, the
    ordinary nearest. Float64 output (x64 on), against Fraction."""
    sched = exponential_decay(1.0, 1, 0.75, staircase=True)
    got = sched(np.int64(n))
    assert got.dtype == np.float64
    assert float(got) == float(F(3, 4) ** n)  # Fraction -> float: correctly rounded
    cont = exponential_decay(1.0, 2, 0.5625)  # (9/16)^(n/2) = 0.75^n, continuous
    assert float(cont(np.int64(n))) == float(F(3, 4) ** n)


def test_float64_tie_by_construction(x64):
    """(2^53 + 1) is a float64 midpoint: init = 2^53 + 1 is not a double, but
    init 1 + 2^-52 times rate 1 + 2^-52 is 1 + 2^-51 + 2^-104: nearest 1 + 2^-51; and
    (1 + 2^-26)^2 = 1 + 2^-25 + 2^-52 (exact); the accurate path must agree with
    Fraction on both."""
    r = 1 + 2.0**-52
    got = exponential_decay(r, 1, r, staircase=True)(np.int64(1))
    assert float(got) == float(F(r) * F(r))
    r2 = 1 + 2.0**-26
    got2 = exponential_decay(1.0, 1, r2, staircase=True)(np.int64(2))
    assert float(got2) == float(F(r2) ** 2)
    assert jax.config.jax_enable_x64  # pyright: ignore[reportAttributeAccessIssue]


def test_vmap_calls_the_host_only_when_a_value_is_undecided(monkeypatch):
    """Under ``vmap`` the accurate path's ``lax.cond`` had a batched predicate, so JAX made
    it a ``select`` and the host callback ran at every call (100 of 100 below). The
    predicate is now taken over the whole batch: no call while every value is decided,
    and the undecided ones (step 750390 of the Keras documentation example, which only
    the accurate path rounds correctly) still resolved; nested ``vmap`` too."""
    from jax_expdecay import ExponentialDecayConfig, stack

    calls = []
    real = _fixed.accurate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_fixed, "accurate", counting)
    configs = stack([ExponentialDecayConfig(0.1, 1000, r) for r in (0.9, 0.96, 0.5, 0.99)])
    over_configs = jax.jit(jax.vmap(lambda c, t: exponential_decay(c)(t), in_axes=(0, None)))
    over_steps = jax.jit(jax.vmap(lambda t: exponential_decay(0.1, 1000, 0.96)(t)))
    one = jax.vmap(lambda c, t: exponential_decay(c)(t), in_axes=(None, 0))
    nested = jax.jit(jax.vmap(one, in_axes=(0, None)))
    for t in range(50):
        over_configs(configs, np.int32(t)).block_until_ready()
        over_steps(np.arange(t, t + 8, dtype=np.int32)).block_until_ready()
        nested(configs, np.arange(t, t + 8, dtype=np.int32)).block_until_ready()
    assert calls == []

    keras = ExponentialDecayConfig(0.1, 100_000, 0.96)
    steps = np.array([750390, 5, 1000, 750390], np.int32)
    want = np.asarray(exponential_decay(keras)(steps)).view(np.int32)
    assert want[0] == 0x3D96C35B  # the correctly rounded value; the fast path gives ...5a
    both = stack([keras, keras.replace(decay_rate=0.5), keras])
    got = [
        jax.jit(jax.vmap(lambda t: exponential_decay(keras)(t)))(steps),
        jax.jit(jax.vmap(lambda c: exponential_decay(c)(steps)))(both)[2],
        nested(both, steps)[0],
        jax.vmap(one, in_axes=(0, None))(both, steps)[2],
    ]
    for g in got:
        np.testing.assert_array_equal(np.asarray(g).view(np.int32), want)
    assert len(calls) >= 3


KERAS_UNDECIDED = 750390  # the Keras documentation example's first step the fast path leaves
WANT_BITS = 0x3D96C35B  # ... undecided: its correctly rounded value (the fast path: ...5a)


def _programs():
    """The lowered CPU programs of the usual ways in: closure, jit argument, traced
    config, vmap over steps and over configs, and the gradient."""
    from jax_expdecay import ExponentialDecayConfig, stack

    cfg = ExponentialDecayConfig(0.1, 100_000, 0.96)
    sched = exponential_decay(cfg)
    t = np.int32(KERAS_UNDECIDED)
    ts = np.arange(8, dtype=np.int32)
    yield jax.jit(sched).lower(t)
    yield jax.jit(lambda s, u: s(u)).lower(sched, t)
    yield jax.jit(lambda c, u: exponential_decay(c)(u)).lower(cfg, t)
    yield jax.jit(jax.vmap(sched)).lower(ts)
    both = stack([cfg, cfg.replace(decay_rate=0.5)])
    yield jax.jit(jax.vmap(lambda c: exponential_decay(c)(t))).lower(both)
    yield jax.jit(jax.grad(lambda u: sched(u))).lower(np.float32(KERAS_UNDECIDED))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="CPU programs only")
def test_cpu_programs_hold_our_ffi_call_not_a_python_callback():
    """On CPU the accurate path is a custom call to our FFI handler (``_host_call``), not
    ``jax.pure_callback``: jaxlib dispatches any CPU program holding a Python callback
    synchronously, which cost a small training update ~15%, and JAX's persistent cache
    skips such programs."""
    from jax_expdecay import _host_call

    def probe(x):  # does this JAX lower only the CPU branch of platform_dependent?
        cb = jax.ShapeDtypeStruct((), np.float32)
        other = lambda y: jax.pure_callback(lambda z: z, cb, y)  # noqa: E731
        return jax.lax.platform_dependent(x, cpu=lambda y: y + 1, default=other)

    prunes = "python_cpu_callback" not in jax.jit(probe).lower(np.float32(1)).as_text()
    # jax 0.10.2 does; jax 0.5.3 lowers both branches (XLA then runs ours, but JAX sees
    # the callback and dispatches synchronously, as before: same values, older speed)
    assert prunes or jax.__version_info__ < (0, 6)
    for lowered in _programs():
        text = lowered.as_text()
        assert _host_call.TARGET in text
        assert not prunes or "python_cpu_callback" not in text


def test_host_failure_is_an_error_naming_it(monkeypatch):
    """An exception in the host function reaches the caller as XLA's error, with the
    exception's type and message: no silently unwritten output buffer."""

    def broken(*args, **kwargs):
        raise ValueError("the host side broke")

    monkeypatch.setattr(_fixed, "accurate", broken)
    sched = jax.jit(exponential_decay(0.1, 100_000, 0.96))
    with pytest.raises(Exception, match="accurate path: ValueError: the host side broke"):
        np.asarray(sched(np.int32(KERAS_UNDECIDED)))
    assert float(sched(np.int32(5))) > 0  # a decided step never calls the host


def test_other_platforms_callback_gives_the_value_and_names_a_failure(monkeypatch):
    """The ``jax.pure_callback`` branch that GPUs and TPUs lower (``_host_call``), run here
    by making ``platform_dependent`` take its default: the correctly rounded value, and a
    host failure named as on CPU. (The first GPU run found that branch bound the host
    function when traced, so a program compiled earlier kept the old one.)"""
    from jax_expdecay import _host_call

    monkeypatch.setattr(jax.lax, "platform_dependent", lambda *args, cpu, default: default(*args))
    sched = exponential_decay(0.1, 100_000, 0.96)
    step = np.int32(KERAS_UNDECIDED)
    program = jax.jit(lambda s: sched(s)).lower(step)
    text = program.as_text()  # python_cpu_callback here, xla_python_gpu_callback on a GPU
    assert "_callback" in text and _host_call.TARGET not in text
    compiled = program.compile()
    assert int(np.asarray(compiled(step)).view(np.uint32)) == WANT_BITS

    def broken(*args, **kwargs):
        raise ValueError("the host side broke")

    monkeypatch.setattr(_fixed, "accurate", broken)  # after compiling: looked up per call
    with pytest.raises(Exception, match="accurate path: ValueError: the host side broke"):
        np.asarray(compiled(step))


def test_asynchronous_calls_threads_and_devices_resolve_without_deadlock():
    """The FFI call runs inside asynchronously dispatched programs (the point of it):
    200 calls queued without waiting, two Python threads at once, and a ``pmap`` over
    the 8 host devices whose executions call the host in parallel; every value the
    correctly rounded one."""
    import threading

    sched = jax.jit(exponential_decay(0.1, 100_000, 0.96))
    t = np.int32(KERAS_UNDECIDED)
    queued = [sched(t + np.int32(0)) for _ in range(200)]
    results: list = []

    def worker():
        results.extend(np.asarray(sched(t)).view(np.int32) for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
        assert not th.is_alive(), "a thread is stuck: deadlock?"
    n = jax.local_device_count()
    spread = jax.pmap(exponential_decay(0.1, 100_000, 0.96))(np.full(n, t))
    got = [np.asarray(q).view(np.int32) for q in queued] + results
    got += list(np.asarray(spread).view(np.int32))
    assert len(got) == 200 + 100 + n
    assert all(int(g) == WANT_BITS for g in got)
