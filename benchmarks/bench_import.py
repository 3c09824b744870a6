"""Import cost: ``import jax`` vs ``import jax_expdecay``, each in a fresh interpreter.

Run:  python benchmarks/bench_import.py [--rounds 25] [--breakdown]

Each round starts two fresh interpreters, one per module, in alternating order (jax
first on even rounds, jax_expdecay first on odd ones) so that drift in machine load
falls on both. Two extra rounds first are discarded (they warm the OS file cache and
write ``__pycache__``). Reported: the median time of the ``import`` statement itself
(``time.perf_counter`` around it, inside the child, so interpreter start-up is not
counted), its CPU time (``time.process_time``: less disturbed by other processes on a
busy machine), the median wall time of the whole child process, and the ratios of the
medians. ``import jax_expdecay`` imports jax, so the ratio is >= 1 by construction; the
target is <= 1.05.

``--breakdown`` adds ``python -X importtime``'s numbers for the modules that
``import jax_expdecay`` loads beyond what ``import jax`` loads (one run, microseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = (
    "import time; t0, c0 = time.perf_counter(), time.process_time(); import {mod}; "
    "print(repr(time.perf_counter() - t0), repr(time.process_time() - c0))"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def time_import(mod: str) -> tuple[float, float, float]:
    """Returns seconds: (the import statement, its CPU time, the whole child process)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(mod=mod)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    )
    wall = time.perf_counter() - t0
    imp, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(imp), float(cpu), wall


def measure(rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {
        f"{mod}{kind}": [] for mod in ("jax", "jax_expdecay") for kind in ("", "_cpu", "_w")
    }
    for i in range(warmup + rounds):
        order = ("jax", "jax_expdecay") if i % 2 == 0 else ("jax_expdecay", "jax")
        for mod in order:
            imp, cpu, wall = time_import(mod)
            if i >= warmup:
                res[mod].append(imp)
                res[mod + "_cpu"].append(cpu)
                res[mod + "_w"].append(wall)
    return res


def _loaded_modules(mod: str) -> set[str]:
    probe = f"import sys, {mod}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    )
    return set(out.stdout.split())


def breakdown() -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module) for modules jax_expdecay loads beyond jax.

    Only modules that end up in ``sys.modules`` are listed (``-X importtime`` also
    reports failed attempts, e.g. Windows-only modules).
    """
    base, loaded = (_loaded_modules(mod) for mod in ("jax", "jax_expdecay"))
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import jax_expdecay"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=_env(),
    ).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (p.strip() for p in line[len("import time:") :].split("|"))
        if name in loaded and name not in base:
            rows.append((int(self_us), int(cum_us), name))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=25, help="measured rounds (default 25)")
    ap.add_argument("--breakdown", action="store_true", help="also run -X importtime once")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error(f"--rounds must be >= 1, got {args.rounds}")
    load_before = os.getloadavg()[0]
    res = measure(args.rounds)
    med = {k: statistics.median(v) for k, v in res.items()}
    per_round = [e / j for j, e in zip(res["jax"], res["jax_expdecay"], strict=True)]
    print(
        f"python {sys.version.split()[0]}, {args.rounds} alternating rounds, medians "
        f"(1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
        f"{os.cpu_count()} CPUs)"
    )
    for label, key in (
        ("import statement", ""),
        ("its CPU time", "_cpu"),
        ("whole process", "_w"),
    ):
        a, b = med["jax" + key], med["jax_expdecay" + key]
        print(
            f"  {label:<17} jax {a * 1e3:7.1f} ms   jax_expdecay {b * 1e3:7.1f} ms   "
            f"extra {(b - a) * 1e3:+6.1f} ms   ratio {b / a:.3f}"
        )
    print(
        f"  median of the per-round ratios of the import statement: {statistics.median(per_round):.3f}"
    )
    if args.breakdown:
        rows = breakdown()
        print("modules imported beyond `import jax` (-X importtime, one run):")
        print(f"  {'self us':>8} {'cumul us':>9}  module")
        for self_us, cum_us, name in rows:
            print(f"  {self_us:>8} {cum_us:>9}  {name}")


if __name__ == "__main__":
    main()
