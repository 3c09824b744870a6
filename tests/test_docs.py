"""Every code block in README.md and docs/**/*.md runs, so the documentation cannot rot.

Each file's ``python`` blocks run in order in one namespace of their own (later blocks
may use earlier names, as a reader of that page would; pages do not share names). optax's
``adam`` is not strict-promotion clean (its bias correction raises ``TypePromotionError``),
so the blocks run under JAX's standard promotion, as users run them, and each must print
what it shows. ``bash`` lines that call the CLI run in a subprocess and must exit 0; an
untagged (or ``text``) block right after a bash block ending in a CLI command is that
command's sample output, which must match what the command prints now (numbers within 2
float32 ulp). Other bash lines are the setup commands (venv, pip, ``.ci/run``,
benchmarks) that CI itself runs. A fence in any other language would be skipped
silently, so only shown-output languages (``text``, ``json``, ``csv``) are allowed.
"""

from __future__ import annotations

import contextlib
import glob
import io
import itertools
import os
import re
import shlex
import subprocess
import sys
from fractions import Fraction

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = [
    "README.md",
    *sorted(
        os.path.relpath(p, ROOT).replace(os.sep, "/")
        for p in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    ),
]
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*\n?", flags=re.S | re.M)
_CLI_PREFIXES = ("python -m jax_expdecay", "jax-expdecay")
_SHOWN = ("", "text", "json", "csv")  # output shown to the reader, not code to run


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
        return fh.read()


TEXTS = {name: _read(name) for name in FILES}
MATCHES = {name: list(_FENCE.finditer(text)) for name, text in TEXTS.items()}
PYTHON = [
    (name, i, code)
    for name in FILES
    for i, code in enumerate(m[2] for m in MATCHES[name] if m[1] == "python")
]
CLI = [
    (name, line)
    for name in FILES
    for m in MATCHES[name]
    if m[1] == "bash"
    for line in m[2].splitlines()
    if line.startswith(_CLI_PREFIXES)
]


def _last_line(code: str) -> str:
    lines = code.strip().splitlines()
    return lines[-1] if lines else ""


# A bash block whose last line is a CLI command, followed (blank lines only between) by an
# untagged or `text` block: that block is the command's sample output.
SAMPLES = [
    (name, _last_line(m[2]), nxt[2])
    for name in FILES
    for m, nxt in itertools.pairwise(MATCHES[name])
    if m[1] == "bash"
    and _last_line(m[2]).startswith(_CLI_PREFIXES)
    and nxt[1] in ("", "text")
    and not TEXTS[name][m.end() : nxt.start()].strip()
]


@pytest.fixture(scope="module")
def namespaces():
    """One namespace per documentation file, shared by that file's blocks in order."""
    return {name: {"__name__": "__docs__"} for name in FILES}


def test_docs_have_blocks():
    assert len(PYTHON) >= 10 and len(CLI) >= 2
    assert any(name == "README.md" for name, _, _ in PYTHON), "README's quick example"
    assert len(FILES) >= 6, FILES


@pytest.mark.parametrize("name", FILES)
def test_fences_are_run_or_shown(name):
    """A fence tagged ``py``, ``sh``, ``console``, ... would never run: refuse it, and
    refuse an unclosed fence (it would swallow the rest of the page)."""
    langs = {m[1] for m in MATCHES[name]}
    assert langs <= {"python", "bash", *_SHOWN}, f"{name}: fences tagged {sorted(langs)}"
    closed = _FENCE.sub("", TEXTS[name])
    assert "```" not in closed, f"{name}: an unclosed or indented fence"


@pytest.mark.parametrize(
    ("name", "index"), [(n, i) for n, i, _ in PYTHON], ids=[f"{n}-{i}" for n, i, _ in PYTHON]
)
def test_python_block_runs(name, index, namespaces):
    code = next(c for n, i, c in PYTHON if (n, i) == (name, index))
    out = io.StringIO()
    with jax.numpy_dtype_promotion("standard"), contextlib.redirect_stdout(out):
        exec(compile(code, f"{name} python block {index}", "exec"), namespaces[name])
    assert out.getvalue().strip(), f"every block prints what it shows ({name} #{index})"


def test_sweep_block_results(namespaces):
    """The sweep example really trained: losses fell, and the injected rate is the
    schedule's value at the last update, per config; the sharded run matches."""
    namespace = namespaces["docs/sweeps.md"]
    if "losses" not in namespace:
        pytest.skip("runs after the docs/sweeps.md blocks")
    losses, final_lr, configs = namespace["losses"], namespace["final_lr"], namespace["configs"]
    assert losses.shape == (len(configs), 300)
    assert bool((losses[:, -1] < 0.5 * losses[:, 0]).all())
    from jax_expdecay import exponential_decay

    want = [float(exponential_decay(c)(299)) for c in configs]
    np.testing.assert_array_equal(np.asarray(final_lr), np.asarray(want, np.float32))
    np.testing.assert_array_equal(np.asarray(namespace["s_lr"]), np.asarray(final_lr))


def test_warmup_recipe_results(namespaces):
    """The warmup recipe's rates are linear warmup, then our decay shifted by the warmup
    length, against exact arithmetic, at the edges and at every step the optimizer took
    (an off-by-one step would be off by PEAK / WARMUP, far beyond the tolerances)."""
    namespace = namespaces["docs/optax-flax.md"]
    if "warmup_schedule" not in namespace:
        pytest.skip("runs after the docs/optax-flax.md blocks")
    sched, warmup = namespace["warmup_schedule"], namespace["WARMUP"]
    peak, d, rate = Fraction(namespace["PEAK"]), namespace["DECAY_STEPS"], namespace["RATE"]

    def check(s: int, got: float) -> None:
        if s < warmup:  # optax's linear_schedule, in float32: a few ulp of the peak
            want = float(peak * s / warmup)
            assert abs(got - want) <= 2**-22 * float(peak), (s, got, want)
        else:  # ours on the step counted from the boundary: the exact stair, <= 2 ulp
            want = float(peak) * float(rate) ** ((s - warmup) // d)
            assert abs(got - want) <= 2 * 2**-23 * want + 1e-45, (s, got, want)

    steps = [0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, warmup + d - 1, warmup + d]
    steps += [warmup + 7 * d, warmup + 7 * d + 1, 2**31 - 1]
    with jax.numpy_dtype_promotion("standard"):
        got = np.asarray(jax.vmap(sched)(np.asarray(steps, np.int32)), np.float64)
    for s, g in zip(steps, got, strict=True):
        check(s, float(g))
    assert got[steps.index(warmup - 1)] < got[steps.index(warmup)] == np.float32(peak)
    used = np.asarray(namespace["used_rates"], np.float64)  # update t used the rate at t
    assert len(used) > warmup + 1
    for t, g in enumerate(used):
        check(t, float(g))


def _run_cli(command: str, tmp_path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(command.split(" #")[0])
    if args[0] == "jax-expdecay":  # the console script, installed next to this python
        args = [os.path.join(os.path.dirname(sys.executable), "jax-expdecay"), *args[1:]]
    else:
        args = [sys.executable, *args[1:]]
    args = [str(tmp_path / "p.png") if a.endswith(".png") else a for a in args]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


_CLI_RUNS: dict[str, subprocess.CompletedProcess[str]] = {}


@pytest.fixture(scope="module")
def run_cli(tmp_path_factory):
    """Runs each documented CLI command once per module (a run costs a fresh interpreter)."""
    folder = tmp_path_factory.mktemp("cli")

    def run(command: str) -> subprocess.CompletedProcess[str]:
        if command not in _CLI_RUNS:
            _CLI_RUNS[command] = _run_cli(command, folder)
        return _CLI_RUNS[command]

    return run


@pytest.mark.parametrize(("name", "command"), CLI, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CLI)])
def test_cli_commands_run(name, command, run_cli):
    proc = run_cli(command)
    assert proc.returncode == 0, f"{name}: `{command}` failed:\n{proc.stderr}"


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


@pytest.mark.parametrize(
    ("name", "command", "shown"), SAMPLES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SAMPLES)]
)
def test_cli_sample_output_is_real(name, command, shown, run_cli):
    """A sample output shown after a CLI command is what the command prints now."""
    if "--compare-keras" in command and jax.default_backend() != "cpu":
        pytest.skip("shows what Keras computes on CPU (on an H200 its stairs differ again)")
    printed = run_cli(command).stdout
    real = printed.split()
    assert len(shown.split()) == len(real), f"{name}: stale sample; `{command}` prints:\n{printed}"
    bad = [(a, b) for a, b in zip(shown.split(), real, strict=True) if not _same_token(a, b)]
    assert not bad, f"{name} shows / CLI prints: {bad}"


# -- what each page needs installed ------------------------------------------------------
# The distribution that provides each importable top-level name used in the docs.
_DIST = {"sklearn": "scikit-learn", "orbax": "orbax-checkpoint"}
_RUNTIME = {"jax", "jaxlib", "numpy", "jax_expdecay"}
_NEEDS = re.compile(r"^\*Needs:\* `pip install -e '\.\[(\w+)\]'`", re.M)
_README_INSTALL = re.compile(r"^pip install -e '\.\[(\w+)\]'$", re.M)


def _extras() -> dict[str, set[str]]:
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        extras = tomllib.load(fh)["project"]["optional-dependencies"]
    return {
        k: {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in v}
        for k, v in extras.items()
    }


def _imported(name: str) -> set[str]:
    import ast

    mods: set[str] = set()
    for code in (m[2] for m in MATCHES[name] if m[1] == "python"):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods.add(node.module.split(".")[0])
    return {_DIST.get(m, m) for m in mods if m not in sys.stdlib_module_names} - _RUNTIME


@pytest.mark.parametrize("name", FILES)
def test_each_page_names_an_extra_that_installs_its_imports(name):
    """A reader who installs the extra a page names can run every block on that page."""
    need = _imported(name)
    found = (_README_INSTALL if name == "README.md" else _NEEDS).findall(TEXTS[name])
    if not need:
        assert not found or name == "README.md", f"{name} names an extra it does not need"
        return
    assert len(found) == 1, f"{name} imports {sorted(need)}: say which extra installs them"
    extra = _extras()[found[0]]
    assert need <= extra, f"{name}: [{found[0]}] lacks {sorted(need - extra)}"


def test_extras_exist_for_every_page_and_the_test_extra_covers_them():
    extras = _extras()
    assert {"optax", "flax", "keras", "plot", "examples"} <= set(extras)
    assert extras["examples"] <= extras["test"]  # CI runs every page with the test extra
    for name in FILES:
        assert _imported(name) <= extras["examples"], name
