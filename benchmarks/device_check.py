"""One command for the first GPU or TPU: are the bits the CPU's, and what does it cost there?

Run:  python benchmarks/device_check.py [--log2n 22] [--rounds 7]

On JAX's default device (whatever ``jax.devices()[0]`` is), in under 3 minutes:
  1. the golden bits (tests/golden_bits.json, made on CPU): float32/bfloat16/float16/float64
     values and first derivatives over a fixed grid, compared bit for bit;
  2. the kernel benchmark (bench_kernel.py): 2^log2n int32 steps, bare kernel vs optax vs
     ours (closure and schedule as a jit argument), both modes;
  3. a jitted sgd/adam update with a constant rate vs our schedule.
and prints one table. Exits 1 when any golden case differs (the lines after the table name
the cases and steps; a fast-math XLA flag is named when set). Needs optax (the `[test]`
extra) and a checkout (it reads tests/golden.py and tests/golden_bits.json).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import bench_kernel  # noqa: E402
import golden  # noqa: E402
import jax  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--log2n", type=int, default=22)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    dev = jax.devices()[0]
    t0 = time.perf_counter()
    n_cases, problems, notes = golden.compare()
    t_golden = time.perf_counter() - t0
    kern = bench_kernel.bench_arrays(args.log2n, args.rounds, echo=False)
    train = bench_kernel.bench_training(args.rounds, echo=False)
    n = 2**args.log2n

    rows = [
        ("device", f"{dev.platform} ({dev.device_kind}), jax {jax.__version__}"),
        (
            "golden bits",
            f"{n_cases - len(problems) - len(notes)} of {n_cases} cases bit-identical, "
            f"{len(notes)} derivative cases within {golden.GRAD_ULP} ulp, "
            f"{len(problems)} wrong ({t_golden:.0f} s)",
        ),
    ]
    for mode in ("continuous", "staircase"):
        bare = kern[mode, "bare"]
        for k in ("bare", "optax", "ours", "ours-arg"):
            v = kern[mode, k]
            rows.append(
                (
                    f"{mode} {k}",
                    f"{v / n * 1e9:.3f} ns/step, {v / bare:.2f}x bare, "
                    f"{v / kern[mode, 'optax']:.2f}x optax",
                )
            )
    for name, (const, sched, theirs) in train.items():
        rows.append(
            (
                f"{name} update",
                f"{sched * 1e6:.1f} us with ours, {sched / const:.3f}x a constant rate "
                f"(optax's schedule {theirs / const:.3f}x)",
            )
        )
    width = max(len(k) for k, _ in rows)
    print(f"{'check':<{width}}  result")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(
        f"# {n} int32 steps, median of {args.rounds} rounds; total {time.perf_counter() - t0:.0f} s"
    )
    for p in problems + notes:
        print(" ", p)
    if problems:
        print(golden.fast_math_note())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
