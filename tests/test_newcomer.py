"""What a Keras user types next (issue 17, items 6 and 7): the schedule's fields as
attributes, clear messages for a model or an empty batch, the CLI's Keras habits."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay, from_keras, stack
from jax_expdecay._cli import main

FIELDS = ("initial_learning_rate", "decay_steps", "decay_rate", "staircase",
          "transition_begin", "end_value", "name")  # fmt: skip


def test_schedule_fields_are_read_only_attributes():
    sched = exponential_decay(0.1, 1000, 0.96, staircase=True, transition_begin=5,
                              end_value=1e-4, name="lr")  # fmt: skip
    for f in FIELDS:
        assert getattr(sched, f) == getattr(sched.config, f), f
        with pytest.raises(
            AttributeError, match=f"property '{f}' of 'ExponentialDecay' object has no setter"
        ):
            setattr(sched, f, 1)
    assert sched.initial_learning_rate == 0.1 and sched.staircase is True
    batch = exponential_decay(stack([ExponentialDecayConfig(0.1, 10, r) for r in (0.5, 0.9)]))
    assert batch.decay_rate.shape == (2,) and batch[1].decay_rate == batch.config[1].decay_rate
    assert set(FIELDS) == {f for f in ExponentialDecayConfig.__dataclass_fields__}


# -- the CLI: Keras habits, saved models, --crossings all, --log ---------------------------

_REQ = ["--initial-learning-rate", "0.1", "--decay-steps", "10", "--decay-rate", "0.5"]


def _json(capsys, *args: str) -> dict:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_accepts_keras_underscore_names(capsys):
    keras_style = ["--initial_learning_rate", "0.1", "--decay_steps=10", "--decay_rate", "0.5",
                   "--steps", "0,10,25"]  # fmt: skip
    assert _json(capsys, *keras_style) == _json(capsys, *_REQ, "--steps", "0,10,25")


def test_cli_suggests_the_option_meant(capsys):
    assert main([*_REQ, "--frmat", "json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "jax-expdecay: error: unrecognized arguments: --frmat json (--frmat: did you mean --format?)"
    )
    assert main([*_REQ, "--bogus"]) == 2
    assert capsys.readouterr().err.strip().endswith("unrecognized arguments: --bogus")


def test_cli_log_range_refuses_a_negative_start(capsys):
    assert main([*_REQ, "--start", "-5", "--stop", "100", "--log"]) == 2
    err = capsys.readouterr().err
    assert "--log needs --start >= 0" in err and "got -5" in err and err.count("\n") == 1
    for start in ([], ["--start", "0"]):  # from 1, as --help says
        rows = _json(capsys, *_REQ, *start, "--stop", "100", "--num", "3", "--log")["rows"]
        assert [r["step"] for r in rows] == [1, 10, 100]


def test_cli_crossings_all_lists_all(capsys):
    args = ["--initial-learning-rate", "0.1", "--decay-steps", "100000", "--decay-rate", "0.96",
            "--staircase", "--steps", "0"]  # fmt: skip
    want = [c for c in _json(capsys, *args, "--crossings", "all")["crossings"]]
    assert len(want) > 12
    assert main([*args, "--crossings", "all"]) == 0
    out = capsys.readouterr().out
    assert "more" not in out
    listed = [line for line in out.splitlines() if line.strip().startswith("<")]
    assert len(listed) == len(want)
    assert all(f"at step {c['step']}" in line for c, line in zip(want, listed, strict=True))


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """An Adam model with Keras's ExponentialDecay(1.0, 41, 0.5, staircase) trained for 50
    updates and saved; its optimizer serialized to JSON both ways."""
    import warnings

    import jax
    import numpy as np

    keras = pytest.importorskip("keras")
    k = keras.optimizers.schedules.ExponentialDecay(1.0, 41, 0.5, staircase=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=k), loss="mse")
    x = np.linspace(-1, 1, 600, dtype=np.float32).reshape(200, 3)
    with jax.numpy_dtype_promotion("standard"), warnings.catch_warnings():
        # Keras 3.15 + numpy 2: Keras's own DeprecationWarning on save (third-party)
        warnings.simplefilter("ignore", DeprecationWarning)
        model.fit(x, x.sum(axis=1, keepdims=True), batch_size=4, verbose=0)  # 50 updates
        folder = tmp_path_factory.mktemp("k")
        model.save(folder / "model.keras")
    (folder / "serialized.json").write_text(json.dumps(keras.optimizers.serialize(model.optimizer)))
    (folder / "get_config.json").write_text(json.dumps(model.optimizer.get_config()))
    return folder


def test_cli_config_reads_a_keras_optimizer_json(keras_model, capsys):
    want = ExponentialDecayConfig(1.0, 41, 0.5, staircase=True).to_dict()
    for name in ("serialized.json", "get_config.json"):
        got = _json(capsys, "--config", str(keras_model / name), "--steps", "41")
        assert got["config"] == want and got["rows"][0]["learning_rate"] == 0.5


def test_cli_config_model_keras_shows_the_saved_step(keras_model, capsys):
    path = str(keras_model / "model.keras")
    assert from_keras(path, with_step=True)[1] == 50
    got = _json(capsys, "--config", path)
    assert got["saved_step"] == 50
    assert {"step": 50, "learning_rate": 0.5} in got["rows"]  # in the default table
    assert main(["--config", path]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        f"{path}: the optimizer has made 50 updates; the next uses the rate at step 50 "
        "(in the table), 0.5"
    )


def test_cli_model_keras_without_h5py_says_why(keras_model, tmp_path):
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['h5py'] = None\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "jax_expdecay", "--config", str(keras_model / "model.keras"),
         "--steps", "0"], capture_output=True, text=True, timeout=120, env=env,
        cwd=str(pathlib.Path(__file__).parent.parent),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the saved step is not shown" in proc.stdout.splitlines()[0]
    assert "h5py" in proc.stdout.splitlines()[0]


# -- from_keras on hostile or odd dicts ----------------------------------------------------


def _deep(n: int) -> list:
    x: list = []
    for _ in range(n):
        x = [x]
    return x


@pytest.mark.parametrize(
    ("d", "msg"),
    [
        ({"class_name": _deep(5000), "config": {}}, r"the dict's class_name must be a string, got \[\[\[\[\[\[\[\[\[\.\.\.\]\]\]\]\]\]\]\]\] \(type list\)"),
        ({"class_name": _deep(5000), "config": {"learning_rate": 0.1}}, r"class_name must be a string"),
        ({"name": _deep(5000), "learning_rate": 0.1}, r"the dict's name must be a string"),
        ({"class_name": 10**5000, "config": {}}, r"^from_keras: the dict's class_name must be a string, got an integer of 16610 bits$"),
        ({"class_name": "Adam", "config": {"inner_optimizer": {"class_name": "SGD", "config": {"momentum": 0.9}}}},
         r"^from_keras: the inner optimizer of optimizer 'Adam' is 'SGD' with no learning_rate in its config"),
        ({"class_name": "SGD", "config": {"momentum": 0.9}}, r"the dict is 'SGD' with no learning_rate"),
    ],
    ids=["deep_class_name", "deep_optimizer_class_name", "deep_name", "huge_int", "inner_sgd", "sgd"],
)  # fmt: skip
def test_from_keras_hostile_dicts_raise_value_error(d, msg):
    with pytest.raises(ValueError, match=msg):
        from_keras(d)


def test_cli_config_with_a_hostile_optimizer_json(tmp_path, capsys):
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"class_name": 10**40, "config": {"learning_rate": 0.1}}))
    assert main(["--config", str(path)]) == 2
    assert "class_name must be a string, got 10000000000" in capsys.readouterr().err


def test_float_step_rule_is_the_stated_one():
    """x64 off: a Python float step is accepted iff it is a whole number below 2**32 or a
    number float32 holds exactly; the error states that rule and float32's rounding."""
    import jax
    import numpy as np

    if jax.config.jax_enable_x64:  # pyright: ignore[reportAttributeAccessIssue]
        pytest.skip("the rule is for x64 off")
    sched = exponential_decay(1.0, 10, 0.5)
    rng = np.random.default_rng(0)
    candidates = [0.1, 1.5, 0.25, 1e6, 2.0**32 - 1, 3.0000001, 1 / 3, 7.75, 1e-3]
    candidates += list(rng.uniform(0, 100, 50)) + list(np.float32(rng.uniform(0, 100, 50)))
    for x in map(float, candidates):
        ok = (x == int(x) and x < 2**32) or float(np.float32(x)) == x
        if ok:
            assert np.isfinite(float(sched(x))), x
        else:
            with pytest.raises(ValueError) as info:
                sched(x)
            msg = str(info.value)
            assert f"step {x!r}" in msg and "a value float32 holds exactly" in msg
            assert f"float32 would round it to {float(np.float32(x))!r}" in msg
    assert float(sched(np.float32(0.1))) == float(sched(float(np.float32(0.1))))


@pytest.mark.parametrize("make", [lambda b: b, exponential_decay], ids=["config", "schedule"])
def test_empty_batch_selection_is_an_index_error(make):
    import numpy as np

    batch = make(stack([ExponentialDecayConfig(0.1, 10, r) for r in (0.5, 0.9, 0.99)]))
    what = type(batch).__name__
    for index in (slice(1, 1), np.zeros(3, bool), np.asarray([], int)):
        with pytest.raises(
            IndexError,
            match=rf"^{what}\[.*\]: the selection is empty, from a batch of shape \(3,\)",
        ):
            batch[index]
    assert batch[np.asarray([False, True, False])].batch_shape == (1,)
