"""Eager calls from Python (no ``jit`` around them): values and derivatives, ours vs optax.

Run:  python benchmarks/bench_eager.py [--rounds 30]

Times, for the same continuous schedule (init 0.1, decay_steps 1000, rate 0.96):
  call          sched(5000)                                a scalar step
  grad          jax.grad(sched)(5000.5)                    d/d step
  vmap-grad     jax.vmap(jax.grad(sched))(1,000 steps)
  hessian       jax.hessian(sched)(5000.5)
  grad-rate     jax.grad(lambda r: make(0.1, 1000, r)(5000.5))(0.96)   d/d decay_rate
each the first call in the process (tracing and compiling included; measured in a fresh
subprocess per contender, so nothing is shared) and then the median of ``--rounds`` calls
with new values, and prints the ratio ours / optax. The bare kernel is not a contender
here: an eager call is dispatch, not arithmetic.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = ("call", "grad", "vmap-grad", "hessian", "grad-rate")


def _child(which: str, case: str, rounds: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    if which == "ours":
        from jax_expdecay import exponential_decay

        def make(i, d, r):
            return exponential_decay(i, d, r)
    else:
        import optax

        def make(i, d, r):
            return optax.exponential_decay(i, d, r)

    sched = make(0.1, 1000, 0.96)
    steps = jnp.arange(1000, dtype=jnp.float32) * 7.5
    fns = {
        "call": lambda k: sched(5000 + k),
        "grad": lambda k: jax.grad(sched)(5000.5 + k),
        "vmap-grad": lambda k: jax.vmap(jax.grad(sched))(steps + float(k)),
        "hessian": lambda k: jax.hessian(sched)(5000.5 + k),
        "grad-rate": lambda k: jax.grad(lambda r: make(0.1, 1000, r)(5000.5))(0.96 - 1e-4 * k),
    }
    f = fns[case]
    t0 = time.perf_counter()
    jax.block_until_ready(f(0))
    first = time.perf_counter() - t0
    times = []
    for k in range(1, rounds + 1):
        t0 = time.perf_counter()
        jax.block_until_ready(f(k))
        times.append(time.perf_counter() - t0)
    return {"first": first, "steady": float(np.median(times))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.child[1], args.rounds)))
        return
    print(
        f"{'case':<10} {'optax first':>12} {'ours first':>11} {'optax':>10} {'ours':>10} {'ratio':>6}"
    )
    for case in CASES:
        got = {}
        for which in ("optax", "ours"):
            out = subprocess.run(
                [sys.executable, __file__, "--rounds", str(args.rounds), "--child", which, case],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            got[which] = json.loads(out.strip().splitlines()[-1])
        o, u = got["optax"], got["ours"]
        print(
            f"{case:<10} {o['first'] * 1e3:9.0f} ms {u['first'] * 1e3:8.0f} ms"
            f" {o['steady'] * 1e3:7.2f} ms {u['steady'] * 1e3:7.2f} ms"
            f" {u['steady'] / o['steady']:5.1f}x"
        )


if __name__ == "__main__":
    main()
