"""The Colab notebook: committed clean, runs headless top to bottom against this checkout,
and its install cell installs a wheel built from this checkout into a Python that lacks
jax_expdecay, as it would on Colab (offline: the dependencies are this venv's)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the test extra (pip install -e '.[test]')")
NotebookClient = pytest.importorskip("nbclient").NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "colab", "jax_expdecay_demo.ipynb")
SOURCE_LINE = re.compile(r'^JAX_EXPDECAY_SOURCE = "(.*)"$', re.M)


def _install_cell() -> str:
    nb = nbformat.read(PATH, as_version=4)
    cells = [
        c.source for c in nb.cells if c.cell_type == "code" and "JAX_EXPDECAY_SOURCE" in c.source
    ]
    assert len(cells) == 1
    return cells[0]


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(PATH, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_install_source_is_one_marked_variable_and_no_invented_url():
    nb = nbformat.read(PATH, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == _install_cell()  # the variable is at the top
    assert SOURCE_LINE.findall(first_code.source) == [""]  # committed unset: no default
    assert "SET ME" in first_code.source.splitlines()[0]
    text = "\n".join(c.source for c in nb.cells)
    # The only address in the notebook is Colab's own; no repository URL is made up.
    urls = re.findall(r"https?://[^\s)\"']+", text)
    assert urls == ["https://colab.research.google.com", "https://<host>/<owner>/jax_expdecay.git"]
    assert "github.com" not in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from this checkout with the project's build backend (hatchling).
    Offline when hatchling is installed here; otherwise pip fetches it for the build."""
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", str(out)]
    env = dict(os.environ)
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")
        env["PIP_NO_INDEX"] = "1"
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=120)
    (whl,) = out.glob("jax_expdecay-*.whl")
    return whl


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv without jax_expdecay (like Colab's Python before the install cell)
    that sees this venv's other packages (jax, numpy, pip) through a .pth line naming a
    folder of links to them, so that nothing is downloaded."""
    d = tmp_path_factory.mktemp("bare")
    venv.create(d / "venv", with_pip=False, symlinks=True)
    py = d / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shared = d / "shared"
    shared.mkdir()
    ours = sysconfig.get_path("purelib")
    for entry in os.listdir(ours):
        if "jax_expdecay" not in entry:  # leave out the editable install of this checkout
            os.symlink(os.path.join(ours, entry), shared / entry)
    Path(purelib, "_shared_with_test_venv.pth").write_text(f"{shared}\n")
    return py


def _run_install_cell(py: Path, source: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code, n = SOURCE_LINE.subn(f"JAX_EXPDECAY_SOURCE = {source!r}", _install_cell())
    assert n == 1
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_NO_INDEX"] = "1"  # dependencies must come from what is installed
    return subprocess.run(
        [py, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def test_wheel_holds_the_package_only(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "jax_expdecay/__init__.py" in names and "jax_expdecay/py.typed" in names
    assert all(n.startswith(("jax_expdecay/", "jax_expdecay-")) for n in names), names
    assert not any("tests" in n or n.endswith(".ipynb") for n in names)


def test_install_cell_installs_the_wheel_where_jax_expdecay_is_missing(
    wheel: Path, bare_python: Path, tmp_path: Path
):
    t0 = time.monotonic()
    # Unset source: the cell says so and stops; it does not pretend to install anything.
    unset = _run_install_cell(bare_python, "", tmp_path)
    assert unset.returncode != 0
    assert "RuntimeError: jax_expdecay is not installed and JAX_EXPDECAY_SOURCE is empty" in (
        unset.stderr
    )
    # Set to the wheel, as a Colab user would set it to an uploaded one.
    done = _run_install_cell(bare_python, str(wheel), tmp_path)
    assert done.returncode == 0, done.stderr
    m = re.fullmatch(r"jax_expdecay (\S+) from (\S+)\n", done.stdout)
    assert m, done.stdout
    version = wheel.name.split("-")[1]
    assert m.group(1) == version
    installed = Path(m.group(2))
    assert installed.parent.name == "jax_expdecay"
    assert bare_python.parent.parent in installed.parents  # the fresh venv, not the checkout
    # Installed, the package works; a rerun of the cell installs nothing more.
    check = subprocess.run(
        [
            bare_python,
            "-c",
            "import jax_expdecay as j; c = j.ExponentialDecayConfig(0.1, 10, 0.5); "
            "print(j.exponential_decay(c).config == c, j.__version__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.stdout.strip() == f"True {version}", check.stderr
    again = _run_install_cell(bare_python, "/nonexistent.whl", tmp_path)
    assert again.returncode == 0 and again.stdout == done.stdout, again.stderr
    assert time.monotonic() - t0 < 60


def test_notebook_executes():
    nb = nbformat.read(PATH, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    )
    t0 = time.monotonic()
    client.execute()  # raises CellExecutionError on the first failing cell
    assert time.monotonic() - t0 < 60
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    # the install cell found this checkout and installed nothing
    assert re.search(r"^jax_expdecay \S+ from " + re.escape(ROOT), text, re.M)
    assert "step 41, decay_steps 41, staircase: naive 1.0  ours 0.5  exact 0.5" in text
    # exact vs naive at large steps: ours within float32 rounding, the naive formula not
    rels = re.findall(r"naive \S+ \(([-+.e\d]+)\)  ours \S+ \(([-+.e\d]+)\)", text)
    assert len(rels) == 5
    assert all(abs(float(ours)) < 2**-22 for _, ours in rels)
    assert max(abs(float(naive)) for naive, _ in rels) > 1e-3
    # training and the sweep learned something (the loss starts near ln(10) = 2.3)
    losses = [float(x) for x in re.findall(r"final loss (\d+\.\d+)", text)]
    assert len(losses) == 6 and max(losses) < 1.0
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 3  # seed schedule, training, sweep
