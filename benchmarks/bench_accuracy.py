"""Accuracy of ours vs optax, Keras 3 (JAX backend) and the bare float32 kernel, under jit,
against exact values (mpmath), in float32.

Run:  python benchmarks/bench_accuracy.py            # peers, float32
      python benchmarks/bench_accuracy.py --dtypes   # ours in float32/64, bfloat16, float16
      python benchmarks/bench_accuracy.py --exp [N]  # our exp2 on N (10^6) random arguments
      python benchmarks/bench_accuracy.py --typical  # typical-config grid, % nearest float32

Grid: decay_rate in {0.96, 0.5, 0.9999, 0.999999, 1.05, 0.1} x decay_steps in
{1, 3, 7, 41, 47, 61, 1000, 10**5} x staircase in {False, True}, initial rate 0.1, int32
steps log-uniform on [1, 2**31 - 1] plus stair boundaries k*d-1, k*d, k*d+1, and the growth
schedule 1e-6 * 1.05 ** (step / 1000) near step 1.84M. Prints, per contender: worst and
median error in float32 ulp (over finite, non-zero results), the share of points off by more than 0.1%, wrong stairs
(staircase points whose value is nearer another stair than the right one), and inf/0
results where the exact value is a finite normal float32.
"""

from __future__ import annotations

import math
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import keras
import mpmath
import numpy as np
import optax

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from reference import exact_lr, ulp_error

import jax_expdecay

RATES = (0.96, 0.5, 0.9999, 0.999999, 1.05, 0.1)
DECAY_STEPS = (1, 3, 7, 41, 47, 61, 1000, 10**5)
TINY, BIG = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)


def steps_for(d: int) -> np.ndarray:
    rng = np.random.default_rng(d)
    logu = np.exp(rng.uniform(0, math.log(2**31 - 1), 30)).astype(np.int64)
    k = np.unique(np.geomspace(1, (2**31 - 2) // d, 10).astype(np.int64))
    bounds = (k[:, None] * d + np.array([-1, 0, 1])).ravel()
    s = np.unique(np.concatenate([logu, bounds, [0, 2**24 - 1, 2**24, 2**24 + 1, 2**31 - 1]]))
    return s[(s >= 0) & (s < 2**31)].astype(np.int32)


def contenders(init, d, rate, staircase):
    keras_s = keras.optimizers.schedules.ExponentialDecay(init, d, rate, staircase)
    c = np.float32(math.log(rate) / d)
    return {
        "jax_expdecay": jax.jit(jax_expdecay.exponential_decay(init, d, rate, staircase)),
        "optax": jax.jit(optax.exponential_decay(init, d, rate, staircase=staircase)),
        "keras": jax.jit(lambda s: keras_s(s)),
        "bare f32": jax.jit(
            lambda s: (
                jnp.float32(init)
                * jnp.exp(
                    (
                        jnp.floor(s.astype(jnp.float32) / d) * d
                        if staircase
                        else s.astype(jnp.float32)
                    )
                    * c
                )
            )
        ),
    }


def main() -> None:
    stats: dict[str, dict[str, list]] = {}  # over points whose exact value is normal
    cases = [(0.1, d, r, st) for r in RATES for d in DECAY_STEPS for st in (False, True)]
    cases.append((1e-6, 1000, 1.05, False))
    n_points = 0
    for init, d, rate, staircase in cases:
        steps = steps_for(d)
        if init == 1e-6:
            steps = np.arange(1_800_000, 1_900_000, 1_000, dtype=np.int32)
        exact = [exact_lr(init, d, rate, int(s), staircase) for s in steps]
        n_points += len(steps)
        for name, fn in contenders(init, d, rate, staircase).items():
            got = np.asarray(fn(steps), np.float32)
            st_ = stats.setdefault(name, {"ulp": [], "rel": [], "wrong": [], "sat": [], "cr": []})
            for g, e in zip(got, exact, strict=True):
                if not TINY <= abs(e) <= BIG:
                    continue  # out of float32's normal range: saturation is correct there
                st_["sat"].append(not np.isfinite(g) or g == 0)
                if st_["sat"][-1]:
                    continue
                st_["ulp"].append(ulp_error(g, e, np.float32))
                st_["cr"].append(g == nearest32(e))
                st_["rel"].append(abs(float(g) / float(e) - 1))
                if staircase and abs(math.log(rate)) > 1e-5:
                    off = float(mpmath.log(mpmath.mpf(float(g)) / e)) / math.log(rate)
                    st_["wrong"].append(round(off) != 0)
    n_normal = len(stats["jax_expdecay"]["sat"])
    print(
        f"# {n_points} points ({n_normal} with a normal float32 exact value), "
        f"{len(cases)} schedules, float32 output, under jax.jit"
    )
    print(
        f"{'contender':<13} {'worst ulp':>12} {'median ulp':>10} {'nearest':>8} "
        f"{'>0.1% off':>10} {'wrong stairs':>12} {'inf/0 where finite':>18}"
    )
    for name, s in stats.items():
        u = np.asarray(s["ulp"])
        print(
            f"{name:<13} {u.max():12.4g} {np.median(u):10.3g} "
            f"{np.mean(s['cr']) * 100:7.2f}% "
            f"{np.mean(np.asarray(s['rel']) > 1e-3) * 100:9.2f}% "
            f"{sum(s['wrong']):5d} of {len(s['wrong']):<5d} {sum(s['sat']):18d}"
        )


def nearest32(e: mpmath.mpf) -> np.float32:
    """The float32 nearest an exact value (via float64: a double rounding would need the
    exact value within 2^-53 of a float32 midpoint); results below 2^-126 flushed to 0."""
    with np.errstate(over="ignore"):
        r = np.float32(float(e))
    return np.float32(0) if abs(float(r)) < TINY else r


def typical() -> None:
    """The typical-config grid: 7 inits x 8 rates x 6 decay_steps x both modes, the first 60
    periods; share of values that are the float32 nearest the exact value."""
    inits = (1.0, 0.1, 0.01, 1e-3, 3e-4, 0.05, 2e-5)
    rates = (0.5, 0.1, 0.9, 0.96, 0.99, 0.95, 0.8, 0.25)
    counts: dict[str, list[int]] = {}
    exact_total = 0
    for init in inits:
        for rate in rates:
            for d in (1, 10, 100, 1000, 10_000, 100_000):
                for st in (False, True):
                    k = np.arange(60, dtype=np.int64)
                    parts = [k * d, k * d + d - 1] if st else [k * d, k * d + d // 2]
                    steps = np.unique(np.concatenate(parts)).astype(np.int32)
                    exact = [exact_lr(init, d, rate, int(x), st) for x in steps]
                    near = [nearest32(e) for e in exact]
                    representable = [
                        mpmath.mpf(float(n)) == e for n, e in zip(near, exact, strict=True)
                    ]
                    exact_total += sum(representable)
                    for name, fn in contenders(init, d, rate, st).items():
                        got = np.asarray(fn(steps), np.float32)
                        c = counts.setdefault(name, [0, 0, 0])
                        c[0] += int(sum(g == n for g, n in zip(got, near, strict=True)))
                        c[1] += len(steps)
                        c[2] += int(
                            sum(
                                g == n
                                for g, n, r in zip(got, near, representable, strict=True)
                                if r
                            )
                        )
    total = next(iter(counts.values()))[1]
    print(f"# typical grid: {total} values, {exact_total} exactly representable, float32, jit")
    print(f"{'contender':<13} {'nearest float32':>16} {'exact where representable':>26}")
    for name, (ok, n, ex) in counts.items():
        print(f"{name:<13} {ok:8d} ({ok / n * 100:6.2f}%) {ex:10d} of {exact_total:<10d}")


def exp_random(n: int) -> None:
    """Our exp2 kernel on n random double-float arguments over the whole float32 range,
    against a float64 reference with an exact reduction; arguments whose value lies
    within 2^-44 (relative) of a float32 rounding midpoint are decided by mpmath."""
    from jax_expdecay._exp import exp2_64

    rng = np.random.default_rng(12345)
    f = jax.jit(exp2_64)
    table = np.asarray([float(mpmath.power(2, mpmath.mpf(j) / 64)) for j in range(64)])
    misses = checked = 0
    chunk = 1 << 20
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        t_hi = rng.uniform(-64 * 127, 64 * 128, m).astype(np.float32)
        t_lo = (rng.uniform(-0.5, 0.5, m) * np.spacing(np.abs(t_hi))).astype(np.float32)
        got = np.asarray(f(t_hi, t_lo))
        k = np.round(t_hi.astype(np.float64))
        u = (t_hi.astype(np.float64) - k) + t_lo.astype(np.float64)
        ki = k.astype(np.int64)
        ref = np.ldexp(table[ki & 63] * np.exp2(u / 64), ki >> 6)  # ~2^-51 relative
        with np.errstate(over="ignore"):
            r32 = ref.astype(np.float32)
        r32 = np.where(np.abs(r32) < TINY, np.float32(0), r32)
        # distance to the nearest float32 midpoint, relative
        lo32 = np.where(r32.astype(np.float64) > ref, np.nextafter(r32, np.float32(0)), r32)
        mid = (lo32.astype(np.float64) + np.nextafter(lo32, np.float32(np.inf))) / 2
        close = np.abs(ref - mid) < 2.0**-44 * ref
        for i in np.nonzero(close | (got != r32))[0]:
            checked += 1
            v = mpmath.power(2, (mpmath.mpf(float(t_hi[i])) + mpmath.mpf(float(t_lo[i]))) / 64)
            misses += int(got[i] != nearest32(v))
    print(f"# our exp2: {n} random double-float arguments t in [-8128, 8192] (2^(t/64))")
    print(f"misses (not the nearest float32): {misses}; decided by mpmath: {checked}")


def dtypes() -> None:
    """Our worst/median error in ulp of each output dtype, same grid, x64 on."""
    import ml_dtypes

    jax.config.update("jax_enable_x64", True)
    cases = [(d, r, st) for r in RATES for d in DECAY_STEPS for st in (False, True)]
    print("# ours, ulp of the output dtype, points with a normal exact value, under jax.jit")
    print(f"{'output':<9} {'steps':<6} {'points':>7} {'worst ulp':>10} {'median ulp':>10}")
    for name, init, step_dtype in (
        ("float32", np.float32(0.1), np.int32),
        ("float64", np.float64(0.1), np.int64),
        ("bfloat16", ml_dtypes.bfloat16(0.125), np.int32),
        ("float16", np.float16(0.125), np.int32),
    ):
        dt = np.dtype(type(init))
        info = ml_dtypes.finfo(dt)
        errs = []
        for d, rate, staircase in cases:
            steps = steps_for(d)
            if step_dtype == np.int64:
                steps = np.concatenate([steps, np.array([2**40 + 7, 2**53 + 1, 2**62], np.int64)])
            sched = jax.jit(jax_expdecay.exponential_decay(init, d, rate, staircase))
            got = np.asarray(sched(steps.astype(step_dtype)))
            for g, s in zip(got, steps, strict=True):
                e = exact_lr(init, d, rate, int(s), staircase)
                if not float(info.tiny) <= abs(e) <= float(info.max):
                    continue
                r = np.asarray(float(e)).astype(dt)
                spacing = mpmath.mpf(
                    float(
                        np.spacing(np.abs(r).astype(np.float64))
                        if dt == np.float64
                        else _spacing(r, info)
                    )
                )
                errs.append(float(abs(mpmath.mpf(float(g)) - e) / spacing))
        u = np.asarray(errs)
        print(
            f"{name:<9} {np.dtype(step_dtype).name:<6} {len(u):7d} {u.max():10.4g} "
            f"{np.median(u):10.3g}"
        )


def _spacing(r, info) -> float:
    _, e = math.frexp(abs(float(r)))  # |r| = m * 2**e, m in [0.5, 1)
    return math.ldexp(1.0, e - 1 - int(info.nmant))


if __name__ == "__main__":
    if "--dtypes" in sys.argv:
        dtypes()
    elif "--exp" in sys.argv:
        rest = sys.argv[sys.argv.index("--exp") + 1 :]
        exp_random(int(rest[0]) if rest else 10**6)
    elif "--typical" in sys.argv:
        typical()
    else:
        main()
