"""What JAX's persistent compilation cache saves on our programs.

Run:  python benchmarks/bench_cache.py

Runs the same first call in fresh processes sharing an empty cache directory
(``jax_compilation_cache_dir``, minimum compile time and entry size 0): a jitted update
with a constant rate, with optax's schedule, with ours (closure) and with ours passed as
a config argument (traced constants). The first process compiles and writes the cache,
the second reads it. Tracing and lowering run in both; only XLA's compile is cached.
Programs holding a host callback are never cached by JAX, so this also shows whether
ours hold one (on CPU the accurate path is an FFI custom call, ``_host_call``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, time
import jax, jax.numpy as jnp, optax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
import jax_expdecay

cfg = jax_expdecay.ExponentialDecayConfig(1e-2, 100, 0.96, staircase=True)
ours = jax_expdecay.exponential_decay(cfg)
theirs = optax.exponential_decay(1e-2, 100, 0.96, staircase=True)
w = jnp.ones((256, 256), jnp.float32)

def step_with(lr_of):
    def step(w, s, c):
        g = jax.grad(lambda v: jnp.sum(jnp.tanh(v @ v)))(w)
        return w - lr_of(s, c) * g
    return jax.jit(step)

contenders = {
    "const": (lambda s, c: jnp.float32(1e-2), None),
    "optax": (lambda s, c: theirs(c), None),
    "ours": (lambda s, c: ours(c), None),
    "ours-arg": (lambda s, c: jax_expdecay.exponential_decay(s)(c), cfg),
}
out = {}
for name, (lr_of, s) in contenders.items():
    t = time.perf_counter()
    step_with(lr_of)(w, s, jnp.int32(7)).block_until_ready()
    out[name] = time.perf_counter() - t
out["entries"] = len(os.listdir(sys.argv[1]))
print(json.dumps(out))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        runs = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", CHILD, cache],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")},
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("# first call of a jitted update (trace + lower + compile or cache read), ms")
    print(f"{'contender':<10} {'empty cache':>12} {'warm cache':>11} {'saved':>7}")
    for name in ("const", "optax", "ours", "ours-arg"):
        a, b = runs[0][name] * 1e3, runs[1][name] * 1e3
        print(f"{name:<10} {a:12.0f} {b:11.0f} {a - b:7.0f}")
    print(f"cache entries after the first process: {runs[0]['entries']}")


if __name__ == "__main__":
    main()
