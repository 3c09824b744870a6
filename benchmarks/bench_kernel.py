"""Per-element cost over a large int32 step array, under jit: bare kernel vs optax vs ours.

Run:  python benchmarks/bench_kernel.py [--log2n 23] [--rounds 15] [--callback-cost]

Times, in one process and interleaving the contenders round by round:
  bare      init * exp(step.astype(f32) * c)         (no stairs, ~1e6-ulp errors at large steps)
  optax     optax.exponential_decay(...)              (closure over Python floats)
  ours      jax_expdecay.exponential_decay(...)       (closed over: constants folded by XLA)
  ours-arg  the same schedule passed as a jit argument (no recompiles for new values)
for continuous and staircase schedules, and prints medians and ratios to the bare kernel.
Also times a jitted optax SGD and Adam update of a small MLP with a constant learning rate,
optax's schedule and ours (scalar step), and prints the ratios to the constant rate.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jax_expdecay


def _median_times(fns: dict, rounds: int) -> dict[str, float]:
    for f in fns.values():
        jax.block_until_ready(f())  # compile + warm up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench_arrays(log2n: int, rounds: int, echo: bool = True) -> dict[tuple[str, str], float]:
    """Seconds per call (median) of each (mode, contender); printed when echo."""
    n = 2**log2n
    out: dict[tuple[str, str], float] = {}
    steps = jnp.asarray(np.random.default_rng(0).integers(0, 2**31 - 1, n, dtype=np.int32))
    init, d, rate = 0.1, 1000, 0.96
    c = np.float32(np.log(rate) / d)
    if echo:
        print(f"# {n} int32 steps, jit, {jax.devices()[0].platform}, median of {rounds} rounds")
        print(f"{'mode':<11} {'contender':<9} {'ms':>8} {'ns/elem':>8} {'x bare':>7}")
    for staircase in (False, True):
        ours = jax_expdecay.exponential_decay(init, d, rate, staircase)
        bare = jax.jit(lambda s: jnp.float32(init) * jnp.exp(s.astype(jnp.float32) * c))
        opt = jax.jit(optax.exponential_decay(init, d, rate, staircase=staircase))
        ours_c = jax.jit(ours)
        ours_a = jax.jit(lambda sch, s: sch(s))
        med = _median_times(
            {
                "bare": lambda f=bare: f(steps),
                "optax": lambda f=opt: f(steps),
                "ours": lambda f=ours_c: f(steps),
                "ours-arg": lambda f=ours_a, s=ours: f(s, steps),
            },
            rounds,
        )
        mode = "staircase" if staircase else "continuous"
        for k, v in med.items():
            out[mode, k] = v
            if echo:
                print(f"{mode:<11} {k:<9} {v * 1e3:8.2f} {v / n * 1e9:8.3f} {v / med['bare']:7.2f}")
    return out


def _mlp():
    """The parameters and loss of a 64-128-10 MLP on 256 random examples."""
    key = jax.random.PRNGKey(0)
    k1, k2, k3 = jax.random.split(key, 3)
    params = {
        "w1": jax.random.normal(k1, (64, 128)) * 0.1,
        "w2": jax.random.normal(k2, (128, 10)) * 0.1,
    }
    x = jax.random.normal(k3, (256, 64))
    y = jnp.arange(256) % 10

    def loss(p):
        logits = jnp.tanh(x @ p["w1"]) @ p["w2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return params, loss


def _updates(tx, params, loss):
    """``run(sync=False)``: 20 jitted updates of ``params`` by ``tx`` (with ``sync``, a
    ``block_until_ready`` after each)."""
    state = tx.init(params)

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    def run(sync: bool = False):
        p, s = params, state
        for _ in range(20):
            p, s = step(p, s)
            if sync:
                jax.block_until_ready(p)
        return p

    return run


def _paired_ratios(fns: dict, rounds: int, base: str) -> tuple[dict, dict]:
    """Median seconds per call of each contender, and for each the quartiles of its time
    over ``base``'s time in the same round. Each round runs every contender once, in an
    order rotated by one each round, so that a slow spell of this shared machine hits
    the contenders of one round alike and no contender always runs first."""
    for f in fns.values():
        jax.block_until_ready(f())  # compile + warm up
    keys = list(fns)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            jax.block_until_ready(fns[k]())
            times[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    quart = {
        k: tuple(np.percentile(np.asarray(v) / np.asarray(times[base]), [25, 50, 75]))
        for k, v in times.items()
    }
    return med, quart


def bench_training(rounds: int, echo: bool = True) -> dict[str, tuple[float, float, float]]:
    """Per-update seconds (constant rate, our schedule, optax's schedule) for sgd and adam.

    Printed with the quartiles of the per-round ratios to the constant rate: "within
    noise" means the constant rate's own spread, which optax's column shows too."""
    params, loss = _mlp()

    sched = jax_expdecay.exponential_decay(1e-2, 100, 0.96, staircase=True)
    theirs = optax.exponential_decay(1e-2, 100, 0.96, staircase=True)
    out: dict[str, tuple[float, float, float]] = {}
    if echo:
        print(
            "\n# one jitted optimizer update of a 64-128-10 MLP on 256 examples (scalar step);"
            f"\n# ratios: median [quartiles] over {rounds} rounds of the ratio to the constant"
            " rate in the same round"
        )
        print(
            f"{'optimizer':<9} {'const us':>9} {'optax us':>9} {'ours us':>9} "
            f"{'optax/const':>23} {'ours/const':>23}"
        )
    for name, make in (("sgd", optax.sgd), ("adam", optax.adam)):
        fns = {}
        for label, lr in (("const", 1e-2), ("optax", theirs), ("sched", sched)):
            fns[label] = _updates(make(lr), params, loss)
        med, q = _paired_ratios(fns, rounds, "const")
        out[name] = (med["const"] / 20, med["sched"] / 20, med["optax"] / 20)
        if echo:
            fmt = "{1:.3f} [{0:.3f}, {2:.3f}]".format
            print(
                f"{name:<9} {med['const'] / 20 * 1e6:9.1f} {med['optax'] / 20 * 1e6:9.1f} "
                f"{med['sched'] / 20 * 1e6:9.1f} {fmt(*q['optax']):>23} {fmt(*q['sched']):>23}"
            )
    return out


def bench_callback_presence(rounds: int) -> None:
    """Why a scalar schedule costs more than its arithmetic in a training update on CPU:
    the adam update with a constant rate plus ``0 * f(count)`` for ``f`` a ``lax.cond``
    whose untaken branch is plain arithmetic, the same with a ``jax.pure_callback`` in the
    untaken branch (our accurate path's shape), and with the callback always called. Each
    update also timed with ``block_until_ready`` after it (no overlap of Python dispatch
    with the previous update's execution)."""
    params, loss = _mlp()

    def host(v):
        return np.asarray(v) * 2

    shape = jax.ShapeDtypeStruct((), jnp.float32)

    def plain(v):
        return jax.lax.cond(v > 1e30, lambda u: u * 2, lambda u: u + 1, v)

    def with_cb(v):
        return jax.lax.cond(
            v > 1e30, lambda u: jax.pure_callback(host, shape, u), lambda u: u + 1, v
        )

    def always_cb(v):
        return jax.pure_callback(host, shape, v)

    fns = {}
    for label, f in (("const", None), ("cond", plain), ("cond+cb", with_cb), ("cb", always_cb)):
        lr = 1e-2 if f is None else (lambda c, f=f: 1e-2 + 0 * f(c.astype(jnp.float32)))
        run = _updates(optax.adam(lr), params, loss)
        fns[label] = run
        fns[label + " sync"] = lambda run=run: run(sync=True)
    med, q = _paired_ratios(fns, rounds, "const")
    print("\n# adam update (as above) + 0 * f(count): what a host callback in the program costs")
    print(
        f"# ratios: median [quartiles] over {rounds} rounds of the ratio to const in the same round"
    )
    print(f"{'f':<9} {'async us':>9} {'sync us':>9} {'async/const':>23} {'sync/const':>23}")
    fmt = "{1:.3f} [{0:.3f}, {2:.3f}]".format
    for label in ("const", "cond", "cond+cb", "cb"):
        a, b = med[label] / 20, med[label + " sync"] / 20
        print(
            f"{label:<9} {a * 1e6:9.1f} {b * 1e6:9.1f} {fmt(*q[label]):>23} "
            f"{fmt(*q[label + ' sync']):>23}"
        )


def bench_schedule_parts(rounds: int) -> None:
    """The adam update with a constant rate, optax's schedule, ours as shipped, ours with
    the accurate path's callback replaced by arithmetic (the ``cond`` kept), and ours
    without the ``cond``: which part of our schedule a training update pays for. The two
    variants patch ``_evaluate`` while their update is traced and compiled (a
    diagnostic: their values are not the schedule's)."""
    from jax_expdecay import _evaluate

    params, loss = _mlp()
    ours = jax_expdecay.exponential_decay(1e-2, 100, 0.96, staircase=True)
    theirs = optax.exponential_decay(1e-2, 100, 0.96, staircase=True)

    def run_of(lr):
        run = _updates(optax.adam(lr), params, loss)
        run()  # traced and compiled now, under the patch in force
        return run

    fns = {"const": run_of(1e-2), "optax": run_of(theirs), "ours": run_of(ours)}
    accurate, resolve = _evaluate._accurate, _evaluate._resolve
    try:
        _evaluate._accurate = lambda und, n, *_: (n.astype(jnp.float32) * 0 + 1, und)
        _evaluate._resolver.cache_clear()
        fns["ours, callback -> arithmetic"] = run_of(lambda c: ours(c))
        _evaluate._accurate = accurate
        _evaluate._resolver.cache_clear()
        _evaluate._resolve = lambda val, *_: val
        fns["ours, no cond"] = run_of(lambda c: ours(c))
    finally:
        _evaluate._accurate, _evaluate._resolve = accurate, resolve
        _evaluate._resolver.cache_clear()
    med, q = _paired_ratios(fns, rounds, "const")
    print(f"\n# adam update (as above): which part of our schedule it pays for, {rounds} rounds")
    print(f"{'contender':<29} {'us/update':>9} {'ratio to const, median [quartiles]':>35}")
    for k in fns:
        print(f"{k:<29} {med[k] / 20 * 1e6:9.1f} {'{1:.3f} [{0:.3f}, {2:.3f}]'.format(*q[k]):>35}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--log2n", type=int, default=23)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument(
        "--callback-cost",
        action="store_true",
        help="only time what a host callback in a training update costs (bench_callback_presence)",
    )
    args = ap.parse_args()
    if args.callback_cost:
        bench_callback_presence(args.rounds)
        bench_schedule_parts(10 * args.rounds)
        return
    bench_arrays(args.log2n, args.rounds)
    bench_training(args.rounds)


if __name__ == "__main__":
    main()
