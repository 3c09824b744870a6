"""Hostile dicts: refused with a clear error, and nothing is ever imported or executed.

Policy: ``TypeError`` when a value has the wrong type (a string, list or dict where a
number belongs; a payload that is not a dict); ``ValueError`` for everything else
(unknown or missing keys, a class or module other than ours, out-of-range values).
Nothing read from a dict is imported, evaluated or looked up by name.

Loaders under test: ``ExponentialDecayConfig.from_dict`` always, and
``jax_expdecay.deserialize`` (envelopes) when the package has it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import sys

import pytest

import jax_expdecay
from jax_expdecay import ExponentialDecayConfig

OK = {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.96}
CODE = "__import__('os').system('echo pwned')"


def _deep(depth: int, leaf, kind: str):
    x = leaf
    for _ in range(depth):
        x = [x] if kind == "list" else {"a": x}
    return x


def _env(class_name="ExponentialDecay", config=None, **extra):
    return {"class_name": class_name, "config": dict(OK) if config is None else config, **extra}


# (id, payload, expected exception) -- for every loader.
HOSTILE = [
    # class names and module paths pointing elsewhere
    ("class_os_system", _env("os.system"), ValueError),
    ("class_subprocess", _env("subprocess.Popen", {"args": ["ls"]}), ValueError),
    ("class_builtins_eval", _env("builtins.eval", CODE), ValueError),
    ("class_eval_module_builtins", _env("eval", CODE, module="builtins"), ValueError),
    ("class_keras_lambda", _env("Lambda", {"function": CODE}, module="keras.layers"), ValueError),
    ("class_main", _env("__main__.ExponentialDecay"), ValueError),
    ("module_main", _env(module="__main__"), ValueError),
    ("module_os", _env(module="os"), ValueError),
    ("module_os_keras3", _env(module="os", registered_name=None), ValueError),
    ("registered_name_os", _env(registered_name="os>system"), ValueError),
    ("registered_name_builtins", _env(registered_name="builtins.eval"), ValueError),
    ("class_name_dunder", _env("__class__"), ValueError),
    ("class_name_not_str", _env(["ExponentialDecay"]), (ValueError, TypeError)),
    ("nested_envelope", _env(config=_env("os.system", {})), ValueError),
    # dunder-style keys next to a valid config
    ("key_reduce", {**OK, "__reduce__": ["os.system", ["echo"]]}, ValueError),
    ("key_class", {**OK, "__class__": "os.system"}, ValueError),
    ("key_init", {**OK, "__init__": {"__globals__": "os"}}, ValueError),
    ("key_module", {**OK, "module": "os"}, ValueError),
    ("key_py_object", {**OK, "py/object": "os.system"}, ValueError),
    # strings of code where numbers belong
    ("code_init", {**OK, "initial_learning_rate": CODE}, TypeError),
    ("code_steps", {**OK, "decay_steps": "lambda: 1"}, TypeError),
    ("code_staircase", {**OK, "staircase": "True or __import__('os')"}, TypeError),
    ("dict_value", {**OK, "decay_rate": {"class_name": "os.system"}}, TypeError),
    # not a dict at all
    ("payload_str", CODE, TypeError),
    ("payload_bytes", b"\x80\x04cos\nsystem\n", TypeError),
    ("payload_list", [OK], TypeError),
    ("payload_none", None, TypeError),
    # deep and enormous payloads
    ("deep_dict_10000", _deep(10_000, 0.1, "dict"), ValueError),
    ("deep_list_value_10000", {**OK, "initial_learning_rate": _deep(10_000, 0.1, "list")}, TypeError),
    ("deep_dict_name_10000", {**OK, "name": _deep(10_000, "x", "dict")}, TypeError),
    ("million_keys", {**OK, **{f"k{i}": i for i in range(1_000_000)}}, ValueError),
    ("long_key", {**OK, "x" * 10**7: 1}, ValueError),
    ("long_string_value", {**OK, "decay_rate": "9" * 10**7}, TypeError),
    ("huge_int_value", {**OK, "decay_steps": 10**4000}, ValueError),
]  # fmt: skip


def _loaders():
    out = [pytest.param(ExponentialDecayConfig.from_dict, id="from_dict")]
    deserialize = getattr(jax_expdecay, "deserialize", None)
    out.append(
        pytest.param(
            deserialize,
            id="deserialize",
            marks=pytest.mark.skipif(
                deserialize is None, reason="jax_expdecay.deserialize not available yet"
            ),
        )
    )
    return out


LOADERS = _loaders()


_ALLOWED_TOP = frozenset({"numpy", "jax", "jaxlib", "ml_dtypes", "jax_expdecay"})


@contextlib.contextmanager
def no_imports():
    """While active, ``importlib.import_module`` always fails loudly, and so does any
    ``import`` except re-imports of already loaded numpy/JAX modules (numpy's C code
    lazily re-imports ``numpy._core._methods``, which runs no code) and of our own
    already loaded modules. ``os``, ``subprocess``, ``builtins``, ``keras``, ``__main__``
    are refused even though they are loaded. Checks on exit that nothing was refused
    and that ``sys.modules`` did not change."""
    calls: list[str] = []
    before = set(sys.modules)
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            package = (globals or {}).get("__package__") or ""
            absolute = importlib.util.resolve_name("." * level + name, package)
        else:
            absolute = name
        if absolute.split(".")[0] in _ALLOWED_TOP and absolute in sys.modules:
            return real_import(name, globals, locals, fromlist, level)
        calls.append(absolute)
        raise AssertionError(f"import of {absolute!r} during deserialization")

    def guarded_import_module(name, *args, **kwargs):
        calls.append(name)
        raise AssertionError(f"importlib.import_module({name!r}) during deserialization")

    builtins.__import__ = guarded_import
    importlib.import_module = guarded_import_module
    try:
        yield calls
    finally:
        builtins.__import__, importlib.import_module = real_import, real_import_module
    assert calls == [], calls
    assert set(sys.modules) == before, sorted(set(sys.modules) - before)


def _load(loader, payload):
    """Runs the loader under the guard; returns (result, exception)."""
    with no_imports():
        try:
            return loader(payload), None
        except Exception as e:  # checked by the caller, outside the guard
            return None, e


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(("case", "payload", "exc"), [pytest.param(*c, id=c[0]) for c in HOSTILE])
def test_hostile_payload_is_refused_without_imports(loader, case, payload, exc):
    result, err = _load(loader, payload)
    assert result is None and isinstance(err, exc), (case, result, repr(err)[:300])
    assert not isinstance(err, AssertionError | RecursionError), repr(err)[:300]
    msg = str(err)
    assert 0 < len(msg) <= 2000, (case, len(msg))  # bounded, even for huge payloads


def test_corpus_size():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("loader", LOADERS)
def test_code_in_name_is_kept_as_inert_text(loader):
    """A name is a free-form label: any string is stored verbatim, never evaluated."""
    payload = {**OK, "name": CODE}
    if loader != ExponentialDecayConfig.from_dict:
        payload = _env(config=payload)
    result, err = _load(loader, payload)
    assert err is None, repr(err)
    cfg = getattr(result, "config", result)
    assert cfg.name == CODE
    assert cfg.to_dict()["name"] == CODE


def test_the_guard_catches_an_import():
    """The guard is live: a loader that imported something would fail loudly."""
    with pytest.raises(AssertionError, match=r"\['os'\]"), no_imports() as calls:
        with pytest.raises(AssertionError, match="'os'"):
            __import__("os")  # loaded, but not on the allowlist
        assert calls == ["os"]
    with pytest.raises(AssertionError, match="never_loaded_mod"), no_imports():
        with pytest.raises(AssertionError, match="never_loaded_mod"):
            __import__("never_loaded_mod")
    with pytest.raises(AssertionError, match=r"\['subprocess'\]"), no_imports():
        with pytest.raises(AssertionError, match="subprocess"):
            importlib.import_module("subprocess")
    assert builtins.__import__ is not None and importlib.import_module("json") is not None


@pytest.mark.parametrize("loader", LOADERS)
def test_valid_payload_passes_the_guard(loader):
    """Control: the same guard lets a valid payload through (nothing is imported)."""
    payload = OK if loader == ExponentialDecayConfig.from_dict else _env()
    result, err = _load(loader, payload)
    assert err is None, repr(err)
    cfg = getattr(result, "config", result)
    assert cfg.to_dict()["decay_steps"] == OK["decay_steps"]
