"""Every code block in README.md runs, so the README cannot rot.

``python`` blocks run in order in one shared namespace (later blocks may use earlier
names, as a reader would). optax's ``adam`` is not strict-promotion clean (its bias
correction raises ``TypePromotionError``), so the blocks run under JAX's standard
promotion, as users run them. ``bash`` blocks that call the CLI run in a subprocess and
must exit 0; the setup commands (venv, pip, ``.ci/run``) are what CI itself runs.
"""

from __future__ import annotations

import contextlib
import io
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
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.S | re.M)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
CLI = [
    line
    for lang, code in BLOCKS
    if lang == "bash"
    for line in code.splitlines()
    if line.startswith("python -m jax_expdecay")
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


@pytest.mark.parametrize("command", CLI)
def test_cli_commands_run(command, tmp_path):
    args = shlex.split(command)[1:]
    args = [str(tmp_path / "p.png") if a.endswith(".png") else a for a in args]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, proc.stderr
