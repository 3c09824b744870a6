"""Trace, lowering and compile time of one jitted Adam step: constant rate vs optax vs ours.

Run:  python benchmarks/bench_compile.py [--reps 7] [--size 256]

The same training step (Adam on a size x size linear layer, mean squared error, scalar
step from the optimizer state) is built fresh for every repetition (a new function and a
new schedule, so no cache of JAX's or XLA's is hit) with four learning rates:

  const     a Python float                               (the floor: no schedule at all)
  optax     optax.exponential_decay(...)                 (closure over Python floats)
  ours      jax_expdecay.exponential_decay(...)          (closure: constants folded)
  ours-arg  our schedule passed into the jitted step as an argument (its config's leaves
            are traced; the constants are derived on the device)

and prints the median milliseconds of ``jit(step).trace``, ``.lower()`` and ``.compile()``,
their sum, the time each schedule adds to the constant rate's sum, and the size of the
lowered program (lines of StableHLO text).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jax_expdecay


def _problem(size: int):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"w": jax.random.normal(k1, (size, size)) * 0.01, "b": jnp.zeros((size,))}
    x = jax.random.normal(k2, (64, size))
    y = jax.random.normal(k3, (64, size))

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    return params, loss


def _measure(make_step: Callable[[], tuple[Callable[..., Any], tuple]]) -> tuple[float, ...]:
    """(trace, lower, compile) seconds and lowered lines for one freshly built step."""
    fn, args = make_step()
    t0 = time.perf_counter()
    traced = jax.jit(fn).trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    lowered.compile()
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, float(len(lowered.as_text().splitlines()))


def contenders(size: int) -> dict[str, Callable[[int], Callable[[], tuple]]]:
    params, loss = _problem(size)

    def closure_step(lr: Any) -> Callable[[], tuple]:
        def make():
            tx = optax.adam(lr)
            state = tx.init(params)

            def step(p, s):
                u, s = tx.update(jax.grad(loss)(p), s, p)
                return optax.apply_updates(p, u), s

            return step, (params, state)

        return make

    def arg_step(sched: Any) -> Callable[[], tuple]:
        def make():
            state = optax.scale_by_adam().init(params)
            count = jnp.zeros((), jnp.int32)

            def step(p, s, sch, t):
                g = jax.grad(loss)(p)
                u, s = optax.scale_by_adam().update(g, s, p)
                lr = sch(t)
                u = jax.tree.map(lambda v: -lr * v, u)
                return optax.apply_updates(p, u), s, t + 1

            return step, (params, state, sched, count)

        return make

    return {
        "const": lambda i: closure_step(1e-3 * (1 + i)),
        "optax": lambda i: closure_step(optax.exponential_decay(1e-3, 1000 + i, 0.96)),
        "ours": lambda i: closure_step(jax_expdecay.exponential_decay(1e-3, 1000 + i, 0.96)),
        "ours-arg": lambda i: arg_step(jax_expdecay.exponential_decay(1e-3, 1000 + i, 0.96)),
    }


def bench(reps: int, size: int, echo: bool = True) -> dict[str, tuple[float, ...]]:
    """Median (trace, lower, compile, lines) per contender, interleaved round by round."""
    makers = contenders(size)
    for mk in makers.values():  # JAX's one-time costs, not the schedule's
        _measure(mk(10_000))
    runs: dict[str, list[tuple[float, ...]]] = {k: [] for k in makers}
    for i in range(reps):
        for name, mk in makers.items():
            runs[name].append(_measure(mk(i)))
    med = {k: tuple(float(x) for x in np.median(np.array(v), axis=0)) for k, v in runs.items()}
    if echo:
        print(
            f"# one jitted Adam step, {size}x{size} linear layer, {jax.devices()[0].platform}, "
            f"median of {reps} fresh builds (ms)"
        )
        print(
            f"{'rate':<9} {'trace':>7} {'lower':>7} {'compile':>8} {'total':>7} "
            f"{'added':>7} {'lines':>6}"
        )
        base = sum(med["const"][:3])
        for k, (tr, lo, co, lines) in med.items():
            tot = tr + lo + co
            print(
                f"{k:<9} {tr * 1e3:7.1f} {lo * 1e3:7.1f} {co * 1e3:8.1f} {tot * 1e3:7.1f} "
                f"{(tot - base) * 1e3:7.1f} {int(lines):6d}"
            )
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    bench(args.reps, args.size)


if __name__ == "__main__":
    main()
