"""Golden bits: the outputs and first derivatives of a fixed grid, as computed on CPU.

Our claim is that the bits are the same on every backend (only IEEE ``+ - x``, compares and
bit operations reach the device). This module computes a fixed grid of values and
derivatives and compares them with ``tests/golden_bits.json``, made on CPU by

    python tests/golden.py --write

Used by ``tests/test_golden.py`` (CI, on CPU) and by ``benchmarks/device_check.py`` (on
whatever device JAX picks: run it when a GPU or TPU is at hand). The grid:

- typical configs (inits x rates x decay_steps x both modes), float32, eager and with the
  config as a jit argument (traced constants);
- range edges: values near FLT_MAX, overflow to inf, the smallest normal and the flush to
  zero below it, rate 0 and 1, init 0, ``transition_begin`` and the ``end_value`` clamp;
- near-midpoint steps (found by exhaustive runs) of the Keras documentation example;
- bfloat16 and float16 outputs, and float64 outputs (x64 on);
- d/dinit, d/drate and d/dstep (float32 steps) of the typical configs.

Each case is stored as a SHA-256 of its raw bits; the float32 cases also keep their raw
bits (hex), so a mismatch names the steps and values that differ. A case is a name, a
config and a quantity; the file is JSON, read with ``json.load`` only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jax_expdecay import ExponentialDecayConfig, exponential_decay

PATH = Path(__file__).with_name("golden_bits.json")

# Steps every config is evaluated at: small steps, stair edges of the typical decay_steps,
# 2^24 +- 1 (where float32 stops holding every integer), near-midpoint steps of the Keras
# documentation example (found by an exhaustive run over all int32 steps), the int32 end,
# negative steps (hold), and 48 fixed pseudo-random steps spread over [0, 2^31).
_RNG_STEPS = np.random.default_rng(20261202).integers(0, 2**31 - 1, 48, dtype=np.int64)
STEPS = np.array(
    [
        -5,
        0,
        1,
        2,
        3,
        7,
        9,
        10,
        11,
        41,
        99,
        100,
        101,
        999,
        1000,
        1001,
        99_999,
        100_000,
        100_001,
        750_390,
        2**24 - 1,
        2**24,
        2**24 + 1,
        10**6,
        10**7,
        10**8,
        2**31 - 1,
        *_RNG_STEPS.tolist(),
    ],
    dtype=np.int32,
)
# Float steps for derivatives (d/dstep needs a float step), all exact float32 values.
GRAD_STEPS = np.array(
    [0.0, 0.5, 1.0, 7.25, 41.0, 99.5, 1000.0, 12345.0, 10**5, 3.0e6], dtype=np.float32
)

INITS = (0.1, 1e-3, 3.0)
RATES = (0.96, 0.5, 0.999, 1.5)
DECAY_STEPS = (1, 1000, 100_000)


def typical_configs() -> list[ExponentialDecayConfig]:
    return [
        ExponentialDecayConfig(i, d, r, st)
        for i in INITS
        for r in RATES
        for d in DECAY_STEPS
        for st in (False, True)
    ]


def edge_configs() -> list[ExponentialDecayConfig]:
    f32max = float(np.finfo(np.float32).max)
    tiny = float(np.finfo(np.float32).tiny)
    C = ExponentialDecayConfig
    return [
        C(f32max, 1, 1.0),  # rate 1 holds FLT_MAX
        C(f32max / 2, 1, 2.0),  # overflow to inf after one step
        C(3.0, 1, 1.1),  # grows to inf around step 900
        C(tiny * 4, 1, 0.5),  # reaches the smallest normal at step 2, then flushes to 0
        C(1.0, 1, 0.5),  # dyadic: exact values down to 2^-126
        C(1.0, 3, 0.5),  # 2^(-s/3): irrational between stairs
        C(1.0, 7, 0.75, True),
        C(0.1, 10, 0.0),  # rate 0
        C(0.0, 10, 2.0),  # init 0
        C(0.1, 1000, 0.96, False, transition_begin=500),
        C(0.1, 1000, 0.96, True, transition_begin=2**30),
        C(0.1, 10, 0.5, False, end_value=1e-4),  # the clamp
        C(1e-4, 10, 2.0, True, end_value=0.05),  # growth capped
        C(1.0, 1, 0.9999999),  # rate next to 1: p up to 2^31
        C(1.0, 100_000_000, 0.5),
        C(0.1, 100_000, 0.96),  # the Keras documentation example
        C(0.1, 100_000, 0.96, True),
    ]


def _bits(x: Any) -> np.ndarray:
    a = np.asarray(x)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]).ravel()


def _label(cfg: ExponentialDecayConfig) -> str:
    d = cfg.to_dict()
    keys = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase")
    extra = {k: d[k] for k in ("transition_begin", "end_value") if d.get(k)}
    return ",".join(repr(d[k]) for k in keys) + ("," + repr(extra) if extra else "")


def _with_x64(fn: Callable[[], Any]) -> Any:
    prev = jax.config.jax_enable_x64  # pyright: ignore[reportAttributeAccessIssue]
    jax.config.update("jax_enable_x64", True)
    try:
        return np.asarray(fn())
    finally:
        jax.config.update("jax_enable_x64", prev)


def cases() -> Iterator[tuple[str, Callable[[], Any]]]:
    """(name, thunk) pairs; each thunk returns one array of values."""
    steps = jnp.asarray(STEPS)
    argjit = jax.jit(lambda c, s: exponential_decay(c)(s))
    for cfg in typical_configs() + edge_configs():
        name = _label(cfg)
        yield f"f32 eager [{name}]", lambda cfg=cfg: exponential_decay(cfg)(steps)
        yield f"f32 config-arg [{name}]", lambda cfg=cfg: argjit(cfg, steps)
    for cfg in typical_configs()[::3] + edge_configs()[4:8]:
        for dt, tag in ((jnp.bfloat16, "bf16"), (jnp.float16, "f16")):
            init = float(cfg.initial_learning_rate)
            if tag == "f16" and not (6.2e-5 <= init <= 65504):
                continue
            c = cfg.replace(initial_learning_rate=dt(init))
            yield f"{tag} [{_label(cfg)}]", lambda c=c: exponential_decay(c)(steps)
    for cfg in typical_configs()[::2] + edge_configs():
        yield (
            f"f64 [{_label(cfg)}]",
            lambda cfg=cfg: _with_x64(
                lambda: exponential_decay(cfg)(jnp.asarray(STEPS.astype(np.int64)))
            ),
        )
    gsteps = jnp.asarray(GRAD_STEPS)
    for cfg in typical_configs():
        st = bool(cfg.staircase)
        args = (float(cfg.initial_learning_rate), float(cfg.decay_rate), int(cfg.decay_steps))
        yield f"grad [{_label(cfg)}]", lambda args=args, st=st: _grads[st](*args, gsteps)


def _grads_fn(staircase: bool) -> Callable[..., jax.Array]:
    """d/dinit, d/drate, d/dstep at float32 steps; one compile per mode (traced config)."""

    def f(i: jax.Array, r: jax.Array, d: jax.Array, s: jax.Array) -> jax.Array:
        return exponential_decay(i, d, r, staircase=staircase)(s)

    g = jax.vmap(jax.grad(f, argnums=(0, 1, 3)), in_axes=(None, None, None, 0))
    return jax.jit(lambda i, r, d, s: jnp.stack(g(jnp.float32(i), jnp.float32(r), jnp.int32(d), s)))


_grads = {st: _grads_fn(st) for st in (False, True)}


def compute() -> dict[str, np.ndarray]:
    return {name: _bits(thunk()) for name, thunk in cases()}


def _digest(bits: np.ndarray) -> str:
    return hashlib.sha256(bits.tobytes()).hexdigest()[:32]


def write(path: Path = PATH) -> None:
    out: dict[str, Any] = {
        "made_with": {
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "steps": STEPS.tolist(),
            "grad_steps": GRAD_STEPS.tolist(),
        },
        "cases": {},
    }
    for name, bits in compute().items():
        case: dict[str, Any] = {"n": int(bits.size), "sha256": _digest(bits)}
        if name.startswith(("f32 eager", "grad")):
            case["hex"] = " ".join(f"{int(b):08x}" for b in bits)
        out["cases"][name] = case
    path.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")


def fast_math_note() -> str:
    flags = os.environ.get("XLA_FLAGS", "")
    if "fast_math=true" in flags.replace(" ", ""):
        return (
            f" XLA_FLAGS={flags!r} turns on fast math, whose reassociation removes the "
            "error terms of the double-float arithmetic: unset it."
        )
    return ""


# Derivatives are ordinary float32 arithmetic on the constants (not correctly rounded), so
# a compiler that contracts a*b+c into an FMA, or reorders a product, may move them by an
# ulp or two: measured, jax 0.5.3 against 0.10.2 on CPU, 68 of 2160 differ, by at most 2.
# They must agree within GRAD_ULP; a bit difference within it is reported, not failed.
GRAD_ULP = 4


def compare(path: Path = PATH, subset: bool = False) -> tuple[int, list[str], list[str]]:
    """Recomputes the cases of the golden file at ``path``.

    Returns (cases checked, problems, notes): a problem is a value case whose bits differ
    (or a derivative case beyond GRAD_ULP, or a changed grid); a note is a derivative case
    whose bits differ within GRAD_ULP. ``subset``: check only the file's cases.
    """
    golden = json.loads(path.read_text())["cases"]
    got = {name: _bits(thunk()) for name, thunk in cases() if not subset or name in golden}
    problems, notes = [], []
    missing = sorted(set(golden) - set(got))
    extra = sorted(set(got) - set(golden))
    if missing or extra:
        problems.append(f"grid changed: missing {missing[:3]}, new {extra[:3]}; rerun --write")
    for name in sorted(set(golden) & set(got)):
        bits, want = got[name], golden[name]
        if bits.size == want["n"] and _digest(bits) == want["sha256"]:
            continue
        line = f"{name}: bits differ"
        if "hex" not in want or len(want["hex"].split()) != bits.size:
            problems.append(line)
            continue
        ref = np.array([int(h, 16) for h in want["hex"].split()], dtype=np.uint32)
        bad = np.flatnonzero(ref != bits)
        ulp = np.abs(ref.view(np.int32).astype(np.int64) - bits.view(np.int32).astype(np.int64))
        where = STEPS if name.startswith("f32") else np.tile(GRAD_STEPS, 3)
        line += f" at {bad.size} of {bits.size} values (max {ulp.max()} ulp), e.g. " + ", ".join(
            f"step {where[i]}: {bits[i]:08x} vs golden {ref[i]:08x}" for i in bad[:3]
        )
        (notes if name.startswith("grad") and ulp.max() <= GRAD_ULP else problems).append(line)
    return len(golden), problems, notes


def main() -> int:
    if "--write" in sys.argv:
        write()
        print(f"wrote {PATH} ({len(json.loads(PATH.read_text())['cases'])} cases)")
        return 0
    n, problems, notes = compare()
    print(
        f"{n} cases on {jax.default_backend()}: {n - len(problems) - len(notes)} bit-identical, "
        f"{len(notes)} derivative cases within {GRAD_ULP} ulp, {len(problems)} wrong"
    )
    for p in problems + notes:
        print(" ", p)
    if problems:
        print(fast_math_note())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
