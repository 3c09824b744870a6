"""Every code block in README.md runs, so the README cannot rot.

``python`` blocks run in order in one shared namespace (later blocks may use earlier
names, as a reader would). optax's ``adam`` is not strict-promotion clean (its bias
correction raises ``TypePromotionError``), so the blocks run under JAX's standard
promotion, as users run them. ``bash`` blocks that call the CLI run in a subprocess and
must exit 0, and an untagged block right after one is its sample output, which must
match what the command prints now (numbers within 2 float32 ulp). The setup commands
(venv, pip, ``.ci/run``) are what CI itself runs.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
import shlex
import subprocess
import sys

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as _fh:
    README = _fh.read()
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*\n?", flags=re.S | re.M)
MATCHES = list(_FENCE.finditer(README))
BLOCKS = [(m[1], m[2]) for m in MATCHES]
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
_CLI_PREFIXES = ("python -m jax_expdecay", "jax-expdecay")
CLI = [
    line
    for lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.startswith(_CLI_PREFIXES)
]
# A bash block whose last line is a CLI command, followed (blank lines only between) by an
# untagged block: that block is the command's sample output.
SAMPLES = [
    (m.group(2).strip().splitlines()[-1], nxt.group(2))
    for m, nxt in itertools.pairwise(MATCHES)
    if m.group(1) == "bash"
    and m.group(2).strip().splitlines()[-1].startswith(_CLI_PREFIXES)
    and nxt.group(1) == ""
    and not README[m.end() : nxt.start()].strip()
]


@pytest.fixture(scope="module")
def namespace():
    return {"__name__": "__readme__"}


def test_readme_has_blocks():
    assert len(PYTHON) >= 10 and len(CLI) >= 2


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_python_block_runs(index, namespace):
    out = io.StringIO()
    with jax.numpy_dtype_promotion("standard"), contextlib.redirect_stdout(out):
        exec(compile(PYTHON[index], f"README.md python block {index}", "exec"), namespace)
    assert out.getvalue().strip(), "every README block prints what it shows"


def test_sweep_block_results(namespace):
    """The sweep example really trained: losses fell, and the injected rate is the
    schedule's value at the last update, per config; the sharded run matches."""
    if "losses" not in namespace:
        pytest.skip("runs after the README blocks")
    losses, final_lr, configs = namespace["losses"], namespace["final_lr"], namespace["configs"]
    assert losses.shape == (len(configs), 300)
    assert bool((losses[:, -1] < 0.5 * losses[:, 0]).all())
    from jax_expdecay import exponential_decay

    want = [float(exponential_decay(c)(299)) for c in configs]
    np.testing.assert_array_equal(np.asarray(final_lr), np.asarray(want, np.float32))
    np.testing.assert_array_equal(np.asarray(namespace["s_lr"]), np.asarray(final_lr))


def _run_cli(command: str, tmp_path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(command.split(" #")[0])
    if args[0] == "jax-expdecay":  # the console script, installed next to this python
        args = [os.path.join(os.path.dirname(sys.executable), "jax-expdecay"), *args[1:]]
    else:
        args = [sys.executable, *args[1:]]
    args = [str(tmp_path / "p.png") if a.endswith(".png") else a for a in args]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.parametrize("command", CLI)
def test_cli_commands_run(command, tmp_path):
    proc = _run_cli(command, tmp_path)
    assert proc.returncode == 0, proc.stderr


def _same_token(shown: str, real: str) -> bool:
    """Equal, or both numbers within 2 float32 ulp of each other (the last printed digit
    of a float32 result may differ between CPUs: XLA's vectorised exp)."""
    if shown == real:
        return True
    try:
        a, b = float(shown), float(real)
    except ValueError:
        return False
    return "." in shown + real and abs(a - b) <= 2.5e-7 * max(abs(a), abs(b))


@pytest.mark.parametrize(("command", "shown"), SAMPLES)
def test_cli_sample_output_is_real(command, shown, tmp_path):
    """A sample output shown after a CLI command is what the command prints now."""
    printed = _run_cli(command, tmp_path).stdout
    real = printed.split()
    assert len(shown.split()) == len(real), f"stale sample; `{command}` now prints:\n{printed}"
    bad = [(a, b) for a, b in zip(shown.split(), real, strict=True) if not _same_token(a, b)]
    assert not bad, f"README shows / CLI prints: {bad}"
