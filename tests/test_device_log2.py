"""The device ``64 log2`` of a config leaf's exact value (``_exponent._device_log2_64``).

A config passed into ``jit`` (or mapped by ``vmap``, carried by ``scan``) gets its
constants on the device from its exact pieces ``v = hi + mid 2^-24 + lo 2^-48``. The
rounding test (``_evaluate._fast_bound``) takes them to be within ~2^-46 relative; here
that claim is checked against mpmath at 120 bits: every float32 ``hi`` on the table's
edges and near 1, random float32 and float64 values over the whole normal range, values
within a few float64 ulp of 1, and the values whose ``mid`` piece is a float32 subnormal
(``hi`` below ~2^-102), which XLA flushes to zero when they enter arithmetic.
"""

from __future__ import annotations

import budget
import jax
import mpmath
import numpy as np
import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay
from jax_expdecay._exponent import _device_log2_64
from jax_expdecay._numbers import float_leaves

_BOUND = 2.0**-46  # relative, as _leaf_consts and _fast_bound take it


def _exact_log2_64(v: float) -> mpmath.mpf:
    with mpmath.workprec(120):
        return 64 * mpmath.log(mpmath.mpf(v)) / mpmath.log(2)


def _check(values: np.ndarray) -> None:
    """Relative error of the device constant of each float64 value (|v| as a leaf)."""
    hi, mid, lo = (np.asarray(x, np.float32) for x in float_leaves(np.asarray(values)))
    got_hi, got_lo = jax.jit(_device_log2_64)(hi, mid, lo)
    got_hi, got_lo = np.asarray(got_hi), np.asarray(got_lo)
    bad = []
    with mpmath.workprec(120):
        for k, v in enumerate(values):
            want = _exact_log2_64(float(v))
            got = mpmath.mpf(float(got_hi[k])) + mpmath.mpf(float(got_lo[k]))
            if want == 0:
                ok = got == 0
            else:
                ok = abs((got - want) / want) <= _BOUND
            if not ok:
                bad.append((float(v), float(got), float(want)))
    assert not bad, (len(bad), bad[:3])


def test_float32_values_table_edges_and_near_one():
    f32 = np.float32
    one = np.arange(-2000, 2001, dtype=np.int64)
    near_one = (np.float32(1).view(np.int32) + one).astype(np.int32).view(np.float32)
    j = np.arange(-76, 107)
    edges = (1 + (j + 0.5) / 256).astype(f32)  # where the table index changes
    edges = np.concatenate([edges, np.nextafter(edges, f32(0)), np.nextafter(edges, f32(9))])
    rng = np.random.default_rng(1)
    bits = rng.integers(0x00800000, 0x7F800000, 3000).astype(np.int32)  # normal, positive
    values = np.concatenate([near_one, edges * f32(2.0**40), edges, bits.view(f32)])
    _check(values.astype(np.float64))


def test_float64_values_with_their_pieces():
    rng = np.random.default_rng(2)
    wide = np.exp(rng.uniform(np.log(2.0**-100), np.log(2.0**127), 3000))
    k = np.arange(1, 1000, dtype=np.float64)
    near_one = np.concatenate([1 + k * 2.0**-52, 1 - k * 2.0**-53, 1 - k * 1e-9, 1 + k * 3e-8])
    rates = np.asarray([0.96, 0.9999999, 0.999999, 1 - 2.0**-30, 1 + 2.0**-40, 0.1, 1e-30])
    _check(np.concatenate([wide, near_one, rates]))


def test_tiny_values_whose_mid_piece_is_subnormal():
    """``hi`` in [2^-126, 2^-100]: ``mid`` (up to ``hi``) can be a float32 subnormal; the
    tail it carries is up to 2^-24 of the value near 2^-126, far above the bound."""
    rng = np.random.default_rng(3)
    e = rng.integers(-126, -99, 2000)
    frac = 1 + rng.integers(1, 2**52, 2000) * 2.0**-52  # random float64 significands
    values = np.ldexp(frac, e)
    mid = float_leaves(values)[1]
    assert (np.abs(mid) < np.finfo(np.float32).tiny).sum() > 100  # the case is exercised
    _check(values)


def _tiny_inits(count: int) -> list[float]:
    """Python floats in [2^-126, 2^-104) whose ``mid`` piece is a float32 subnormal."""
    rng = np.random.default_rng(4)
    out: list[float] = []
    while len(out) < count:
        v = float(np.ldexp(1 + rng.integers(1, 2**52) * 2.0**-52, int(rng.integers(-126, -104))))
        mid = float_leaves(np.asarray(v))[1]
        if 0 < abs(float(mid)) < np.finfo(np.float32).tiny:
            out.append(v)
    return out


@pytest.mark.parametrize("stair", [False, True], ids=["continuous", "staircase"])
def test_tiny_init_through_jit_is_the_host_built_schedule(stair):
    """Python-float inits near the bottom of float32 (their ``mid`` piece subnormal) as a
    ``jit`` argument, and stacked under ``vmap``, give the host-built bits."""
    from jax_expdecay import stack

    steps = np.arange(0, 4000, dtype=np.int32)
    cfgs = [ExponentialDecayConfig(i, 3, 1.01, stair) for i in _tiny_inits(24)]
    batch = stack(cfgs)
    want = np.asarray(jax.jit(exponential_decay(batch))(steps[:, None])).T.view(np.int32)
    got = jax.jit(jax.vmap(lambda c: exponential_decay(c)(steps)))(batch)
    bad = np.nonzero(np.asarray(got).view(np.int32) != want)
    assert bad[0].size == 0, (bad[0].size, [cfgs[i] for i in bad[0][:2]])
    one = jax.jit(lambda c: exponential_decay(c)(steps))(cfgs[0])
    np.testing.assert_array_equal(np.asarray(one).view(np.int32), want[0])


def test_host_decodes_float32_bits_without_the_fpu():
    """The accurate path's host side reads a traced config's pieces from their bits with
    integers (its thread flushes subnormal operands); every class of float32 bits."""
    from jax_expdecay._fixed import _f32

    rng = np.random.default_rng(5)
    bits = np.concatenate(
        [
            np.arange(0, 4096),  # +0 and the smallest subnormals
            np.arange(0x007FF000, 0x00801000),  # the subnormal/normal boundary
            rng.integers(0, 2**32, 20000),
            [0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x80000000, 0x80000001],
        ]
    ).astype(np.uint32)
    nan = (bits & 0x7F800000 == 0x7F800000) & (bits & 0x7FFFFF != 0)
    assert all(np.isnan(_f32(int(b))) for b in bits[nan])
    bits = bits[~nan]
    want = bits.view(np.float32).astype(np.float64)  # here (the main thread) nothing flushes
    got = np.asarray([_f32(int(b)) for b in bits])
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want)).all()


_WIDE_CONFIGS = [  # (init, decay_steps, rate, staircase, transition_begin)
    (6.560595357236162e-31, 974_384_070_667, 0.15172894779084753, False, 0),  # found by fuzz
    (0.1, 2**32 + 1, 0.96, False, 0),
    (0.1, 2**40 - 3, 1 - 2.0**-30, False, 2**33),
    (3.0, 2**33 + 7, 2.5, True, 0),
    (0.001, 12_345, 0.9, False, 2**35 + 1),
    (2.0**-120 * (1 + 2.0**-40), 7, 1.01, False, 0),
]


@pytest.mark.parametrize("cfg", _WIDE_CONFIGS, ids=lambda c: f"d={c[1]}-stair={c[3]}")
def test_accurate_path_reads_the_same_config_from_traced_and_host_digits(cfg):
    """The accurate path's host side takes the exact config from the digits: a traced
    config's (its leaves' pieces and words, ``_leaf_consts``) must name the same numbers
    as the host-built one's (``exact_rows``), so both give the same value at every step.
    Before: ``decay_steps`` beyond 2^32 reached the host as 2^32 - 1 plus its high word,
    and flagged as beyond the step range in continuous mode too (p taken as 0: the
    schedule returned ``init`` at undecided steps)."""
    from jax_expdecay import _fixed
    from jax_expdecay._exponent import _NA, P32
    from jax_expdecay._leaf_consts import leaf_consts

    init, d, rate, stair, tb = cfg
    config = ExponentialDecayConfig(init, d, rate, stair, transition_begin=tb)
    host = exponential_decay(config)._host_consts(P32).dig  # pyright: ignore[reportPrivateUsage]
    traced = jax.jit(lambda leaves: leaf_consts(leaves, stair, P32).dig)(config._leaves())  # pyright: ignore[reportPrivateUsage]
    n = np.concatenate([np.arange(0, 50), [2004502880, 2**31 - 1, 2**32 - 1, 10**9 + 7]])
    n = n.astype(np.uint32)
    und = np.ones(n.shape, bool)
    frac = np.zeros((1,), np.float32)
    out = []
    for dig in (host, traced):
        row = np.stack([np.asarray(x) for x in dig], axis=-1).reshape(1, -1)
        out.append(_fixed.accurate(und, n, frac, row, bits=24, emin=-126, emax=127, na=_NA))
    np.testing.assert_array_equal(out[1][1], out[0][1])
    np.testing.assert_array_equal(out[1][0].view(np.int32), out[0][0].view(np.int32))


@pytest.mark.parametrize("cfg", _WIDE_CONFIGS[:2], ids=lambda c: f"d={c[1]}")
def test_wide_decay_steps_through_jit_is_the_host_built_schedule(cfg):
    init, d, rate, stair, tb = cfg
    config = ExponentialDecayConfig(init, d, rate, stair, transition_begin=tb)
    steps = np.concatenate([np.arange(2004502000, 2004503000), np.arange(0, 1000)])
    steps = steps.astype(np.int32)
    want = np.asarray(jax.jit(exponential_decay(config))(steps)).view(np.int32)
    got = np.asarray(jax.jit(lambda c: exponential_decay(c)(steps))(config)).view(np.int32)
    np.testing.assert_array_equal(got, want)


def _extreme_configs(rng, stair: bool, with_end: bool, count: int) -> list:
    """Random valid configs at the edges: inits from 2^-126 to 2^127 (either sign), rates
    within 2^-32 of 1, below 2^-100, ordinary or exact, decay_steps up to 2^40,
    transition_begin up to 2^35, end_value (a floor or a cap) or none."""

    def wide(lo: int, hi: int) -> float:
        return float(np.ldexp(1 + rng.integers(0, 2**52) * 2.0**-52, int(rng.integers(lo, hi))))

    out = []
    while len(out) < count:
        init = [wide(-126, -100), wide(100, 127), wide(-30, 3), wide(-30, 3)][rng.integers(4)]
        init = -init if rng.random() < 0.3 else init
        rate = [
            1 - int(rng.integers(1, 2**20)) * 2.0**-52,
            1 + int(rng.integers(1, 2**20)) * 2.0**-52,
            wide(-126, -100),
            wide(-3, 3),
            float(rng.choice([0.5, 0.96, 2.0, 1.0, 0.0])),
        ][rng.integers(5)]
        d = int(rng.choice([1, 3, 7, 1000, 2**31 - 1, 2**33 + 5, int(rng.integers(1, 2**40))]))
        tb = int(rng.choice([0, 0, 5, 2**31, 2**35]))
        end = None
        if with_end:
            cap = 3e38 / max(abs(init), 1e-300)
            end = abs(init) * float(rng.random()) * (1 if rate < 1 else min(1e6, cap))
        try:
            out.append(
                ExponentialDecayConfig(init, d, rate, stair, transition_begin=tb, end_value=end)
            )
        except ValueError:  # e.g. a result that would overflow float32: refused, fine
            continue
    return out


_FUZZ = [(False, False, "int"), (True, True, "int"), (False, True, "float")]
if budget.LONG:
    _FUZZ = [(s, e, k) for s in (False, True) for e in (False, True) for k in ("int", "float")]


@pytest.mark.parametrize("stair, with_end, kind", _FUZZ)
@pytest.mark.parametrize("seed", range(budget.examples(1, 10)))
def test_extreme_configs_through_vmap_and_jit_argument(stair, with_end, kind, seed):
    """60 random extreme configs (``_extreme_configs``) x ~600 steps: ``vmap`` over their
    ``stack`` and one config as a ``jit`` argument give the host-built bits."""
    from jax_expdecay import stack

    rng = np.random.default_rng([seed, int(stair), int(with_end), kind == "float"])
    cfgs = _extreme_configs(rng, stair, with_end, 60)
    steps = np.concatenate([np.arange(200), rng.integers(0, 2**31 - 1, 300), [2**31 - 1]])
    if kind == "float":
        steps = np.concatenate([rng.uniform(0, 3000, 300), np.arange(100) + 0.5, steps[200:]])
        steps = steps.astype(np.float32)
    else:
        steps = steps.astype(np.int32)
    batch = stack(cfgs)
    want = np.asarray(jax.jit(exponential_decay(batch))(steps[:, None])).T.view(np.int32)
    got = jax.jit(jax.vmap(lambda c: exponential_decay(c)(steps)))(batch)
    bad = np.nonzero(np.asarray(got).view(np.int32) != want)
    assert bad[0].size == 0, (bad[0].size, [cfgs[i] for i in sorted(set(bad[0]))[:2]])
    one = jax.jit(lambda c: exponential_decay(c)(steps))(cfgs[seed % len(cfgs)])
    np.testing.assert_array_equal(np.asarray(one).view(np.int32), want[seed % len(cfgs)])
