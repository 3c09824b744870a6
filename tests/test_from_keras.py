"""``from_keras``/``to_keras``: Keras objects, dicts and ``.keras`` files in, Keras out.

Real Keras 3 (JAX backend) objects and real ``model.fit``/``model.save`` files are read;
schedules are compared by config and by value with the exact mpmath reference, and the
resume step with the number of optimizer updates Keras made. Hostile inputs are checked
to fail with ``ValueError``/``TypeError`` naming what is wrong, without importing,
executing or opening anything else (audit hooks and a patched ``__import__`` watch).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import random
import sys
import threading
import warnings
import zipfile

import h5py
import jax
import keras
import numpy as np
import pytest
from reference import exact_lr, ulp_error

import jax_expdecay
from jax_expdecay import (
    ExponentialDecayConfig,
    deserialize,
    exponential_decay,
    from_keras,
    stack,
    to_keras,
)
from jax_expdecay import _keras as keras_module
from jax_expdecay._cli import main

# Keras 3.15's model.save/load_model call np.array() on its Variables, whose __array__
# lacks numpy 2's `copy` keyword: a third-party DeprecationWarning, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

Schedules = keras.optimizers.schedules
CONFIGS = [  # (init, decay_steps, decay_rate, staircase)
    (0.1, 41, 0.5, True),
    (3e-4, 1000, 0.96, False),
    (2.5, 61, 1.05, True),
    (0.05, 100_000, 0.9999, False),
]


def _check_values(sched, init, d, rate, staircase):
    """Our values at stair edges are within 2 float32 ulp of the exact ones."""
    steps = [0, 1, d - 1, d, d + 1, 3 * d, 10 * d + 7, 2**31 - 1]
    got = np.asarray(sched(np.asarray(steps, np.int32)))
    for s, v in zip(steps, got, strict=True):
        assert ulp_error(v, exact_lr(init, d, rate, s, staircase), np.float32) <= 2, s


def _model(opt, n_in: int = 3):
    model = keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    return model


def _fit(model, batches: int, epochs: int = 1, batch_size: int = 4):
    x = np.linspace(-1, 1, batches * batch_size * 3, dtype=np.float32).reshape(-1, 3)
    y = x.sum(axis=1, keepdims=True)
    with jax.numpy_dtype_promotion("standard"):  # Keras's ops are not strict-promotion clean
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An Adam + ExponentialDecay model trained for 3 epochs of 5 batches and saved."""
    k = Schedules.ExponentialDecay(0.1, 41, 0.5, staircase=True)
    model = _model(keras.optimizers.Adam(learning_rate=k))
    _fit(model, batches=5, epochs=3)
    path = tmp_path_factory.mktemp("saved") / "m.keras"
    model.save(path)
    return path, model


# -- schedules and optimizers, every way Keras hands them out -----------------------------


@pytest.mark.parametrize("cfg", CONFIGS)
def test_keras_schedule_object(cfg):
    init, d, rate, staircase = cfg
    k = Schedules.ExponentialDecay(init, d, rate, staircase=staircase, name="lr")
    sched = from_keras(k)
    assert sched.config == ExponentialDecayConfig(init, d, rate, staircase, name="lr")
    _check_values(sched, *cfg)


@pytest.mark.parametrize("optimizer", ["Adam", "SGD", "AdamW"])
@pytest.mark.parametrize("form", ["object", "serialize", "get_config", "json"])
def test_keras_optimizer_every_form(optimizer, form):
    init, d, rate, staircase = CONFIGS[1]
    k = Schedules.ExponentialDecay(init, d, rate, staircase=staircase)
    opt = getattr(keras.optimizers, optimizer)(learning_rate=k)
    x = {
        "object": opt,
        "serialize": keras.optimizers.serialize(opt),
        "get_config": opt.get_config(),
        "json": json.loads(json.dumps(keras.optimizers.serialize(opt))),
    }[form]
    sched = from_keras(x)
    assert sched.config == exponential_decay(init, d, rate, staircase).config
    _check_values(sched, *CONFIGS[1])


def test_loss_scale_optimizer_is_unwrapped():
    k = Schedules.ExponentialDecay(0.1, 41, 0.5, staircase=True)
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=k))
    want = exponential_decay(0.1, 41, 0.5, staircase=True).config
    for x in (opt, keras.optimizers.serialize(opt), opt.get_config()):
        assert from_keras(x).config == want
    assert from_keras(opt, with_step=True)[1] == 0


def test_model_config_dict(saved):
    path, _ = saved
    with zipfile.ZipFile(path) as zf:
        data = json.loads(zf.read("config.json"))
    assert from_keras(data).config == exponential_decay(0.1, 41, 0.5, staircase=True).config


def test_our_schedule_inside_a_keras_optimizer_is_returned_as_is():
    ours = exponential_decay(0.1, 41, 0.5, staircase=True)
    opt = keras.optimizers.SGD(learning_rate=ours)
    assert from_keras(opt) is ours
    assert from_keras(opt, with_step=True) == (ours, 0)


# -- .keras files and the resume step -----------------------------------------------------


def test_saved_model_gives_schedule_and_step(saved):
    path, model = saved
    sched, step = from_keras(path, with_step=True)
    assert step == 15 == int(model.optimizer.iterations.value)  # 3 epochs x 5 updates
    assert from_keras(str(path)).config == sched.config
    assert sched.config == exponential_decay(0.1, 41, 0.5, staircase=True).config
    from_object, object_step = from_keras(model.optimizer, with_step=True)
    assert from_object.config == sched.config and object_step == 15
    # The rate Keras's next update uses (0.1 * 0.5**0, exact in float32) is ours there.
    exact = exact_lr(0.1, 41, 0.5, step, True)
    assert float(np.asarray(model.optimizer.learning_rate)) == float(np.float32(0.1))
    assert ulp_error(sched(step), exact, np.float32) <= 2


def test_resume_step_past_a_stair(tmp_path):
    """50 updates with decay_steps=41: Keras's own rate and ours agree after the stair."""
    k = Schedules.ExponentialDecay(0.1, 41, 0.5, staircase=True)
    model = _model(keras.optimizers.SGD(learning_rate=k))
    _fit(model, batches=25, epochs=2)
    model.save(tmp_path / "m.keras")
    sched, step = from_keras(tmp_path / "m.keras", with_step=True)
    assert step == 50
    assert ulp_error(sched(step), exact_lr(0.1, 41, 0.5, 50, True), np.float32) <= 2
    # Keras's rate for its next update is on stair 1: 0.1f * 0.5, an exact halving.
    assert float(np.asarray(model.optimizer.learning_rate)) == float(np.float32(0.1)) / 2


def test_mixed_precision_reads_the_inner_counter(tmp_path):
    """mixed_float16 wraps the optimizer in LossScaleOptimizer, whose own counter stays
    0; the file keeps the training optimizer's counter under inner_optimizer."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        k = Schedules.ExponentialDecay(0.1, 41, 0.5, staircase=True)
        model = _model(keras.optimizers.SGD(learning_rate=k))
        _fit(model, batches=6)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        model.save(tmp_path / "m.keras")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    sched, step = from_keras(tmp_path / "m.keras", with_step=True)
    # Updates with non-finite scaled gradients are skipped: the inner counter counts the
    # updates made, the step Keras's schedule sees.
    applied = int(model.optimizer.inner_optimizer.iterations.value)
    assert 1 <= applied <= 6 and int(model.optimizer.iterations.value) == applied
    assert step == applied == from_keras(model.optimizer, with_step=True)[1]
    assert sched.config.decay_steps == 41


def test_gradient_accumulation_counts_every_batch(tmp_path):
    """Keras's schedule sees the raw counter (every batch); file and object agree."""
    k = Schedules.ExponentialDecay(0.1, 41, 0.5, staircase=True)
    opt = keras.optimizers.SGD(learning_rate=k, gradient_accumulation_steps=2)
    model = _model(opt)
    _fit(model, batches=6)
    model.save(tmp_path / "m.keras")
    assert from_keras(tmp_path / "m.keras", with_step=True)[1] == 6
    assert from_keras(opt, with_step=True)[1] == 6
    assert int(np.asarray(opt.iterations)) == 3  # Keras's public property divides


def test_compressed_weights_entry_gives_the_same_step(saved, tmp_path):
    path, _ = saved
    out = tmp_path / "deflated.keras"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    with zipfile.ZipFile(out) as zf:
        assert zf.getinfo("model.weights.h5").compress_type == zipfile.ZIP_DEFLATED
    assert from_keras(out, with_step=True)[1] == 15


def test_window_reads_like_a_file(tmp_path):
    data = bytes(range(256)) * 40
    (tmp_path / "f").write_bytes(b"xx" + data + b"yy")
    with open(tmp_path / "f", "rb") as fh:
        w = keras_module._Window(fh, 2, len(data))
        assert w.read(5) == data[:5] and w.tell() == 5
        assert w.seek(-3, os.SEEK_END) == len(data) - 3 and w.read() == data[-3:]
        assert w.read(10) == b""
        w.seek(100)
        assert w.seek(7, os.SEEK_CUR) == 107 and w.read(3) == data[107:110]
        with pytest.raises(ValueError, match="invalid seek"):
            w.seek(-1)


# -- to_keras and the round trip through model.fit / save / load_model --------------------


@pytest.mark.parametrize("cfg", CONFIGS)
def test_to_keras_config(cfg):
    init, d, rate, staircase = cfg
    ours = exponential_decay(init, d, rate, staircase, name="mine")
    k = to_keras(ours)
    assert type(k) is Schedules.ExponentialDecay
    assert k.get_config() == {
        "initial_learning_rate": init,
        "decay_steps": d,
        "decay_rate": rate,
        "staircase": staircase,
        "name": "mine",
    }
    assert to_keras(ours.config).get_config() == k.get_config()
    assert from_keras(k).config == ours.config
    # Keras computes in float32: on the right stair it is within 1e-6 of exact here.
    for s in (0, d - 1, d, 5 * d + 3) if jax.default_backend() == "cpu" else ():
        assert float(abs(float(k(s)) / exact_lr(init, d, rate, s, staircase) - 1)) < 1e-6


def test_round_trip_through_fit_save_and_load_model(tmp_path):
    ours = exponential_decay(0.1, 47, 0.9, staircase=True, name="ours")
    k = to_keras(ours)
    model = _model(keras.optimizers.SGD(learning_rate=k, momentum=0.5))
    _fit(model, batches=12)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    lr = loaded.optimizer._learning_rate
    assert type(lr) is Schedules.ExponentialDecay and lr.get_config() == k.get_config()
    assert from_keras(loaded.optimizer).config == ours.config
    from_file, step = from_keras(tmp_path / "m.keras", with_step=True)
    assert from_file.config == ours.config and step == 12
    assert int(loaded.optimizer.iterations.value) == 12


def test_our_schedule_in_keras_fails_early_naming_to_keras():
    ours = exponential_decay(0.1, 41, 0.5)
    with pytest.raises(TypeError, match=r"to_keras\(schedule\)"):
        ours()
    model = _model(keras.optimizers.SGD(learning_rate=ours))
    with pytest.raises(TypeError, match=r"without a step.*jax_expdecay\.to_keras"):
        _fit(model, batches=1)
    assert ulp_error(ours(41), exact_lr(0.1, 41, 0.5, 41), np.float32) <= 2  # still usable


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"transition_begin": 10}, "transition_begin=10"),
        ({"end_value": 1e-4}, "end_value=0.0001"),
        ({"transition_begin": 5, "end_value": 1e-4}, "transition_begin=5, end_value=0.0001"),
    ],
)
def test_to_keras_refuses_our_extensions(kwargs, named):
    sched = exponential_decay(0.1, 1000, 0.96, **kwargs)
    for x in (sched, sched.config):
        with pytest.raises(ValueError, match=f"no transition_begin or end_value, got {named};"):
            to_keras(x)


@pytest.mark.parametrize(
    "value", [{"initial_learning_rate": 0.1}, 0.1, Schedules.ExponentialDecay(0.1, 1, 0.5)]
)
def test_to_keras_refuses_other_types(value):
    with pytest.raises(TypeError, match="to_keras\\(\\) takes an ExponentialDecay schedule"):
        to_keras(value)


def test_to_keras_refuses_a_batch():
    batch = stack([ExponentialDecayConfig(0.1, 10, 0.5), ExponentialDecayConfig(0.2, 10, 0.5)])
    with pytest.raises(TypeError):
        to_keras(batch)


# -- refusals: what is not an ExponentialDecay says what it is ----------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: keras.optimizers.SGD(0.01), r"optimizer 'SGD' is a constant, 0\.0099999"),
        (
            lambda: {"class_name": "SGD", "config": {"learning_rate": 0.01}},
            r"'SGD' is a constant, 0\.01 ",
        ),
        (lambda: keras.optimizers.serialize(keras.optimizers.Adam(1e-3)), r"'Adam' is a constant"),
        (lambda: keras.optimizers.Adam(1e-3).get_config(), r"'adam(_\d+)?' is a constant"),
        (lambda: Schedules.CosineDecay(0.1, 100), r"got a Keras CosineDecay schedule"),
        (
            lambda: keras.optimizers.SGD(Schedules.CosineDecay(0.1, 100)),
            r"learning rate of optimizer 'SGD' is a Keras CosineDecay schedule",
        ),
        (
            lambda: keras.optimizers.serialize(
                keras.optimizers.SGD(Schedules.PiecewiseConstantDecay([10], [0.1, 0.01]))
            ),
            r"learning rate of optimizer 'SGD' is a 'PiecewiseConstantDecay' schedule",
        ),
        (
            lambda: Schedules.serialize(Schedules.InverseTimeDecay(0.1, 10, 0.5)),
            r"'InverseTimeDecay' schedule",
        ),
        (lambda: keras.optimizers.SGD(lambda: 0.1), r"is <function <lambda>"),
        (
            lambda: {"class_name": "SGD", "config": {"learning_rate": "0.1"}},
            r"is '0\.1' \(type str\)",
        ),
    ],
)
def test_refuses_what_is_not_an_exponential_decay(make, match):
    with pytest.raises(ValueError, match=match):
        from_keras(make())


def test_refuses_a_subclass_of_keras_exponential_decay():
    class MyDecay(Schedules.ExponentialDecay):
        pass

    with pytest.raises(
        ValueError, match="MyDecay schedule, a subclass of Keras's ExponentialDecay"
    ):
        from_keras(MyDecay(0.1, 10, 0.5))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (3, r"got 3 \(type int\)"),
        ([1, 2], r"got \[1, 2\] \(type list\)"),
        (exponential_decay(0.1, 10, 0.5), "got a jax_expdecay ExponentialDecay"),
        (ExponentialDecayConfig(0.1, 10, 0.5), "got a jax_expdecay ExponentialDecayConfig"),
        (keras.layers.Dense(1), "got a Keras Dense object"),
        (b"m.keras", r"got b'm\.keras' \(type bytes\)"),
    ],
)
def test_refuses_other_types(value, match):
    with pytest.raises(TypeError, match=match):
        from_keras(value)


def test_with_step_needs_a_counter():
    k = Schedules.ExponentialDecay(0.1, 10, 0.5)
    for x in (k, Schedules.serialize(k), keras.optimizers.serialize(keras.optimizers.SGD(k))):
        with pytest.raises(ValueError, match=r"carries no step counter.*optimizer object or"):
            from_keras(x, with_step=True)
    with pytest.raises(TypeError, match=r"with_step must be a bool, got 1 \(type int\)"):
        from_keras(k, with_step=1)  # pyright: ignore[reportArgumentType]


def test_uncompiled_model_has_no_optimizer(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="has no optimizer: the model was saved without compile"):
        from_keras(tmp_path / "m.keras")


# -- deserialize points to from_keras ------------------------------------------------------


def test_deserialize_says_where_to_look(saved):
    path, _ = saved
    k = Schedules.ExponentialDecay(0.1, 10, 0.5)
    opt = keras.optimizers.Adam(learning_rate=k)
    cases = [
        (
            keras.optimizers.serialize(opt),
            ValueError,
            r"optimizer's config \('Adam'\).*\['config'\]\['learning_rate'\]",
        ),
        (
            opt.get_config(),
            ValueError,
            r"optimizer's config \('adam(_\d+)?'\).*at \['learning_rate'\]",
        ),
        (
            json.loads(zipfile.ZipFile(path).read("config.json")),
            ValueError,
            r"model's config.*\['compile_config'\]",
        ),
        (k, TypeError, "got a Keras ExponentialDecay object; jax_expdecay.from_keras"),
        (opt, TypeError, "got a Keras Adam object"),
        (str(path), TypeError, r"from_keras\(path\) reads \.keras files"),
    ]
    for value, exc, match in cases:
        with pytest.raises(exc, match=match) as info:
            deserialize(value)
        assert "from_keras" in str(info.value)
    assert deserialize(Schedules.serialize(k)).config == from_keras(k).config


# -- files that are not what they say -------------------------------------------------------


def _zip(path, entries: dict[str, bytes | str], method=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name" (on purpose)
        with zipfile.ZipFile(path, "w", method) as zf:
            for name, data in entries.items():
                for part in name.split("|"):  # "a|a": the same name twice
                    zf.writestr(part, data)
    return path


def _config_of(saved) -> bytes:
    with zipfile.ZipFile(saved[0]) as zf:
        return zf.read("config.json")


def test_file_refusals(tmp_path, saved):
    good = _config_of(saved)
    cases = [
        (tmp_path / "text.keras", None, r"is not a \.keras file \(not a zip archive"),
        (
            _zip(tmp_path / "empty.keras", {"metadata.json": "{}"}),
            None,
            r"has no config\.json.*\['metadata\.json'\]",
        ),
        (
            _zip(tmp_path / "dup.keras", {"config.json|config.json": good}),
            None,
            "has 2 entries named config.json",
        ),
        (
            _zip(tmp_path / "bad.keras", {"config.json": b"{\xff"}),
            None,
            "config.json in .* is not valid JSON",
        ),
        (_zip(tmp_path / "trunc.keras", {"config.json": good[:-5]}), None, "is not valid JSON"),
        (
            _zip(tmp_path / "list.keras", {"config.json": "[1, 2]"}),
            None,
            r"must hold a JSON object, got \[1, 2\]",
        ),
        (_zip(tmp_path / "deep.keras", {"config.json": "[" * 100_000}), None, "is not valid JSON"),
        (_zip(tmp_path / "bigint.keras", {"config.json": "1" * 5000}), None, "is not valid JSON"),
        (
            _zip(tmp_path / "nocompile.keras", {"config.json": '{"compile_config": null}'}),
            None,
            "saved without compile",
        ),
    ]
    (tmp_path / "text.keras").write_text(json.dumps({"initial_learning_rate": 0.1}))
    for path, _, match in cases:
        with pytest.raises(ValueError, match=match):
            from_keras(path)
    with pytest.raises(FileNotFoundError):
        from_keras(tmp_path / "missing.keras")


def test_directory_is_refused(tmp_path, saved):
    d = tmp_path / "dir.keras"
    d.mkdir()
    (d / "config.json").write_bytes(_config_of(saved))
    with pytest.raises(ValueError, match=r"is a directory \(Keras's unzipped format"):
        from_keras(d)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def run():
        try:
            from_keras(fifo)
        except BaseException as e:  # recorded, checked below
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "from_keras blocked on a FIFO"
    assert isinstance(result[0], ValueError) and "is a FIFO" in str(result[0])


def test_config_size_limit(tmp_path, saved, monkeypatch):
    """Declared over the limit: refused before reading; a deflate bomb whose header
    declares a small size inflates only to that size (then fails its CRC)."""
    big = _zip(
        tmp_path / "big.keras", {"config.json": b" " * (64 * 2**20 + 1)}, zipfile.ZIP_DEFLATED
    )
    assert os.path.getsize(big) < 2**20  # the compressed archive is small
    with pytest.raises(
        ValueError, match=r"config\.json in .* is 67108865 bytes, over the 67108864-byte limit"
    ):
        from_keras(big)
    monkeypatch.setattr(keras_module, "_CONFIG_LIMIT", 100)
    with pytest.raises(ValueError, match="over the 100-byte limit"):
        from_keras(saved[0])
    monkeypatch.undo()
    # Bomb: 8 MiB of spaces after valid JSON, declared as the JSON's length.
    good = _config_of(saved)
    bomb = tmp_path / "bomb.keras"
    _zip(bomb, {"config.json": good + b" " * 2**23}, zipfile.ZIP_DEFLATED)
    data = bytearray(bomb.read_bytes())
    with zipfile.ZipFile(bomb) as zf:
        info = zf.getinfo("config.json")
    real = (len(good) + 2**23).to_bytes(4, "little")
    lie = len(good).to_bytes(4, "little")
    assert data.count(real) == 2  # the local header and the central directory
    bomb.write_bytes(bytes(data).replace(real, lie))
    with pytest.raises(ValueError, match=r"Bad CRC-32 for file 'config\.json'"):
        from_keras(bomb)
    assert info.file_size == len(good) + 2**23


def _with_weights(tmp_path, saved, edit) -> str:
    """A copy of the saved model whose model.weights.h5 is rewritten by ``edit(h5file)``."""
    src = saved[0]
    h5 = tmp_path / "w.h5"
    with zipfile.ZipFile(src) as zf:
        h5.write_bytes(zf.read("model.weights.h5"))
        entries = {
            i.filename: zf.read(i) for i in zf.infolist() if i.filename != "model.weights.h5"
        }
    with h5py.File(h5, "a") as f:
        edit(f)
    entries["model.weights.h5"] = h5.read_bytes()
    return str(_zip(tmp_path / "edited.keras", entries))


def _replace(name, make):
    def edit(f):
        del f[name]
        make(f, name)

    return edit


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda f: f.__delitem__("optimizer"), "has no optimizer state"),
        (
            _replace("optimizer/vars/0", lambda f, n: f.create_dataset(n, data=[1, 2])),
            "must be a scalar integer dataset",
        ),
        (
            _replace("optimizer/vars/0", lambda f, n: f.create_dataset(n, data=1.5)),
            "must be a scalar integer dataset",
        ),
        (
            _replace("optimizer/vars/0", lambda f, n: f.create_dataset(n, data=np.int64(-3))),
            "counter is negative, -3",
        ),
        (
            _replace(
                "optimizer/vars/0",
                lambda f, n: f.__setitem__(n, h5py.SoftLink("/optimizer/vars/1")),
            ),
            "is a SoftLink, refused",
        ),
        (
            _replace(
                "optimizer/vars/0",
                lambda f, n: f.__setitem__(n, h5py.ExternalLink("/etc/passwd", "/x")),
            ),
            "is a ExternalLink, refused",
        ),
        (
            _replace("optimizer", lambda f, n: f.create_dataset(n, data=1)),
            "optimizer is not a group",
        ),
    ],
)
def test_weights_refusals(tmp_path, saved, edit, match):
    with pytest.raises(ValueError, match=match):
        from_keras(_with_weights(tmp_path, saved, edit), with_step=True)


def test_weights_external_storage_is_refused(tmp_path, saved):
    def edit(f):
        del f["optimizer/vars/0"]
        (tmp_path / "raw.bin").write_bytes(np.int32(7).tobytes())
        f.create_dataset(
            "optimizer/vars/0",
            shape=(1,),
            dtype="<i4",
            external=[(str(tmp_path / "raw.bin"), 0, 4)],
        )

    with pytest.raises(ValueError, match="is stored outside the file"):
        from_keras(_with_weights(tmp_path, saved, edit), with_step=True)


def test_missing_weights_and_missing_h5py(tmp_path, saved, monkeypatch):
    only_config = _zip(tmp_path / "c.keras", {"config.json": _config_of(saved)})
    assert from_keras(only_config).config.decay_steps == 41
    with pytest.raises(ValueError, match=r"has no model\.weights\.h5"):
        from_keras(only_config, with_step=True)
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed
    with pytest.raises(ImportError, match=r"needs h5py: pip install h5py \(without with_step"):
        from_keras(saved[0], with_step=True)
    assert from_keras(saved[0]).config.decay_steps == 41


# -- nothing read is imported, executed or opened -------------------------------------------

_events: list[tuple[str, tuple]] | None = None


def _audit(event: str, args: tuple) -> None:
    if _events is not None and event in ("import", "exec", "compile", "open", "os.system",
                                         "subprocess.Popen", "os.exec", "os.posix_spawn"):  # fmt: skip
        _events.append((event, args))


sys.addaudithook(_audit)  # hooks cannot be removed; it records only while _events is a list


@contextlib.contextmanager
def _watch(monkeypatch):
    global _events
    imported: list[str] = []
    real_import = builtins.__import__

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", spy)
    _events = []
    try:
        yield imported, _events
    finally:
        _events = None
        monkeypatch.setattr(builtins, "__import__", real_import)


HOSTILE_SCHEDULES = [
    {"module": "os", "class_name": "system", "config": {"command": "touch pwned"}, "registered_name": "os>system"},
    {"module": "builtins", "class_name": "eval", "config": "__import__('os').system('x')", "registered_name": None},
    {"module": "os", "class_name": "ExponentialDecay", "registered_name": None,
     "config": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5}},
    {"class_name": "ExponentialDecay", "registered_name": "subprocess>Popen",
     "config": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5}},
    {"class_name": "__lambda__", "config": {"code": "YQ==", "defaults": None, "closure": None}},
    {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": {"class_name": "os.system"},
                                                  "decay_steps": 1, "decay_rate": 0.5}},
]  # fmt: skip


@pytest.mark.parametrize("lr", HOSTILE_SCHEDULES)
def test_hostile_config_json_imports_and_runs_nothing(tmp_path, saved, monkeypatch, lr):
    model_config = json.loads(_config_of(saved))
    model_config["compile_config"]["optimizer"]["module"] = "os"
    model_config["compile_config"]["optimizer"]["class_name"] = "system"
    model_config["compile_config"]["optimizer"]["config"]["learning_rate"] = lr
    path = str(_zip(tmp_path / "hostile.keras", {"config.json": json.dumps(model_config)}))
    from_keras(saved[0])  # warm up the lazily imported stdlib modules
    errors = []
    with _watch(monkeypatch) as (imported, events):
        for call, arg in ((from_keras, path), (from_keras, model_config), (deserialize, lr)):
            try:
                call(arg)
            except (ValueError, TypeError) as e:
                errors.append(str(e))
    assert len(errors) == 3
    # No name from the payload reaches __import__ (only our lazy stdlib imports do), and
    # no module is newly loaded (no "import" audit event).
    payload = {"os", "os.system", "system", "builtins", "eval", "subprocess", "Popen"}
    assert not payload & set(imported), imported
    assert [e for e, _ in events if e != "open"] == []
    opened = [a[0] for e, a in events if e == "open"]
    assert [p for p in opened if not isinstance(p, int)] == [path]  # the archive only
    assert len(opened) == 2  # and os.fdopen of its descriptor
    assert not os.path.exists("pwned")


# -- fuzzing: damaged archives fail with ValueError, never anything else ------------------


def test_fuzzed_archives(tmp_path, saved):
    data = saved[0].read_bytes()
    want = from_keras(saved[0], with_step=True)
    rng = random.Random(20261125)
    outcomes = {"same": 0, "refused": 0}
    for i in range(300):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if i % 5 == 0:
            b = b[: rng.randrange(len(b))]
        path = tmp_path / f"f{i % 10}.keras"
        path.write_bytes(bytes(b))
        try:
            got = from_keras(path, with_step=True)
        except ValueError:
            outcomes["refused"] += 1
            continue
        # Both entries are CRC-checked: only a change in bytes no check covers (zip
        # timestamps, padding) may pass, and then the answer is unchanged.
        assert got[0].config == want[0].config and got[1] == want[1]
        outcomes["same"] += 1
    assert outcomes["refused"] > 250, outcomes


# -- the CLI's --config reads a .keras file --------------------------------------------------


def test_cli_reads_a_keras_file(saved, capsys):
    assert main(["--config", str(saved[0]), "--steps", "0,40,41,82", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == exponential_decay(0.1, 41, 0.5, staircase=True).config.to_dict()
    for row in out["rows"]:
        exact = exact_lr(0.1, 41, 0.5, row["step"], True)
        assert ulp_error(row["learning_rate"], exact, np.float32) <= 2, row
    assert [r["step"] for r in out["rows"]] == [0, 40, 41, 82]
    # Flags still override the file's fields.
    assert (
        main(
            ["--config", str(saved[0]), "--decay-rate", "0.25", "--steps", "41", "--format", "csv"]
        )
        == 0
    )
    step, value = capsys.readouterr().out.splitlines()[1].split(",")
    assert (
        step == "41" and ulp_error(float(value), exact_lr(0.1, 41, 0.25, 41, True), np.float32) <= 2
    )


def test_cli_keras_file_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "x.keras").write_text("{}")
    for path, match in [
        (tmp_path / "x.keras", r"x\.keras' is not a \.keras file \(not a zip archive"),
        (tmp_path / "missing.KERAS", r"cannot read --config '.*missing\.KERAS': No such file"),
    ]:
        assert main(["--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("jax-expdecay: error: ")
        assert __import__("re").search(match, err), err


def test_public_names():
    assert jax_expdecay.from_keras is from_keras and jax_expdecay.to_keras is to_keras
    assert {"from_keras", "to_keras"} <= set(jax_expdecay.__all__)


def test_cli_keras_file_in_a_subprocess(saved, tmp_path):
    """The entry point as a user runs it: exit 0 with the file's schedule; a broken
    .keras file exits 2 with one line and no traceback."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    cmd = [sys.executable, "-m", "jax_expdecay", "--config"]
    ok = subprocess.run(
        [*cmd, str(saved[0]), "--steps", "41", "--format", "csv"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    step, value = ok.stdout.splitlines()[1].split(",")
    assert (
        step == "41" and ulp_error(float(value), exact_lr(0.1, 41, 0.5, 41, True), np.float32) <= 2
    )
    (tmp_path / "broken.keras").write_bytes(saved[0].read_bytes()[:-100])
    bad = subprocess.run(
        [*cmd, str(tmp_path / "broken.keras")], capture_output=True, text=True, timeout=120, env=env
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.startswith("jax-expdecay: error: from_keras: ") and bad.stderr.count("\n") == 1
    )
