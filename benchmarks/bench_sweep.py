"""A sweep of 1024 configs x 1000 steps of schedule evaluation: ours in one compiled call
vs what an optax user writes for a sweep today:

- a Python loop over optax schedules (a closure each, so one compile each): optax's
  ``exponential_decay`` cannot be vmapped over ``decay_rate`` or ``transition_steps``
  (its Python ``if`` on them fails on a tracer);
- the formula by hand in ``jnp`` under ``jit(vmap)``: ``init * rate ** (step / d)``, one
  compile, float32 ``pow``. This is also what ``optax.inject_hyperparams`` sweeps come
  down to: it injects an optimizer's hyperparameter *value* (the learning rate at this
  step), which the user then computes per config by hand.

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
    traces = {"vmap": 0, "loop": 0, "optax": 0, "hand": 0}

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

    # the formula by hand under jit(vmap): one compile, float32 pow
    def hand(init, d, rate, steps):
        traces["hand"] += 1
        return jax.vmap(lambda i, d, r: i * r ** (steps / d))(init, d, rate)

    hand_fn = jax.jit(hand)
    args32 = (jnp.asarray(inits, jnp.float32), jnp.asarray(ds, jnp.int32))
    t0 = time.perf_counter()
    by_hand = np.asarray(
        jax.block_until_ready(hand_fn(*args32, jnp.asarray(rates, jnp.float32), steps))
    )
    t_hand = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(hand_fn(*args32, jnp.asarray(rates * 0.999, jnp.float32), steps))
    t_hand_warm = time.perf_counter() - t0
    # ours is the float32 nearest the exact value (tests/test_exactness.py, against mpmath):
    # the hand formula's distance from it, in float32 ulp
    ulp = np.abs(by_hand.astype(np.float64) - ours) / np.spacing(ours.astype(np.float32))

    n = args.configs
    print(f"# {n} configs x {args.steps} steps, {jax.devices()[0].platform}, compile included")
    print(f"ours, one jit(vmap) call:                {t_ours:8.3f} s   traces: 1")
    print(f"ours, new values, same function:         {t_warm:8.3f} s   traces: {traces['vmap']}")
    print(f"ours, loop of {n} calls to one jit:    {t_loop:8.3f} s   traces: {traces['loop']}")
    print(f"optax, loop of jitted closures:          {t_optax:8.3f} s   traces: {traces['optax']}")
    print(f"by hand, jnp formula under jit(vmap):    {t_hand:8.3f} s   traces: 1")
    print(
        f"by hand, new values, same function:      {t_hand_warm:8.3f} s   traces: {traces['hand']}"
    )
    print(
        f"ratio optax loop / ours: {t_optax / t_ours:.0f}x (cold), {t_optax / t_warm:.0f}x (warm)"
    )
    print(
        f"ours takes {t_ours / t_hand:.1f}x (cold), {t_warm / t_hand_warm:.1f}x (warm) the "
        "time of the formula by hand"
    )
    print(f"ours batched == ours one at a time, bit for bit: {np.array_equal(ours, looped)}")
    print(f"max relative difference ours vs optax: {rel:.2e} (optax's float32 error)")
    print(
        f"by hand vs the nearest float32: {np.mean(ulp > 0.5) * 100:.0f}% of values not "
        f"the nearest, worst {ulp.max():.3g} ulp"
    )


if __name__ == "__main__":
    main()
