"""A sweep of 1024 configs x 1000 steps of schedule evaluation: ours in one compiled call
vs a Python loop over optax schedules (a closure each, so one compile each).

Run:  python benchmarks/bench_sweep.py [--configs 1024] [--steps 1000]

Every timing includes compilation, since that is what a user waits for; ours is also timed
warm (a second sweep with new values reuses the compiled function: no retrace), and as a
Python loop over single schedules passed to one jitted function (1 compile, K calls).
Trace counts are counted, not assumed: each traced function bumps a counter.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    inits = 10 ** rng.uniform(-4, -1, args.configs)
    rates = rng.uniform(0.5, 0.99, args.configs)
    ds = rng.integers(10, 1000, args.configs)
    steps = jnp.arange(args.steps, dtype=jnp.int32)
    traces = {"vmap": 0, "loop": 0, "optax": 0}

    def sweep(sched, steps):
        traces["vmap"] += 1
        return jax.vmap(lambda s: s(steps))(sched)

    def one(sched, steps):
        traces["loop"] += 1
        return sched(steps)

    # ours: build K configs, stack (host constants), one jit(vmap) call
    ours_fn = jax.jit(sweep)
    t0 = time.perf_counter()
    cfgs = [
        ExponentialDecayConfig(float(i), int(d), float(r))
        for i, d, r in zip(inits, ds, rates, strict=True)
    ]
    ours = np.asarray(jax.block_until_ready(ours_fn(exponential_decay(stack(cfgs)), steps)))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    cfgs2 = [c.replace(decay_rate=c.decay_rate * 0.999) for c in cfgs]
    jax.block_until_ready(ours_fn(exponential_decay(stack(cfgs2)), steps))
    t_warm = time.perf_counter() - t0

    # ours, one schedule at a time through one jitted function (the schedule an argument)
    loop_fn = jax.jit(one)
    t0 = time.perf_counter()
    looped = np.asarray(
        jax.block_until_ready(jnp.stack([loop_fn(exponential_decay(c), steps) for c in cfgs]))
    )
    t_loop = time.perf_counter() - t0

    # optax: a closure per config, jitted: one trace and compile each
    t0 = time.perf_counter()
    theirs = []
    for i, d, r in zip(inits, ds, rates, strict=True):
        sched = optax.exponential_decay(float(i), int(d), float(r))

        def f(steps, sched=sched):
            traces["optax"] += 1
            return sched(steps)

        theirs.append(jax.jit(f)(steps))
    theirs = np.asarray(jax.block_until_ready(jnp.stack(theirs)))
    t_optax = time.perf_counter() - t0
    rel = float(np.max(np.abs(ours / theirs - 1)))

    n = args.configs
    print(f"# {n} configs x {args.steps} steps, {jax.devices()[0].platform}, compile included")
    print(f"ours, one jit(vmap) call:                {t_ours:8.3f} s   traces: 1")
    print(f"ours, new values, same function:         {t_warm:8.3f} s   traces: {traces['vmap']}")
    print(f"ours, loop of {n} calls to one jit:    {t_loop:8.3f} s   traces: {traces['loop']}")
    print(f"optax, loop of jitted closures:          {t_optax:8.3f} s   traces: {traces['optax']}")
    print(f"ratio optax / ours: {t_optax / t_ours:.0f}x (cold), {t_optax / t_warm:.0f}x (warm)")
    print(f"ours batched == ours one at a time, bit for bit: {np.array_equal(ours, looped)}")
    print(f"max relative difference ours vs optax: {rel:.2e} (optax's float32 error)")


if __name__ == "__main__":
    main()
