"""What XLA's CPU fast math does to our values: run the same grid with and without it.

Run:  python benchmarks/bench_fast_math.py [--log2n 16]

Evaluates 96 typical configs (inits x rates x decay_steps x both modes) at 2^log2n
pseudo-random int32 steps each, once in a child process with XLA's defaults and once with
XLA_FLAGS=--xla_cpu_enable_fast_math=true, and prints how many float32 values differ and
by how many ulp. Fast math lets XLA reassociate floating-point sums, which removes the error
terms of the double-float arithmetic our kernel relies on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = """
import sys
import jax, jax.numpy as jnp, numpy as np
from jax_expdecay import exponential_decay
n = int(sys.argv[1])
steps = jnp.asarray(np.random.default_rng(0).integers(0, 2**31 - 1, n, dtype=np.int32))
out = []
for init in (0.1, 1e-3, 3.0):
    for rate in (0.96, 0.5, 0.999, 1.5):
        for d in (1, 10, 1000, 100_000):
            for st in (False, True):
                out.append(np.asarray(jax.jit(exponential_decay(init, d, rate, st))(steps)))
np.save(sys.argv[2], np.stack(out))
"""


def _run(n: int, path: str, fast: bool) -> np.ndarray:
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_cpu_enable_fast_math=true" if fast else ""
    subprocess.run([sys.executable, "-c", CHILD, str(n), path], check=True, env=env)
    return np.load(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--log2n", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ref = _run(2**args.log2n, os.path.join(tmp, "ref.npy"), fast=False)
        fast = _run(2**args.log2n, os.path.join(tmp, "fast.npy"), fast=True)
    finite = np.isfinite(ref) & (ref > 0)
    ulp = np.abs(ref.view(np.int32).astype(np.int64) - fast.view(np.int32).astype(np.int64))
    differ = ref.view(np.uint32) != fast.view(np.uint32)
    print(f"{ref.size} values ({ref.shape[0]} configs x {ref.shape[1]} steps)")
    print(f"differ with fast math: {differ.sum()} ({differ.mean():.2%})")
    print(f"largest difference among positive finite values: {ulp[finite].max()} ulp")


if __name__ == "__main__":
    main()
