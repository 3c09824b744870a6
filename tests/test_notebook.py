"""The Colab notebook runs headless, top to bottom, against this checkout."""

from __future__ import annotations

import os
import re
import time

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "colab", "jax_expdecay_demo.ipynb")


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(PATH, as_version=4)
    assert "colab.research.google.com" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


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
