"""The CLI: default output, formats, crossings, plot, Keras comparison, error paths."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import subprocess
import sys
from fractions import Fraction

import pytest
from reference import exact_lr, ulp_error

from jax_expdecay import ExponentialDecayConfig, serialize
from jax_expdecay._cli import _crossings, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(extra_env or {})}
    env.pop("XLA_FLAGS", None)
    return subprocess.run(
        [sys.executable, "-m", "jax_expdecay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_default_demo_is_the_seed_in_a_subprocess():
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "0.1 * 0.96 ** floor(s / d), d = 100000" in out
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            rows[int(parts[0])] = float(parts[1])
    assert {0, 99999, 100000, 199999, 200000, 1000000} <= set(rows)
    for step, value in rows.items():
        exact = exact_lr(0.1, 100000, 0.96, step, True)
        # float32 results within 2 ulp; printing 9 digits adds < 0.01 ulp
        assert ulp_error(value, exact, "float32") <= 2.05
    assert "< 1e-5  at step 22600000" in out


@pytest.mark.parametrize(
    ("cfg", "power"),
    [
        (ExponentialDecayConfig(0.1, 100000, 0.96, staircase=True), -5),
        (ExponentialDecayConfig(0.1, 1000, 0.96), -3),
        (ExponentialDecayConfig(3e-4, 47, 0.5, transition_begin=100), -9),
        (ExponentialDecayConfig(1e-6, 1000, 1.05), -4),
    ],
)
def test_crossings_are_exact(cfg, power):
    """The first step past each power of ten, checked against exact rational arithmetic:
    the step before has not crossed, the step itself has."""
    found = dict(_crossings(cfg))
    decay = cfg.decay_rate < 1
    key = f"{'<' if decay else '>'} 1e{power}"
    step = found[key]
    target = Fraction(10) ** power

    def crossed(s: int) -> bool:
        v = exact_lr(cfg.initial_learning_rate, cfg.decay_steps, cfg.decay_rate, s,
                     cfg.staircase, cfg.transition_begin)  # fmt: skip
        return v < target if decay else v > target

    assert crossed(step) and not crossed(step - 1)


def test_json_round_trips_the_config(capsys):
    args = ["--decay-steps", "41", "--decay-rate", "0.5", "--transition-begin", "7"]
    assert main([*args, "--end-value", "0.01", "--steps", "0,48,1000", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cfg = ExponentialDecayConfig.from_dict(data["config"])
    assert cfg == ExponentialDecayConfig(
        0.1, 41, 0.5, staircase=True, transition_begin=7, end_value=0.01
    )
    for row in data["rows"]:
        exact = exact_lr(0.1, 41, 0.5, row["step"], True, 7, 0.01)
        assert ulp_error(row["learning_rate"], exact, "float32") <= 2.0


def test_csv_and_ranges(capsys):
    assert (
        main(["--start", "0", "--stop", "1000000", "--num", "5", "--log", "--format", "csv"]) == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    steps = [int(r["step"]) for r in rows]
    assert steps == [1, 32, 1000, 31623, 1000000]
    for r in rows:
        exact = exact_lr(0.1, 100000, 0.96, int(r["step"]), True)
        assert ulp_error(float(r["learning_rate"]), exact, "float32") <= 2.0


def test_config_file_forms_and_flag_override(tmp_path, capsys):
    keras_cfg = {"initial_learning_rate": 1.0, "decay_steps": 10, "decay_rate": 0.5,
                 "staircase": True, "name": None}  # fmt: skip
    forms = {
        "ours.json": ExponentialDecayConfig.from_dict(keras_cfg).to_dict(),
        "keras.json": keras_cfg,
        "envelope.json": serialize(ExponentialDecayConfig.from_dict(keras_cfg)),
    }
    for fname, payload in forms.items():
        path = tmp_path / fname
        path.write_text(json.dumps(payload))
        assert main(["--config", str(path), "--steps", "9,10,25", "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert [r["learning_rate"] for r in rows] == [1.0, 0.5, 0.25], fname
    path = tmp_path / "keras.json"
    assert main(["--config", str(path), "--decay-rate", "0.25", "--steps", "10", "--format",
                 "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["rows"][0]["learning_rate"] == 0.25


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "s.png"
    proc = _run("--plot", str(out), "--log-y")
    assert proc.returncode == 0, proc.stderr
    w, h = _png_size(out)
    assert (w, h) == (640, 360)
    assert 5_000 < out.stat().st_size < 2_000_000


def test_plot_without_matplotlib_says_what_to_install(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['matplotlib'] = None\n")
    proc = _run("--plot", str(tmp_path / "x.png"), extra_env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "jax-expdecay: error: --plot needs matplotlib: pip install 'jax_expdecay[plot]'"
    )


def test_compare_keras_shows_the_wrong_stair(capsys):
    args = ["--decay-steps", "41", "--decay-rate", "0.5", "--steps", "40,41,82", "--format", "json"]
    assert main([*args, "--compare-keras"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["learning_rate"] for r in rows] == [1 / 10, 0.05, 0.025] or all(
        ulp_error(r["learning_rate"], exact_lr(0.1, 41, 0.5, r["step"], True), "f4") <= 2
        for r in rows
    )
    for r in rows:
        assert math.isclose(r["difference"], r["keras"] - r["learning_rate"])


def test_compare_keras_without_keras(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['keras'] = None\n")
    proc = _run("--compare-keras", extra_env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert "needs keras" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--decay-steps", "x"], "--decay-steps: invalid int value: 'x'"),
        (["--decay-steps", "0"], "decay_steps must be a positive number of steps, got 0"),
        (["--decay-rate", "-1"], "decay_rate must be >= 0, got -1.0"),
        (["--steps", "1,a"], "--steps must be comma-separated integers"),
        (["--steps", "3000000000"], "steps must fit in int32"),
        (["--start", "10", "--stop", "5"], "--stop (5) must be >= --start (10)"),
        (["--config", "/nonexistent.json"], "cannot read --config '/nonexistent.json'"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    ],
)
def test_errors_are_one_line_exit_2(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("jax-expdecay: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not valid JSON"),
        ('{"class_name": "os.system", "config": {}}', "class_name must be 'ExponentialDecay'"),
        ('{"initial_learning_rate": 0.1}', "missing required keys"),
        ("[1, 2]", "takes a dict"),
    ],
)
def test_bad_config_files_in_a_subprocess(tmp_path, content, needle):
    path = tmp_path / "c.json"
    path.write_text(content)
    proc = _run("--config", str(path))
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_documents_every_flag_with_an_example():
    proc = _run("--help")
    assert proc.returncode == 0
    for flag in ("--initial-learning-rate", "--decay-steps", "--decay-rate", "--staircase",
                 "--transition-begin", "--end-value", "--name", "--config", "--steps",
                 "--format", "--plot", "--log-y", "--compare-keras", "examples:"):  # fmt: skip
        assert flag in proc.stdout
