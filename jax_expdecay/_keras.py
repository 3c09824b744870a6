"""From Keras and back: what a Keras user has in hand becomes our schedule, and ours a Keras one.

One job: the front door for Keras. :func:`from_keras` reads a Keras ``ExponentialDecay``
object, a Keras optimizer (object, ``keras.optimizers.serialize`` dict or ``get_config()``
dict) whose learning rate is one, a saved model's ``config.json`` dict, or a ``.keras``
file; :func:`to_keras` builds ``keras.optimizers.schedules.ExponentialDecay`` from ours.

Policy
------
* Keras is never imported to *read*: objects are recognised through ``sys.modules``
  (a Keras object exists only if Keras is already imported), and files are parsed as data.
  :func:`to_keras` imports Keras (with ``KERAS_BACKEND`` defaulting to ``"jax"``).
* Only Keras's own ``ExponentialDecay`` converts. A constant learning rate, another
  schedule class (``CosineDecay``, a subclass of ``ExponentialDecay``, a callable) is
  refused with ``ValueError`` naming it. Nothing read from a dict or a file is imported,
  looked up or executed: class names are compared as strings.
* A ``.keras`` file is a zip archive. It must be a regular file (a directory, FIFO or
  device is refused before anything is read from it). Only the archive's central
  directory and ``config.json`` are read, at most ``_CONFIG_LIMIT`` bytes of it whatever
  its header declares (zipfile stops decompressing at the declared size, so a
  compression bomb cannot inflate past the limit); exactly one ``config.json`` entry.
* The step to resume from (``with_step=True``) is Keras's optimizer counter
  ``iterations``: the step Keras's schedule gets at the next update (0 before the first,
  as optax's ``count``). In a ``.keras`` file Keras stores it as the optimizer's first
  variable, ``optimizer/vars/0`` of ``model.weights.h5`` (``optimizer/inner_optimizer/
  vars/0`` under mixed precision's ``LossScaleOptimizer``, whose own counter stays 0).
  It is read with h5py (``ImportError`` naming h5py when it is not installed); only
  hard-linked groups and one contiguous scalar integer dataset are opened: external or
  soft links, external storage and virtual datasets are refused, so no other file is
  opened. An uncompressed weights entry (Keras writes them so) is read in place, without
  copying or decompressing the archive.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Mapping
from typing import Any, Literal, overload

from ._config import _KERAS_KEYS, ExponentialDecayConfig
from ._numbers import _describe, _describe_int
from ._schedule import ExponentialDecay
from ._serialization import deserialize

__all__ = ["from_keras", "to_keras"]

_CLASS_NAME = "ExponentialDecay"
_CONFIG = "config.json"
_WEIGHTS = "model.weights.h5"
_CONFIG_LIMIT = 64 * 2**20  # bytes; Keras's config.json of a 1000-layer model is ~1-2 MB
_MAX_NESTING = 8  # optimizer wrappers (LossScaleOptimizer) followed at most
_OPTIMIZER_KEYS = ("learning_rate", "inner_optimizer")

# The error reading a .keras archive can raise on a damaged or hostile file.
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    NotImplementedError,  # an unsupported compression method
    RuntimeError,  # an encrypted entry
    OverflowError,
    ValueError,
)


def _no_step(what: str) -> ValueError:
    return ValueError(
        f"from_keras(..., with_step=True): {what} carries no step counter; Keras keeps it "
        "in the optimizer's `iterations` variable: pass the optimizer object or the "
        "saved .keras file"
    )


def _text(value: Any, key: str, where: str) -> str:
    """A ``class_name``/``name`` read from the dict: a string (cut to 60 characters), or a
    ValueError naming it. Never ``str()`` of a non-string: a 5000-deep list raises
    RecursionError there, an int over 4300 digits CPython's digit-limit ValueError."""
    if not isinstance(value, str):
        shown = _describe_int(value) if type(value) is int else _describe(value)
        raise ValueError(f"from_keras: {where}'s {key} must be a string, got {shown}")
    return value[:60]


def _schedule_from_envelope(d: Mapping[str, Any], where: str) -> ExponentialDecay:
    """A schedule envelope or bare schedule config found at ``where``."""
    class_name = _text(d.get("class_name", _CLASS_NAME), "class_name", where)
    if class_name != _CLASS_NAME:
        cfg = d.get("config")
        if isinstance(cfg, Mapping) and not any(k in cfg for k in _KERAS_KEYS):
            # no schedule field at all: an optimizer config without a learning_rate
            raise ValueError(
                f"from_keras: {where} is {class_name!r} with no learning_rate in its "
                "config: neither an optimizer with a learning rate nor a schedule; "
                f"only a Keras {_CLASS_NAME!r} schedule (or an optimizer using one) converts"
            )
        raise ValueError(
            f"from_keras: {where} is a {class_name!r} schedule, not "
            f"{_CLASS_NAME!r}; only Keras's ExponentialDecay converts"
        )
    return deserialize(d)


def _from_learning_rate(lr: Any, owner: str) -> ExponentialDecay:
    """The value of an optimizer's ``learning_rate`` entry."""
    where = f"the learning rate of {owner}"
    if isinstance(lr, Mapping):
        return _schedule_from_envelope(lr, where)
    if isinstance(lr, int | float) and not isinstance(lr, bool):
        raise ValueError(
            f"from_keras: {where} is a constant, {_describe(lr)}, not an ExponentialDecay "
            "schedule: nothing to convert (pass the number to optax as learning_rate)"
        )
    raise ValueError(
        f"from_keras: {where} is {_describe(lr)}, not an ExponentialDecay schedule envelope"
    )


def _optimizer_parts(d: Mapping[str, Any], where: str) -> tuple[str, Mapping[str, Any]] | None:
    """(name, config) when ``d`` is an optimizer envelope or config, else None."""
    if "class_name" in d or "config" in d:
        cfg = d.get("config")
        if isinstance(cfg, Mapping) and any(k in cfg for k in _OPTIMIZER_KEYS):
            return _text(d.get("class_name"), "class_name", where), cfg
        return None
    if any(k in d for k in _OPTIMIZER_KEYS):
        name = d.get("name")
        return ("optimizer" if name is None else _text(name, "name", where)), d
    return None


def _from_dict(d: Mapping[str, Any], where: str) -> ExponentialDecay:
    bad = [k for k in d if not isinstance(k, str)]
    if bad:
        raise ValueError(f"from_keras: dict keys must be strings, got {_describe(bad[0])}")
    if "compile_config" in d:  # a saved model's config.json
        compile_config = d["compile_config"]
        if not compile_config or (
            isinstance(compile_config, Mapping) and compile_config.get("optimizer") is None
        ):
            raise ValueError(
                f"from_keras: {where} has no optimizer: the model was saved without compile()"
            )
        if not isinstance(compile_config, Mapping) or "optimizer" not in compile_config:
            raise ValueError(
                f"from_keras: {where}'s compile_config must be a dict with an 'optimizer', "
                f"got {_describe(compile_config)}"
            )
        optimizer = compile_config["optimizer"]
        if not isinstance(optimizer, Mapping):
            raise ValueError(
                f"from_keras: the optimizer in {where} must be a serialized optimizer dict, "
                f"got {_describe(optimizer)}"
            )
        d, where = optimizer, f"the optimizer in {where}"
    for _ in range(_MAX_NESTING):
        parts = _optimizer_parts(d, where)
        if parts is None:
            return _schedule_from_envelope(d, where)
        name, cfg = parts
        owner = f"optimizer {name!r}"
        if "inner_optimizer" in cfg:  # LossScaleOptimizer
            inner = cfg["inner_optimizer"]
            if not isinstance(inner, Mapping):
                raise ValueError(
                    f"from_keras: inner_optimizer of {owner} must be a dict, got {_describe(inner)}"
                )
            d, where = inner, f"the inner optimizer of {owner}"
            continue
        return _from_learning_rate(cfg["learning_rate"], owner)
    raise ValueError(f"from_keras: optimizers nested deeper than {_MAX_NESTING} levels")


# -- Keras objects (only if Keras is already imported) -----------------------------------


def _from_keras_object(x: Any, keras: Any, with_step: bool, where: str = "got") -> Any:
    schedules = keras.optimizers.schedules
    if isinstance(x, schedules.LearningRateSchedule):
        if type(x) is not schedules.ExponentialDecay:
            sub = (
                ", a subclass of Keras's ExponentialDecay (it may compute differently; "
                "if it does not, pass its get_config())"
                if isinstance(x, schedules.ExponentialDecay)
                else ""
            )
            raise ValueError(
                f"from_keras: {where} a Keras {type(x).__name__} schedule{sub}; only "
                f"Keras's {_CLASS_NAME} converts"
            )
        if with_step:
            raise _no_step("a schedule object")
        return deserialize(x.get_config())
    if not isinstance(x, keras.optimizers.Optimizer):
        raise TypeError(
            "from_keras() takes a Keras ExponentialDecay or optimizer, got a Keras "
            f"{type(x).__name__} object"
        )
    outer, inner = type(x).__name__, x
    for _ in range(_MAX_NESTING):  # LossScaleOptimizer wraps the optimizer that trains
        nested = getattr(inner, "inner_optimizer", None)
        if nested is None:
            break
        inner = nested
    owner = f"optimizer {type(inner).__name__!r}"
    if inner is not x:
        owner += f" (inside {outer})"
    lr = getattr(inner, "_learning_rate", None)
    if lr is None:  # not Keras 3's base optimizer: go through its public config
        sched = _from_learning_rate(inner.get_config().get("learning_rate"), owner)
    elif isinstance(lr, ExponentialDecay):  # ours, handed to Keras as a callable
        sched = lr
    elif isinstance(lr, schedules.LearningRateSchedule):
        sched = _from_keras_object(lr, keras, False, f"the learning rate of {owner} is")
    elif isinstance(lr, keras.Variable):
        value = float(keras.ops.convert_to_numpy(lr.value))
        raise ValueError(
            f"from_keras: the learning rate of {owner} is a constant, {value!r}, not an "
            "ExponentialDecay schedule: nothing to convert (pass the number to optax)"
        )
    else:
        raise ValueError(
            f"from_keras: the learning rate of {owner} is {_describe(lr)}, not an "
            "ExponentialDecay schedule"
        )
    if not with_step:
        return sched
    # The raw counter (not the `iterations` property, which divides by
    # gradient_accumulation_steps): the step Keras's schedule sees, and what a file stores.
    counter = getattr(inner, "_iterations", None)
    if counter is None:
        counter = inner.iterations
    return sched, int(keras.ops.convert_to_numpy(getattr(counter, "value", counter)))


# -- .keras files ----------------------------------------------------------------------


def _open_regular(path: str) -> io.BufferedReader:
    """Opens ``path`` for reading if it is a regular file; never blocks on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a directory (Keras's unzipped format: json.load its config.json and pass the dict)"
                if stat.S_ISDIR(mode)
                else "a FIFO"
                if stat.S_ISFIFO(mode)
                else "not a regular file"
            )
            raise ValueError(f"from_keras: {path!r} is {kind}, not a .keras file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _only_entry(zf: Any, name: str, path: str) -> Any:
    infos = [i for i in zf.infolist() if i.filename == name]
    if not infos:
        names = [i.filename[:60] for i in zf.infolist()[:10]]
        raise ValueError(
            f"from_keras: {path!r} has no {name} (a .keras archive holds config.json, "
            f"model.weights.h5 and metadata.json); its entries: {names}"
        )
    if len(infos) > 1:
        raise ValueError(f"from_keras: {path!r} has {len(infos)} entries named {name}")
    return infos[0]


def _read_config(zf: Any, path: str) -> Any:
    import json
    import zipfile
    import zlib

    info = _only_entry(zf, _CONFIG, path)
    if info.file_size > _CONFIG_LIMIT:
        raise ValueError(
            f"from_keras: {_CONFIG} in {path!r} is {info.file_size} bytes, over the "
            f"{_CONFIG_LIMIT}-byte limit"
        )
    try:
        with zf.open(info) as member:
            raw = member.read(_CONFIG_LIMIT + 1)
    except (*_ZIP_ERRORS, zipfile.BadZipFile, zlib.error, OSError) as e:
        raise ValueError(f"from_keras: cannot read {_CONFIG} from {path!r}: {e}") from None
    if len(raw) > _CONFIG_LIMIT:  # pragma: no cover - zipfile enforces the declared size
        raise ValueError(f"from_keras: {_CONFIG} in {path!r} is over {_CONFIG_LIMIT} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, a >4300-digit int
        raise ValueError(f"from_keras: {_CONFIG} in {path!r} is not valid JSON: {e}") from None


class _Window(io.RawIOBase):
    """Bytes ``[start, start + size)`` of a seekable binary file, as a file."""

    def __init__(self, fh: io.BufferedReader, start: int, size: int):
        super().__init__()
        self._fh, self._start, self._size, self._pos = fh, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        bases = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        if whence not in bases or bases[whence] + offset < 0:
            raise ValueError(f"invalid seek ({offset}, {whence})")
        self._pos = bases[whence] + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._fh.seek(self._start + self._pos)
        got = self._fh.readinto(memoryview(buffer).cast("B")[:n]) or 0
        self._pos += got
        return got


def _weights_file(zf: Any, fh: io.BufferedReader, info: Any, path: str) -> Any:
    """The weights entry as a seekable file, after checking its CRC-32 in one pass (h5py
    reads only a few blocks, and a damaged counter must not pass for a valid one): in
    place when stored, else zipfile's reader."""
    import struct
    import zipfile
    import zlib

    chunk = 2**20
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
        with zf.open(info) as member:  # zipfile checks the CRC when it reaches the end
            while member.read(chunk):
                pass
        return zf.open(info)  # seekable, but each backward seek re-reads from the start
    fh.seek(info.header_offset)
    header = fh.read(30)  # the local file header; the data follows its name and extra
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise ValueError(f"from_keras: {path!r}: bad local header for {_WEIGHTS}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if (
        info.compress_size != info.file_size
        or start + info.file_size > os.fstat(fh.fileno()).st_size
    ):
        raise ValueError(f"from_keras: {path!r}: {_WEIGHTS} is truncated")
    fh.seek(start)
    crc, left = 0, info.file_size
    while left:
        data = fh.read(min(left, chunk))
        if not data:
            raise ValueError(f"from_keras: {path!r}: {_WEIGHTS} is truncated")
        crc, left = zlib.crc32(data, crc), left - len(data)
    if crc != info.CRC:
        raise ValueError(f"from_keras: {path!r}: Bad CRC-32 for {_WEIGHTS} (a damaged file)")
    return _Window(fh, start, info.file_size)


def _read_step(zf: Any, fh: io.BufferedReader, path: str) -> int:
    import zipfile
    import zlib

    try:
        import h5py
    except ImportError:
        raise ImportError(
            "from_keras(..., with_step=True) reads the optimizer's step counter from "
            f"{_WEIGHTS} inside the .keras file and needs h5py: pip install h5py "
            "(without with_step, from_keras reads only config.json)"
        ) from None
    info = _only_entry(zf, _WEIGHTS, path)
    where = f"{_WEIGHTS} in {path!r}"

    def child(group: Any, name: str, label: str) -> Any:
        link = group.get(name, getlink=True)
        if link is None:
            raise ValueError(f"from_keras: {where} has no {label}")
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"from_keras: {where}: {label} is a {type(link).__name__}, refused")
        return group[name]

    try:
        source = _weights_file(zf, fh, info, path)
        with source, h5py.File(source, "r") as f:
            group = child(f, "optimizer", "optimizer state (was the model compiled?)")
            label = "optimizer"
            for _ in range(_MAX_NESTING):  # LossScaleOptimizer: the inner one counts
                if not isinstance(group, h5py.Group):
                    raise ValueError(f"from_keras: {where}: {label} is not a group")
                if group.get("inner_optimizer", getlink=True) is None:
                    break
                label += "/inner_optimizer"
                group = child(group, "inner_optimizer", label)
            variables = child(group, "vars", f"{label}/vars")
            if not isinstance(variables, h5py.Group):
                raise ValueError(f"from_keras: {where}: {label}/vars is not a group")
            ds = child(variables, "0", f"{label}/vars/0 (the iteration counter)")
            if isinstance(ds, h5py.Dataset) and (ds.is_virtual or ds.external):
                raise ValueError(
                    f"from_keras: {where}: {label}/vars/0 is stored outside the file "
                    "(a virtual or external dataset), refused"
                )
            if not isinstance(ds, h5py.Dataset) or ds.shape != () or ds.dtype.kind not in "iu":
                raise ValueError(
                    f"from_keras: {where}: {label}/vars/0 must be a scalar integer dataset "
                    f"(Keras's iteration counter), got {ds!r:.100}"
                )
            step = int(ds[()])
    except (*_ZIP_ERRORS, zipfile.BadZipFile, zlib.error, OSError, KeyError, TypeError) as e:
        if isinstance(e, ValueError) and str(e).startswith("from_keras:"):
            raise
        raise ValueError(f"from_keras: cannot read the step from {where}: {e}") from None
    if step < 0:
        raise ValueError(f"from_keras: {where}: the iteration counter is negative, {step}")
    return step


def _from_file(path: str, with_step: bool) -> Any:
    import zipfile

    with _open_regular(path) as fh:
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, *_ZIP_ERRORS) as e:
            raise ValueError(
                f"from_keras: {path!r} is not a .keras file (not a zip archive: {e})"
            ) from None
        with zf:
            data = _read_config(zf, path)
            if not isinstance(data, Mapping):
                raise ValueError(
                    f"from_keras: {_CONFIG} in {path!r} must hold a JSON object, got "
                    f"{_describe(data)}"
                )
            sched = _from_dict(data, f"{_CONFIG} in {path!r}")
            if not with_step:
                return sched
            return sched, _read_step(zf, fh, path)


# -- the public functions ----------------------------------------------------------------


@overload
def from_keras(x: Any, *, with_step: Literal[False] = False) -> ExponentialDecay: ...


@overload
def from_keras(x: Any, *, with_step: Literal[True]) -> tuple[ExponentialDecay, int]: ...


def from_keras(x: Any, *, with_step: bool = False) -> Any:
    """Our schedule from what a Keras user has: an object, a dict or a ``.keras`` file.

    Accepts a Keras 3 ``keras.optimizers.schedules.ExponentialDecay``; a Keras optimizer
    whose learning rate is one, as an object, a ``keras.optimizers.serialize(opt)`` dict
    or an ``opt.get_config()`` dict (``LossScaleOptimizer`` is unwrapped); a saved
    model's ``config.json`` as a dict; the schedule dicts :func:`deserialize` reads; and
    the path of a ``.keras`` file, of which only ``config.json`` is read (as JSON, at most
    64 MiB): Keras is not imported and nothing in the file is executed.

    With ``with_step=True`` it also returns the step to resume from: Keras's optimizer
    counter ``iterations`` (the number of updates so far, the step its schedule gets at
    the next one, as optax's ``count``), read from an optimizer object or from the
    file's ``model.weights.h5`` (with h5py).

    Args:
      x: the Keras object, dict, or ``.keras`` path (``str`` or ``os.PathLike``).
      with_step: also return the optimizer's step counter.

    Returns:
      An :class:`~jax_expdecay.ExponentialDecay`; with ``with_step=True`` a tuple
      ``(schedule, step)`` with ``step`` a Python int.

    Raises:
      TypeError: ``x`` is none of the above.
      ValueError: a constant learning rate or another schedule class (named); a file
        that is not a regular file, not a zip, without (or with a too large, or an
        invalid) ``config.json``; ``with_step=True`` for an input without a counter.
      ImportError: ``with_step=True`` on a file and h5py is not installed.
      OSError: the file cannot be opened.

    Examples:
      >>> from jax_expdecay import from_keras
      >>> adam = {"module": "keras.optimizers", "class_name": "Adam", "config": {
      ...     "name": "adam", "learning_rate": {
      ...         "module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
      ...         "config": {"initial_learning_rate": 0.1, "decay_steps": 41,
      ...                    "decay_rate": 0.5, "staircase": True, "name": "ExponentialDecay"},
      ...         "registered_name": None},
      ...     "beta_1": 0.9}, "registered_name": None}
      >>> sched = from_keras(adam)
      >>> [float(sched(s)) for s in (40, 41, 82)]
      [0.10000000149011612, 0.05000000074505806, 0.02500000037252903]
      >>> from_keras({"class_name": "SGD", "config": {"learning_rate": 0.01}})
      Traceback (most recent call last):
      ...
      ValueError: from_keras: the learning rate of optimizer 'SGD' is a constant, 0.01 (type float), not an ExponentialDecay schedule: nothing to convert (pass the number to optax as learning_rate)
    """
    if not isinstance(with_step, bool):
        raise TypeError(f"from_keras: with_step must be a bool, got {_describe(with_step)}")
    if isinstance(x, str | os.PathLike):
        path = os.fspath(x)
        if not isinstance(path, str):
            raise TypeError(f"from_keras: a path must be a str, got {_describe(path)}")
        return _from_file(path, with_step)
    if isinstance(x, Mapping):
        if with_step:
            raise _no_step("a dict")
        return _from_dict(x, "the dict")
    if isinstance(x, ExponentialDecay | ExponentialDecayConfig):
        raise TypeError(
            f"from_keras() takes a Keras object, dict or .keras path, got a jax_expdecay "
            f"{type(x).__name__} (already ours)"
        )
    keras = sys.modules.get("keras")
    if keras is not None and (
        isinstance(x, keras.optimizers.schedules.LearningRateSchedule)
        or isinstance(x, keras.optimizers.Optimizer)
        or type(x).__module__.split(".")[0] == "keras"
    ):
        return _from_keras_object(x, keras, with_step)
    raise TypeError(
        "from_keras() takes a Keras ExponentialDecay or optimizer (object or dict), a saved "
        f"model's config dict, or a .keras file path, got {_describe(x)}"
    )


def to_keras(schedule_or_config: ExponentialDecay | ExponentialDecayConfig) -> Any:
    """Our schedule as ``keras.optimizers.schedules.ExponentialDecay``, for Keras optimizers.

    Keras calls a learning-rate callable with no argument, so our schedule cannot be
    handed to a Keras optimizer directly; this converts it. Keras is imported here (with
    ``KERAS_BACKEND`` defaulting to ``"jax"`` when Keras is not imported yet). Keras
    evaluates the result its own way (float32, see the README's comparison).

    Args:
      schedule_or_config: an :class:`~jax_expdecay.ExponentialDecay` or its
        :class:`~jax_expdecay.ExponentialDecayConfig` (scalar, concrete values).

    Returns:
      A new ``keras.optimizers.schedules.ExponentialDecay`` with the same
      ``initial_learning_rate``, ``decay_steps``, ``decay_rate``, ``staircase`` and
      ``name``.

    Raises:
      TypeError: another type, or a config holding tracers or a batch.
      ValueError: a non-default ``transition_begin`` or ``end_value``, which Keras's
        ExponentialDecay cannot express.
      ImportError: Keras is not installed.

    Examples:
      >>> from jax_expdecay import exponential_decay, to_keras
      >>> k = to_keras(exponential_decay(0.1, 1000, 0.96, staircase=True))
      >>> type(k).__name__, k.get_config()["decay_steps"]
      ('ExponentialDecay', 1000)
      >>> to_keras(exponential_decay(0.1, 1000, 0.96, end_value=1e-4))
      Traceback (most recent call last):
      ...
      ValueError: to_keras: Keras's ExponentialDecay has no transition_begin or end_value, got end_value=0.0001; drop them (config.replace(transition_begin=0, end_value=None)) or keep this schedule in JAX
    """
    if isinstance(schedule_or_config, ExponentialDecay):
        cfg = schedule_or_config.config
    elif isinstance(schedule_or_config, ExponentialDecayConfig):
        cfg = schedule_or_config
    elif type(schedule_or_config).__name__ == "WarmupExponentialDecay":
        raise TypeError(
            "to_keras: Keras's ExponentialDecay has no warmup, so a WarmupExponentialDecay "
            "has no Keras equivalent; keep it in JAX, or convert its decay part "
            "(to_keras(schedule.decay)) and warm up in Keras yourself"
        )
    else:
        raise TypeError(
            "to_keras() takes an ExponentialDecay schedule or an ExponentialDecayConfig, "
            f"got {_describe(schedule_or_config)}"
        )
    full = cfg.to_dict()
    extra = [
        f"{k}={full[k]!r}"
        for k, default in (("transition_begin", 0), ("end_value", None))
        if full[k] != default
    ]
    if extra:
        raise ValueError(
            "to_keras: Keras's ExponentialDecay has no transition_begin or end_value, got "
            f"{', '.join(extra)}; drop them (config.replace(transition_begin=0, "
            "end_value=None)) or keep this schedule in JAX"
        )
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError:
        raise ImportError("to_keras needs keras: pip install keras") from None
    return keras.optimizers.schedules.ExponentialDecay(**{k: full[k] for k in _KERAS_KEYS})
