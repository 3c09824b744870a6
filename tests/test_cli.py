"""The CLI: default output, formats, exact crossings, plot, Keras comparison, error paths.

Most checks call ``main([...])`` in-process; subprocesses (JAX import, ~1-2 s each) cover
the entry points, exit codes and the absence of tracebacks.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import struct
import subprocess
import sys
from fractions import Fraction

import jax
import mpmath
import numpy as np
import pytest
from reference import exact_lr, ulp_error

from jax_expdecay import ExponentialDecayConfig, exponential_decay, first_step_below, serialize
from jax_expdecay._cli import _crossings, _horizon, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = ExponentialDecayConfig(0.1, 100000, 0.96, staircase=True)
_REQ = ["--initial-learning-rate", "0.1", "--decay-steps", "10", "--decay-rate", "0.5"]


def _run(*args: str, extra_env: dict | None = None, exe: str | None = None):
    env = {**os.environ, **(extra_env or {})}
    if extra_env and "PYTHONPATH" in extra_env and os.environ.get("PYTHONPATH"):
        # in front of the caller's own (a checkout run with PYTHONPATH, not installed)
        env["PYTHONPATH"] = os.pathsep.join([extra_env["PYTHONPATH"], os.environ["PYTHONPATH"]])
    env.pop("XLA_FLAGS", None)  # the CLI's own default: one CPU device
    cmd = [exe] if exe else [sys.executable, "-m", "jax_expdecay"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env
    )


def _exact(cfg: ExponentialDecayConfig, step: int):
    return exact_lr(cfg.initial_learning_rate, cfg.decay_steps, cfg.decay_rate, step,
                    cfg.staircase, cfg.transition_begin, cfg.end_value)  # fmt: skip


def _table_rows(out: str) -> dict[int, float]:
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            rows[int(parts[0])] = float(parts[1])
    return rows


def _check_crossings(cfg: ExponentialDecayConfig, found: list[tuple[str, int]], crossed) -> None:
    """Each listed step has crossed its power of ten, and the step (continuous) or stair
    (staircase) before it has not."""
    back = cfg.decay_steps if cfg.staircase else 1
    for label, threshold, _, step in found:
        k = int(label.split("1e")[1])
        assert threshold == float(f"1e{k}")
        assert crossed(step, k), (label, step)
        if step - back > cfg.transition_begin:
            assert not crossed(step - back, k), (label, step)


def _mp_crossed(cfg: ExponentialDecayConfig):
    decay = cfg.decay_rate < 1

    def crossed(step: int, k: int) -> bool:
        v, t = _exact(cfg, step), mpmath.mpf(10) ** k
        return v < t if decay else v > t

    return crossed


def test_default_demo_is_the_seed_in_a_subprocess():
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("lr = 0.1 * 0.96 ** floor(s / d), d = 100000, s = step\n")
    rows = _table_rows(out)
    assert {0, 99999, 100000, 199999, 200000} <= set(rows)
    for step, value in rows.items():
        # float32 results within 2 ulp; printing 9 digits adds < 0.01 ulp
        assert ulp_error(value, _exact(SEED, step), "float32") <= 2.05, step
    # The table runs to the first stair where the rate is <= 1e-3 of the initial one.
    last = max(rows)
    assert last == _horizon(SEED)
    assert _exact(SEED, last) <= Fraction(1, 1000) * mpmath.mpf(0.1)
    assert _exact(SEED, last - SEED.decay_steps) > Fraction(1, 1000) * mpmath.mpf(0.1)
    # Crossings only within the table: 1e-1 .. 1e-4 (1e-5 falls past the last row).
    crossings = [(f"1e-{m[0]}", 0.0, "below", int(m[1]))
                 for m in re.findall(r"< 1e-(\d+)\s+at step (\d+)", out)]  # fmt: skip
    assert [c[0] for c in crossings] == ["1e-1", "1e-2", "1e-3", "1e-4"]
    assert all(c[3] <= last for c in crossings)
    assert first_step_below(SEED, Fraction(1, 10**5)) > last
    _check_crossings(SEED, [(c[0], float(c[0]), *c[2:]) for c in crossings], _mp_crossed(SEED))


@pytest.mark.parametrize(
    "cfg",
    [
        SEED,
        ExponentialDecayConfig(0.1, 1000, 0.96),
        ExponentialDecayConfig(3e-4, 47, 0.5, transition_begin=100),
        ExponentialDecayConfig(1e-6, 1000, 1.05),
        ExponentialDecayConfig(1e-6, 7, 1.05, staircase=True, end_value=1e20),
        ExponentialDecayConfig(0.1, 10, 0.3, end_value=1e-7),
        ExponentialDecayConfig(0.1, 10**8, 0.9, staircase=True),  # 1e-2 only past int32
    ],
)
def test_crossings_are_exact(cfg):
    """Every power of ten, checked against 160-bit mpmath: the step before has not
    crossed, the step itself has; the list stops only at end_value or int32."""
    found = _crossings(cfg, "all", 0)
    _check_crossings(cfg, found, _mp_crossed(cfg))
    decay = cfg.decay_rate < 1
    powers = [int(label.split("1e")[1]) for label, *_ in found]
    assert powers == list(range(powers[0], powers[0] + (-1 if decay else 1) * len(powers),
                                -1 if decay else 1))  # fmt: skip
    if cfg.end_value is not None:  # stops at the first power end_value keeps it from
        nxt = Fraction(10) ** (powers[-1] + (-1 if decay else 1))
        assert (Fraction(cfg.end_value) >= nxt) if decay else (Fraction(cfg.end_value) <= nxt)
    elif powers[-1] != (-38 if decay else 38):  # else the next power is crossed past int32
        assert not _mp_crossed(cfg)(2**31 - 1, powers[-1] + (-1 if decay else 1))


def test_crossings_brute_force():
    """Every integer step, exactly: the first step below each power of ten."""
    cfg = ExponentialDecayConfig(1.0, 7, 0.5)
    want: dict[int, int] = {}
    for step in range(1, 7 * 127):
        v = _exact(cfg, step)
        for k in range(0, -39, -1):
            if k not in want and v < mpmath.mpf(10) ** k:
                want[k] = step
    assert _crossings(cfg, "all", 0) == [
        (f"1e{k}", float(f"1e{k}"), "below", s) for k, s in sorted(want.items(), reverse=True)
    ]


@pytest.mark.parametrize(
    ("rate", "d", "staircase"), [(10.0, 3, True), (10.0, 3, False), (100.0, 5, False)]
)
def test_crossings_at_exact_ties(rate, d, staircase):
    """1 * 10**m ** (s / d) equals a power of ten exactly at some steps; equal is not
    above, so the crossing is the next step (stair). Exact in integers: the value
    exceeds 10**k iff m * p > k with p = s / d (or its floor)."""
    cfg = ExponentialDecayConfig(1.0, d, rate, staircase=staircase)
    m = round(math.log10(rate))
    found = _crossings(cfg, "all", 0)
    assert [(label, d) for label, _, d, _ in found] == [(f"1e{k}", "above") for k in range(39)]
    for label, _, _, step in found:
        k = int(label.split("1e")[1])
        p = Fraction(step // d if staircase else Fraction(step, d))
        p_before = Fraction((step - d) // d if staircase else Fraction(step - 1, d))
        assert m * p > k >= m * p_before, label


def test_crossings_rate_zero_and_flat():
    cfg = ExponentialDecayConfig(0.1, 10, 0.0, staircase=True, transition_begin=5)
    assert _crossings(cfg, "all", 0) == [
        (f"1e{k}", float(f"1e{k}"), "below", 15) for k in range(-1, -39, -1)
    ]
    assert _crossings(ExponentialDecayConfig(0.1, 10, 1.0), "all", 0) == []


def test_default_steps_cover_the_horizon_for_growth_and_continuous(capsys):
    assert (
        main(["--initial-learning-rate", "0.1", "--decay-rate", "1.5", "--decay-steps", "10"]) == 0
    )
    out = capsys.readouterr().out
    rows = _table_rows(out)
    cfg = ExponentialDecayConfig(0.1, 10, 1.5)
    assert max(rows) == _horizon(cfg) == math.ceil(10 * math.log(1000) / math.log(1.5))
    for step, value in rows.items():
        assert ulp_error(value, _exact(cfg, step), "float32") <= 2.05, step
    assert "> 1e0  at step 57" in out  # 0.1 * 1.5 ** (s / 10) > 1 first at s = 57
    assert _exact(cfg, 57) > 1 > _exact(cfg, 56)


def test_json_round_trips_the_config(capsys):
    args = ["--initial-learning-rate", "0.1", "--decay-steps", "41", "--decay-rate", "0.5",
            "--transition-begin", "7", "--staircase"]  # fmt: skip
    assert main([*args, "--end-value", "0.01", "--steps", "0,48,1e3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cfg = ExponentialDecayConfig.from_dict(data["config"])
    assert cfg == ExponentialDecayConfig(
        0.1, 41, 0.5, staircase=True, transition_begin=7, end_value=0.01
    )
    assert [row["step"] for row in data["rows"]] == [0, 48, 1000]
    for row in data["rows"]:
        assert ulp_error(row["learning_rate"], _exact(cfg, row["step"]), "float32") <= 2.0
    assert [(c["threshold"], c["direction"], c["step"]) for c in data["crossings"]] == [
        (t, d, s) for _, t, d, s in _crossings(cfg, "table", 1000)
    ]


def test_csv_and_ranges(capsys):
    assert main(["--start", "0", "--stop", "1e6", "--num", "5", "--log", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["step"]) for r in rows] == [round(10 ** (1.5 * i)) for i in range(5)]
    for r in rows:
        assert ulp_error(float(r["learning_rate"]), _exact(SEED, int(r["step"])), "f4") <= 2.0
    # --num alone: a linear range from 0 to the default horizon
    assert main(["--num", "3", "--format", "csv"]) == 0
    steps = [int(r["step"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert steps == [0, round(_horizon(SEED) / 2), _horizon(SEED)]


def test_values_do_not_depend_on_the_other_steps(capsys):
    """One evaluation per step: a stair shows one value whatever else is in the table."""
    assert main(["--steps", "200000,250000,299999", "--format", "csv"]) == 0
    a = [r["learning_rate"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert main(["--steps", "0,100000,200000", "--format", "csv"]) == 0
    b = [r["learning_rate"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert len(set(a)) == 1 and b[2] == a[0]


def test_config_file_forms_and_flag_override(tmp_path, capsys):
    keras_cfg = {"initial_learning_rate": 1.0, "decay_steps": 10, "decay_rate": 0.5,
                 "staircase": True, "name": None}  # fmt: skip
    cfg = ExponentialDecayConfig.from_dict(keras_cfg)
    forms = {"ours.json": cfg.to_dict(), "keras.json": keras_cfg, "envelope.json": serialize(cfg)}
    for fname, payload in forms.items():
        path = tmp_path / fname
        path.write_text(json.dumps(payload))
        assert main(["--config", str(path), "--steps", "9,10,25", "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)["rows"]
        want = [float(np.float32(float(_exact(cfg, s)))) for s in (9, 10, 25)]  # exact in f32
        assert [r["learning_rate"] for r in rows] == want, fname
    args = ["--config", str(tmp_path / "keras.json"), "--decay-rate", "0.25", "--no-staircase"]
    assert main([*args, "--steps", "10,15", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["decay_rate"] == 0.25 and data["config"]["staircase"] is False
    assert data["config"]["decay_steps"] == 10  # from the file
    assert data["rows"][0]["learning_rate"] == 0.25


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "s.png"
    seed = ["--initial-learning-rate", "0.1", "--decay-steps", "100000", "--decay-rate", "0.96"]
    proc = _run("--plot", str(out), "--log-y", *seed, "--staircase", "--transition-begin", "50000")
    assert proc.returncode == 0, proc.stderr
    assert f"plot written to {out}" in proc.stdout
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
    assert not (tmp_path / "x.png").exists()


def test_compare_keras_shows_its_wrong_stair(capsys):
    """d = 2**24 + 1: Keras's float32 step / decay_steps rounds 16777216 / 16777217 up to
    1, so Keras is one stair early at step 16777216; ours holds until 16777217."""
    d = 2**24 + 1
    cfg = ExponentialDecayConfig(0.1, d, 0.5, staircase=True)
    args = ["--initial-learning-rate", "0.1", "--decay-steps", str(d), "--decay-rate", "0.5",
            "--staircase", "--steps", f"{d - 2},{d - 1},{d}"]  # fmt: skip
    assert main([*args, "--compare-keras", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    for r in rows:
        assert ulp_error(r["learning_rate"], _exact(cfg, r["step"]), "f4") <= 2.0
        # JSON shows the float32 values' shortest text; the difference is of the float32s
        assert r["difference"] == float(np.float32(r["keras"])) - float(
            np.float32(r["learning_rate"])
        )
        assert math.isclose(r["relative"], r["difference"] / float(np.float32(r["learning_rate"])))
        spacing = float(np.spacing(np.float32(r["learning_rate"])))
        assert math.isclose(r["ulp_float32"], abs(r["difference"]) / spacing)
    assert ulp_error(rows[1]["keras"], _exact(cfg, d), "f4") <= 2.0  # the next stair
    assert math.isclose(rows[1]["relative"], -0.5, rel_tol=1e-6)
    assert main([*args, "--compare-keras"]) == 0
    assert "(keras-ours)" in capsys.readouterr().out


def test_compare_keras_without_keras(tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['keras'] = None\n")
    proc = _run("--compare-keras", extra_env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("jax-expdecay: error: --compare-keras needs keras")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--decay-steps", "x"], "argument --decay-steps: expected a whole number, got 'x'"),
        (["--decay-steps", "1.5"], "argument --decay-steps: expected a whole number, got '1.5'"),
        ([*_REQ, "--decay-steps", "0"], "decay_steps must be a positive number of steps, got 0"),
        ([*_REQ, "--decay-rate", "-1"], "decay_rate must be >= 0, got -1.0"),
        ([*_REQ, "--initial-learning-rate", "nan"], "initial_learning_rate must be finite"),
        (["--decay-rate", "0.5"], "--initial-learning-rate and --decay-steps are required"),
        (["--staircase"], "--initial-learning-rate and --decay-steps and --decay-rate are"),
        (["--bogus\nx"], "unrecognized arguments: --bogus\\nx"),  # a newline: still 1 line
        (["--format", "x\ny"], "invalid choice: 'x\\ny'"),
        (["--steps", "1\n2"], "got '1\\n2'"),
        (["--crossings", "1e-3,x"], "--crossings must be table, all, none or comma-separated"),
        (["--crossings", "nan"], "--crossings must be table, all, none or comma-separated"),
        (["--plot", "p", "--steps", "0"], "the file's suffix names its format; use one of"),
        (["--plot", "p.xyz", "--steps", "0"], "(got .xyz)"),
        (["--steps", "1,a"], "--steps must be comma-separated whole numbers, got '1,a'"),
        (["--steps", ","], "--steps is empty"),
        (["--steps", "3000000000"], "steps must fit in int32"),
        (["--steps", "1", "--num", "3"], "--steps cannot be combined with"),
        (["--start", "10", "--stop", "5"], "--stop (5) must be >= --start (10)"),
        (["--num", "0"], "--num must be between 1 and 100000, got 0"),
        (["--log", "--stop", "0"], "--log needs --stop >= 1, got 0"),
        (["--config", "/nonexistent.json"], "cannot read --config '/nonexistent.json'"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--plot", "/nonexistent/dir/x.png", "--steps", "0"], "cannot write --plot"),
        ([*_REQ, "--compare-keras", "--transition-begin", "5"], "Keras has no transition_begin"),
    ],
)
def test_errors_are_one_line_exit_2(args, needle, capsys):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("jax-expdecay: error: ") and needle in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not valid JSON"),
        ('{"a": ' * 100_000, "is not valid JSON"),  # nesting too deep for the parser
        ('{"class_name": "os.system", "config": {}}', "class_name must be 'ExponentialDecay'"),
        ('{"initial_learning_rate": 0.1}', "missing required keys"),
        ("[1, 2]", "takes a dict"),
    ],
)
def test_bad_config_files(tmp_path, content, needle, capsys):
    path = tmp_path / "c.json"
    path.write_text(content)
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jax-expdecay: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1


def test_bad_config_file_in_a_subprocess_has_no_traceback(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"class_name": "os.system", "config": {}}')
    proc = _run("--config", str(path), "--decay-rate", "x")  # two problems: flags first
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (
        "jax-expdecay: error: argument --decay-rate: invalid float value: 'x'"
    )
    proc = _run("--config", str(path))
    assert proc.returncode == 2
    assert "class_name must be 'ExponentialDecay'" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_console_script_and_help():
    """The installed ``jax-expdecay`` script; --help documents every flag with examples."""
    exe = os.path.join(os.path.dirname(sys.executable), "jax-expdecay")
    if not os.path.exists(exe):
        pytest.skip("package not installed (pip install -e .)")
    proc = _run("--help", exe=exe)
    assert proc.returncode == 0
    for flag in ("--initial-learning-rate", "--decay-steps", "--decay-rate", "--staircase",
                 "--no-staircase", "--transition-begin", "--end-value", "--name", "--config",
                 "--steps", "--start", "--stop", "--num", "--log", "--format", "--plot",
                 "--log-y", "--compare-keras", "--version", "examples:"):  # fmt: skip
        assert flag in proc.stdout, flag
    assert proc.stdout.startswith("usage: jax-expdecay ")


def test_version(capsys):
    from jax_expdecay import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jax-expdecay {__version__}"


def test_closed_pipe_is_quiet():
    """``jax-expdecay ... | head -1``: no BrokenPipeError traceback."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [sys.executable, "-m", "jax_expdecay", "--num", "20000", "--format", "csv"]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"step,learning_rate\n"
        proc.stdout.close()  # the reader goes away with ~500 KB still to come
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 1
    assert err == b""


def test_json_is_strict_when_the_rate_overflows(capsys):
    """float32 overflow gives inf, written as the string "inf" (strict JSON has none)."""
    args = ["--initial-learning-rate", "1e30", "--decay-rate", "1e6", "--decay-steps", "1"]
    assert main([*args, "--no-staircase", "--steps", "0,1,10", "--format", "json"]) == 0

    def no_constants(name: str):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    cfg = ExponentialDecayConfig.from_dict(data["config"])
    first, second, third = data["rows"]
    assert ulp_error(first["learning_rate"], _exact(cfg, 0), "f4") <= 2.0
    assert ulp_error(second["learning_rate"], _exact(cfg, 1), "f4") <= 2.0
    assert _exact(cfg, 10) > np.finfo(np.float32).max and third["learning_rate"] == "inf"


# -- issue 12: defaults agree with the library -------------------------------------------


def _help_text() -> str:
    import contextlib

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--help"]) == 0
    return " ".join(out.getvalue().split())  # argparse wraps lines: compare flat text


def test_help_states_the_library_defaults():
    """--help names exponential_decay()'s default for each optional field, and those are
    the factory's real defaults (not the Keras documentation example's staircase=True)."""
    import inspect

    params = inspect.signature(exponential_decay).parameters
    text = _help_text()
    assert params["staircase"].default is False
    assert (
        "(default: off, as exponential_decay's staircase=False; on in the Keras documentation example)"
        in text
    )
    assert params["transition_begin"].default == 0
    assert "hold the rate until step N (default: 0, as exponential_decay)" in text
    assert params["end_value"].default is None
    assert "(default: none, as exponential_decay)" in text
    assert params["name"].default == "ExponentialDecay"
    assert "(default: ExponentialDecay, as exponential_decay)" in text
    for flag in ("initial-learning-rate X required", "decay-steps N steps per decay period: "
                 "required", "decay-rate R factor per decay period: required"):  # fmt: skip
        assert f"--{flag}" in text, flag
    assert "the learning rate is JAX's default float, float32" in text


@pytest.mark.parametrize(
    "extra",
    [[], ["--transition-begin", "30"], ["--end-value", "0.005"], ["--staircase"]],
)
def test_omitted_flags_take_the_library_defaults(extra, capsys):
    """`--initial-learning-rate 0.01 --decay-steps 100 --decay-rate 0.9`: the config and
    every value are exponential_decay(0.01, 100, 0.9, ...)'s (was: stairs)."""
    base = ["--initial-learning-rate", "0.01", "--decay-steps", "100", "--decay-rate", "0.9"]
    assert main([*base, *extra, "--steps", "0,50,99,100,150,1000", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    pairs = extra if len(extra) == 2 else []
    kwargs = {
        k.lstrip("-").replace("-", "_"): v for k, v in zip(pairs[::2], pairs[1::2], strict=True)
    }
    kwargs = {k: float(v) if k == "end_value" else int(v) for k, v in kwargs.items()}
    sched = exponential_decay(0.01, 100, 0.9, staircase="--staircase" in extra, **kwargs)
    assert data["config"] == sched.config.to_dict()
    for row in data["rows"]:
        assert np.float32(row["learning_rate"]) == np.asarray(sched(np.int32(row["step"])))


def test_config_file_without_staircase_is_continuous_like_the_library(tmp_path, capsys):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"initial_learning_rate": 0.01, "decay_steps": 100,
                                "decay_rate": 0.9}))  # fmt: skip
    assert main(["--config", str(path), "--steps", "50", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["staircase"] is False
    assert np.float32(out["rows"][0]["learning_rate"]) == np.asarray(
        exponential_decay(0.01, 100, 0.9)(np.int32(50))
    )


def test_bare_run_is_still_the_seed_demo(capsys):
    assert main(["--format", "json", "--steps", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == SEED.to_dict()


# -- issue 10 item 7: shortest float32 text ----------------------------------------------


def test_values_print_as_shortest_float32_text(capsys):
    """Table, JSON and CSV show the shortest decimal that reads back to the float32 the
    library returns (0.096, not 0.0960000008)."""
    steps = [0, 100000, 250000, 5800000, 17000000]
    sched = exponential_decay(SEED)
    want = {s: np.asarray(sched(np.int32(s))) for s in steps}
    arg = ",".join(map(str, steps))
    assert main(["--steps", arg]) == 0
    table = _table_rows(capsys.readouterr().out)
    assert main(["--steps", arg, "--format", "csv"]) == 0
    csv_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["--steps", arg, "--format", "json"]) == 0
    raw = capsys.readouterr().out
    json_rows = json.loads(raw)["rows"]
    texts = {s: str(np.float32(want[s])) for s in steps}
    assert texts[0] == "0.1" and texts[100000] == "0.096"
    for i, s in enumerate(steps):
        assert np.float32(table[s]) == want[s]
        assert csv_rows[i]["learning_rate"] == texts[s]
        assert np.float32(json_rows[i]["learning_rate"]) == want[s]
        assert f'"learning_rate": {float(texts[s])!r}' in raw
        # shortest: one digit fewer does not read back to the same float32
        digits = len(texts[s].split("e")[0].replace(".", "").lstrip("0"))
        if digits > 1:
            shorter = np.format_float_scientific(want[s], precision=digits - 2, unique=False)
            assert np.float32(shorter) != want[s]
    assert "0.0960000008" not in raw and "0.10000000149011612" not in raw


# -- issue 12: crossings -------------------------------------------------------------------


def test_crossings_are_limited_to_the_table(capsys):
    """Was: 38 lines for every run, all "at step 100000" with --decay-rate 0."""
    args = ["--initial-learning-rate", "0.1", "--decay-steps", "100000", "--decay-rate", "0"]
    assert main([*args, "--staircase"]) == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if "at step" in x]
    assert lines == ["  < 1e-1 ... 1e-38  at step 100000"]
    assert main([*args, "--staircase", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["threshold"] for c in data["crossings"]] == [10.0**-k for k in range(1, 39)]
    assert {c["step"] for c in data["crossings"]} == {100000}
    assert main([*args, "--staircase", "--steps", "0,50000"]) == 0  # stops before the drop
    assert "at step" not in capsys.readouterr().out


def test_crossings_flag(capsys):
    assert main(["--crossings", "all", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    steps = [c["step"] for c in data["crossings"]]
    assert all(isinstance(c["threshold"], float) for c in data["crossings"])
    assert len(steps) > 4 and max(steps) <= 2**31 - 1
    assert all(c["direction"] == "below" for c in data["crossings"])
    assert main(["--crossings", "none"]) == 0
    assert "at step" not in capsys.readouterr().out
    assert main(["--crossings", "0.05,1e-9,-1", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)["crossings"]
    want = [first_step_below(SEED, v) for v in (0.05, 1e-9, -1.0)]
    assert [(c["threshold"], c["step"]) for c in got] == list(
        zip((0.05, 1e-9, -1.0), want, strict=True)
    )
    assert want[2] is None and want[1] > _horizon(SEED)  # listed: any step, or never
    assert main(["--crossings", "0.05,-1"]) == 0
    out = capsys.readouterr().out
    assert f"< 0.05  at step {want[0]}" in out and "  < -1.0  never" in out


def test_growth_crossings_in_the_table(capsys):
    args = ["--initial-learning-rate", "1e-6", "--decay-steps", "7", "--decay-rate", "1.05"]
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    last = data["rows"][-1]["step"]
    cfg = ExponentialDecayConfig.from_dict(data["config"])
    # The double 1e-6 is just below 10**-6, so the rate rises above 1e-6 at step 1.
    assert [c["threshold"] for c in data["crossings"]] == [1e-6, 1e-5, 1e-4, 1e-3]
    assert data["crossings"][0]["step"] == 1
    for c in data["crossings"]:
        assert c["direction"] == "above" and c["step"] <= last
        assert _mp_crossed(cfg)(c["step"], round(math.log10(c["threshold"])))
        assert not _mp_crossed(cfg)(c["step"] - 1, round(math.log10(c["threshold"])))


# -- issue 12: --compare-keras says which value is nearer ---------------------------------


def test_compare_keras_says_which_is_nearer(capsys):
    d = 2**24 + 1
    args = ["--initial-learning-rate", "0.1", "--decay-steps", str(d), "--decay-rate", "0.96"]
    steps = [0, 5, d - 1, d, 3 * d + 7]
    for staircase in ("--staircase", "--no-staircase"):
        assert main([*args, staircase, "--steps", ",".join(map(str, steps)),
                     "--compare-keras", "--format", "json"]) == 0  # fmt: skip
        rows = json.loads(capsys.readouterr().out)["rows"]
        cfg = ExponentialDecayConfig(0.1, d, 0.96, staircase=staircase == "--staircase")
        seen = set()
        for r in rows:
            exact = _exact(cfg, r["step"])
            a = abs(mpmath.mpf(float(np.float32(r["learning_rate"]))) - exact)
            b = abs(mpmath.mpf(float(np.float32(r["keras"]))) - exact)
            want = "same" if a == b and r["keras"] == r["learning_rate"] else (
                "ours" if a < b else "keras" if b < a else "tie")  # fmt: skip
            assert r["nearer"] == want, r
            assert math.isclose(r["exact"], float(exact), rel_tol=1e-15)
            seen.add(want)
        if staircase == "--staircase":
            assert rows[2]["nearer"] == "ours"  # Keras is a stair early at d - 1
        assert "same" in seen
    assert main([*args, "--steps", f"{d - 1}", "--compare-keras"]) == 0
    out = capsys.readouterr().out
    row = next(x for x in out.splitlines() if x.split()[:1] == [str(d - 1)])
    assert "nearer" in out and row.split()[-2] in ("ours", "tie", "same")  # then eager


def test_compare_keras_names_a_missing_backend(tmp_path):
    """KERAS_BACKEND=torch without torch: the real cause, not "pip install keras"."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['torch'] = None\n")
    proc = _run("--compare-keras", "--steps", "0",
                extra_env={"PYTHONPATH": str(tmp_path), "KERAS_BACKEND": "torch"})  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "pip install keras" not in err
    assert "KERAS_BACKEND='torch'" in err and "torch" in err.split("(", 1)[1]


# -- issue 11 item 12: --config special files ----------------------------------------------


def _assert_refused(proc, needle: str) -> None:
    assert proc.returncode == 2 and proc.stdout == ""
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("jax-expdecay: error: "), err
    assert needle in err, err


def _run_quick(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [sys.executable, "-m", "jax_expdecay", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_config_fifo_without_writer_is_refused_at_once(tmp_path):
    fifo = tmp_path / "c.json"
    os.mkfifo(fifo)
    _assert_refused(_run_quick("--config", str(fifo)), "is a FIFO (named pipe)")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_config_dev_zero_is_refused():
    _assert_refused(_run_quick("--config", "/dev/zero"), "'/dev/zero' is a character device")


def test_config_directory_and_big_files_are_refused(tmp_path, capsys):
    assert main(["--config", str(tmp_path)]) == 2
    assert "is a directory; give a regular JSON file" in capsys.readouterr().err
    big = tmp_path / "big.json"
    body = json.dumps(SEED.to_dict())
    big.write_text(body + " " * (2**21 - len(body)))  # 2 MiB of valid JSON
    assert main(["--config", str(big)]) == 2
    err = capsys.readouterr().err
    assert "is over 1 MiB" in err and len(err.strip().splitlines()) == 1
    big.write_text(body + " " * (2**20 - len(body)))  # exactly 1 MiB: fine
    assert main(["--config", str(big), "--steps", "0", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "step,learning_rate\n0,0.1\n"
    big.write_text(body + " " * (2**20 + 1 - len(body)))
    assert main(["--config", str(big)]) == 2
    assert "is over 1 MiB" in capsys.readouterr().err


# -- issue 11 item 21: --plot formats, negative steps ---------------------------------------


@pytest.mark.parametrize(
    ("suffix", "magic"),
    [
        (".jpg", b"\xff\xd8\xff"),
        (".jpeg", b"\xff\xd8\xff"),
        (".svg", b"<?xml"),
        (".pdf", b"%PDF-"),
        (".PNG", b"\x89PNG\r\n\x1a\n"),
    ],
)
def test_plot_writes_the_format_its_suffix_names(suffix, magic, tmp_path, capsys):
    out = tmp_path / f"s{suffix}"
    assert main(["--plot", str(out), "--steps", "0,300000"]) == 0
    assert f"plot written to {out}" in capsys.readouterr().out
    data = out.read_bytes()
    assert data.startswith(magic), data[:16]
    if suffix == ".svg":
        assert b"<svg" in data


def test_plot_with_no_known_suffix_writes_nothing(tmp_path, capsys):
    for name in ("schedule", "schedule.xyz"):
        assert main(["--plot", str(tmp_path / name), "--steps", "0"]) == 2
        err = capsys.readouterr().err
        assert "suffix names its format" in err and ".png" in err and ".svg" in err
    assert list(tmp_path.iterdir()) == []


def test_negative_values_after_flags(capsys):
    """`--steps -5,0` is read as `--steps=-5,0` (argparse < 3.13 took it for a flag),
    and so are values like -1e-3."""
    assert main(["--steps", "-5,0", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["step"], r["learning_rate"]) for r in rows] == [("-5", "0.1"), ("0", "0.1")]
    assert main(["--steps=-5,0", "--format", "csv"]) == 0
    assert [r["step"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == ["-5", "0"]
    assert main(["--start", "-10", "--stop", "0", "--num", "3", "--format", "csv"]) == 0
    assert [r["step"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
        "-10", "-5", "0"]  # fmt: skip
    args = ["--initial-learning-rate", "-1e-3", "--decay-steps", "10", "--decay-rate", "0.5"]
    assert main([*args, "--steps", "10", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["initial_learning_rate"] == -1e-3
    assert data["rows"][0]["learning_rate"] == -5e-4


def test_value_options_list_matches_the_parser():
    """_VALUE_OPTIONS (for negative values) names every option that takes a value."""
    from jax_expdecay._cli import _VALUE_OPTIONS

    text = _help_text()
    taking = set(re.findall(r"\[(--[a-z-]+) [A-Z{]", text.split("options:")[0]))
    assert taking == set(_VALUE_OPTIONS)


# -- issue 17: --compare-keras shows what Keras applies in training ------------------------


def _keras_applied_rates(cfg: ExponentialDecayConfig, steps: list[int]) -> list[float]:
    """The rate Keras's SGD applies in ``train_on_batch`` at the update whose
    ``iterations`` is each step: with loss = the prediction of a zero-initialised bias-free
    ``Dense(1)`` on input 1, the gradient is 1, so the weight after one update is ``-lr``."""
    import keras

    sched = keras.optimizers.schedules.ExponentialDecay(
        cfg.initial_learning_rate, cfg.decay_steps, cfg.decay_rate, cfg.staircase
    )
    opt = keras.optimizers.SGD(learning_rate=sched)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=opt, loss=lambda y_true, y_pred: keras.ops.sum(y_pred))
    x, y = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)
    out = []
    for s in steps:
        model.layers[0].kernel.assign(np.zeros((1, 1), np.float32))
        opt.iterations.assign(s)
        model.train_on_batch(x, y)
        out.append(-float(np.asarray(model.layers[0].kernel)[0, 0]))
    return out


@pytest.mark.parametrize(
    ("cfg", "steps"),
    [
        (ExponentialDecayConfig(1.0, 41, 0.5, staircase=True), [0, 40, 41, 42, 81, 82, 83]),
        (ExponentialDecayConfig(0.1, 47, 0.9, staircase=False), [0, 46, 47, 48, 4700, 2**31 - 1]),
        (ExponentialDecayConfig(0.1, 2**24 + 1, 0.5, staircase=True), [2**24, 2**24 + 1]),
    ],
)
def test_compare_keras_is_what_keras_trains_with(cfg, steps, capsys):
    """The ``keras`` column is the rate Keras's ``train_on_batch`` applies (a stair late
    at 41 and 82 with ``decay_steps=41``: 1.0 and 0.5, where ours and Keras's eager
    value are 0.5 and 0.25); ``keras_eager`` is the schedule called on a Python int."""
    import keras

    args = ["--initial-learning-rate", repr(cfg.initial_learning_rate), "--decay-steps",
            str(cfg.decay_steps), "--decay-rate", repr(cfg.decay_rate),
            "--staircase" if cfg.staircase else "--no-staircase",
            "--steps", ",".join(map(str, steps)), "--compare-keras", "--format", "json"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    trained = _keras_applied_rates(cfg, steps)
    sched = keras.optimizers.schedules.ExponentialDecay(
        cfg.initial_learning_rate, cfg.decay_steps, cfg.decay_rate, cfg.staircase
    )
    for r, t, s in zip(rows, trained, steps, strict=True):
        assert np.float32(r["keras"]) == np.float32(t), (s, r, t)
        assert np.float32(r["keras_eager"]) == np.float32(float(sched(s))), (s, r)
    if cfg.decay_steps == 41:
        by_step = {r["step"]: r for r in rows}
        assert [by_step[s]["keras"] for s in (41, 82)] == [1.0, 0.5]  # a stair late
        if jax.default_backend() == "cpu":  # on an H200 Keras's eager value is late too
            assert [by_step[s]["keras_eager"] for s in (41, 82)] == [0.5, 0.25]
        assert [by_step[s]["learning_rate"] for s in (41, 82)] == [0.5, 0.25]
        assert by_step[41]["nearer"] == "ours"
