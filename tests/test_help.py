"""What a newcomer sees first: ``help()``, ``inspect.signature`` and the errors for
other libraries' argument names (optax's ``init_value=``, ``transition_steps=``)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import itertools
import pydoc
import re

import numpy as np
import optax
import pytest

import jax_expdecay
from jax_expdecay import (
    CheckedSchedule,
    ExponentialDecay,
    ExponentialDecayConfig,
    checked,
    exponential_decay,
)

NAMES = (
    "initial_learning_rate",
    "decay_steps",
    "decay_rate",
    "staircase",
    "transition_begin",
    "end_value",
    "name",
)
VALUES = {
    "initial_learning_rate": 1.0,
    "decay_steps": 10,
    "decay_rate": 0.5,
    "staircase": True,
    "transition_begin": 3,
    "end_value": 0.2,
    "name": "n",
}
PRIVATE_MODULE = re.compile(
    r"module docstring|\b_(?:check|cli|config|keras|numerics|optax_state|schedule|"
    r"serialization|sweep)\b(?!\.py)"
)


def _text(obj) -> str:
    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


# -- exponential_decay's signature ------------------------------------------------------


def test_signature_has_required_arguments_and_the_config_defaults():
    sig = inspect.signature(exponential_decay)
    assert tuple(sig.parameters) == NAMES
    P = inspect.Parameter
    for name in ("initial_learning_rate", "decay_steps", "decay_rate"):
        assert sig.parameters[name].default is P.empty, name
    defaults = {f.name: f.default for f in dataclasses.fields(ExponentialDecayConfig)}
    for name in NAMES[3:]:
        assert sig.parameters[name].default == defaults[name], name
    kinds = [p.kind for p in sig.parameters.values()]
    assert kinds == [P.POSITIONAL_OR_KEYWORD] * 4 + [P.KEYWORD_ONLY] * 3
    assert str(sig) == (
        "(initial_learning_rate: 'ArrayLike | ExponentialDecayConfig', "
        "decay_steps: 'ArrayLike', decay_rate: 'ArrayLike', staircase: 'bool' = False, *, "
        "transition_begin: 'ArrayLike' = 0, end_value: 'ArrayLike | None' = None, "
        "name: 'str | None' = 'ExponentialDecay') -> 'ExponentialDecay'"
    )


def test_help_shows_the_signature_without_fake_defaults():
    text = _text(exponential_decay)
    head = text.split("\n\n")[1]  # after "Python Library Documentation: ..."
    assert head.startswith(
        "exponential_decay(initial_learning_rate: 'ArrayLike | ExponentialDecayConfig', "
        "decay_steps: 'ArrayLike', decay_rate: 'ArrayLike', staircase: 'bool' = False, *,"
    )
    for leak in ("= None, decay_rate", "decay_steps: 'ArrayLike' =", "<missing>", "unexpected"):
        assert leak not in head


def test_every_call_the_signature_binds_works_and_no_other():
    """Exhaustive over positional counts 0-4 x every subset of keywords: the call
    succeeds exactly when ``signature.bind`` does, and builds the config that the
    signature's defaults describe. (The one documented exception, the config form,
    is tested below.)"""
    sig = inspect.signature(exponential_decay)
    positional = [VALUES[n] for n in NAMES[:4]]
    n_ok = n_bad = 0
    for p in range(5):
        for r in range(len(NAMES) + 1):
            for keys in itertools.combinations(NAMES, r):
                args, kwargs = positional[:p], {k: VALUES[k] for k in keys}
                try:
                    bound = sig.bind(*args, **kwargs)
                except TypeError:
                    bound = None
                try:
                    got = exponential_decay(*args, **kwargs)
                except TypeError as e:
                    assert bound is None, (p, keys, e)
                    n_bad += 1
                    continue
                assert bound is not None, (p, keys)
                bound.apply_defaults()
                assert got.config == ExponentialDecayConfig(**bound.arguments), (p, keys)
                n_ok += 1
    # Bindable: the first p names positional, the rest of the required ones by keyword,
    # no name twice: 2**4 subsets of the optional four for each p in 0..3, 2**3 for p=4.
    assert (n_ok, n_bad) == (4 * 16 + 8, 5 * 128 - 72)


def test_config_form_still_works_and_refuses_any_other_argument():
    cfg = ExponentialDecayConfig(1.0, 10, 0.5, staircase=True)
    assert exponential_decay(cfg).config is cfg
    assert float(exponential_decay(cfg)(25)) == 0.25
    for extra in NAMES[1:]:
        with pytest.raises(TypeError, match=rf"exponential_decay\(config\).*'{extra}'"):
            exponential_decay(cfg, **{extra: VALUES[extra]})
    # even a value equal to the default is refused: it was given, so it was meant
    with pytest.raises(TypeError, match="'end_value'"):
        exponential_decay(cfg, end_value=None)


def test_explicit_none_for_a_required_argument_is_a_value_error_not_missing():
    with pytest.raises(TypeError, match=r"decay_steps must be a real number.*None"):
        exponential_decay(1.0, None, 0.5)


@pytest.mark.parametrize(
    ("args", "kwargs", "missing"),
    [
        ((), {}, "['initial_learning_rate', 'decay_steps', 'decay_rate']"),
        ((0.1,), {}, "['decay_steps', 'decay_rate']"),
        ((0.1, 10), {"staircase": True}, "['decay_rate']"),
        ((), {"decay_steps": 10, "decay_rate": 0.5}, "['initial_learning_rate']"),
    ],
)
def test_missing_arguments_are_named(args, kwargs, missing):
    with pytest.raises(TypeError) as info:
        exponential_decay(*args, **kwargs)
    assert str(info.value) == f"exponential_decay() missing required arguments {missing}"


# -- did you mean -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"init_value": 0.1, "decay_steps": 10, "decay_rate": 0.5},
            "exponential_decay() got an unexpected keyword argument 'init_value'; did you "
            "mean initial_learning_rate= instead of init_value= (optax's name)?",
        ),
        (
            {"initial_learning_rate": 0.1, "transition_steps": 10, "decay_rate": 0.5},
            "exponential_decay() got an unexpected keyword argument 'transition_steps'; did "
            "you mean decay_steps= instead of transition_steps= (optax's name)?",
        ),
        (
            {"learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
            "exponential_decay() got an unexpected keyword argument 'learning_rate'; did you "
            "mean initial_learning_rate= instead of learning_rate= (tf.compat.v1's name)?",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_step": 10, "decay_rate": 0.5},
            "exponential_decay() got an unexpected keyword argument 'decay_step'; did you "
            "mean decay_steps= instead of decay_step=?",
        ),
        (
            {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5, "foo": 1},
            "exponential_decay() got an unexpected keyword argument 'foo'; the arguments "
            f"are {list(NAMES)}",
        ),
        (
            {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.5, "xyz": 1},
            "exponential_decay() got unexpected keyword arguments 'init_value', "
            "'transition_steps', 'xyz'; did you mean initial_learning_rate= instead of "
            "init_value= (optax's name), decay_steps= instead of transition_steps= "
            f"(optax's name)?; the arguments are {list(NAMES)}",
        ),
    ],
)
def test_unknown_keywords_get_a_hint(kwargs, expected):
    with pytest.raises(TypeError) as info:
        exponential_decay(**kwargs)
    assert str(info.value) == expected


def test_an_optax_call_fixed_by_the_hint_gives_optaxs_schedule():
    """Follow the hint mechanically: the renamed call works and matches optax."""
    optax_kwargs = {
        "init_value": 0.1,
        "transition_steps": 100,
        "decay_rate": 0.5,
        "transition_begin": 5,
        "staircase": True,
        "end_value": 0.01,
    }
    with pytest.raises(TypeError) as info:
        exponential_decay(**optax_kwargs)
    renames = dict(
        (old, new) for new, old in re.findall(r"(\w+)= instead of (\w+)=", str(info.value))
    )
    assert renames == {"init_value": "initial_learning_rate", "transition_steps": "decay_steps"}
    ours = exponential_decay(**{renames.get(k, k): v for k, v in optax_kwargs.items()})
    theirs = optax.exponential_decay(**optax_kwargs)
    steps = np.array([0, 4, 5, 6, 104, 105, 106, 305, 405, 1000], np.int32)
    want = [0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.0125, 0.01, 0.01]
    np.testing.assert_allclose(np.asarray(ours(steps)), want, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(ours(steps)), np.asarray(theirs(steps)), rtol=1e-7)


@pytest.mark.parametrize("fourth", [10, 5.0, np.int32(7)])
def test_optax_positional_order_gets_a_hint(fourth):
    # optax's 4th positional argument is transition_begin; ours (Keras's) is staircase
    with pytest.raises(TypeError) as info:
        exponential_decay(0.1, 100, 0.9, fourth)
    msg = str(info.value)
    assert msg.startswith(f"staircase must be a bool, got {fourth!r}")
    assert f"pass transition_begin={fourth!r} by keyword" in msg


def test_a_non_number_staircase_keeps_the_plain_error():
    with pytest.raises(TypeError) as info:
        exponential_decay(0.1, 100, 0.9, "yes")
    assert "staircase must be a bool, got 'yes'" in str(info.value)
    assert "transition_begin" not in str(info.value)


# -- help() of the config and the classes ---------------------------------------------


def _attributes_section(doc: str) -> dict[str, str]:
    lines = inspect.cleandoc(doc).splitlines()
    start = lines.index("Attributes:") + 1
    out: dict[str, str] = {}
    key = None
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next section
        m = re.match(r"    (\w+): (.*)", line)
        if m:
            key = m.group(1)
            out[key] = m.group(2)
        elif key is not None and line.startswith("        "):
            out[key] += " " + line.strip()
    return out


def test_config_docstring_describes_every_field():
    described = _attributes_section(ExponentialDecayConfig.__doc__ or "")
    fields = [f.name for f in dataclasses.fields(ExponentialDecayConfig)]
    assert list(described) == fields
    for name, text in described.items():
        assert len(text.split()) >= 8, (name, text)
    assert "floor when ``decay_rate < 1``" in described["end_value"]
    assert "Static metadata" in described["staircase"]
    assert "Static metadata" in described["name"]
    assert "Attributes:" in _text(ExponentialDecayConfig)


@pytest.mark.parametrize("cls", [ExponentialDecay, ExponentialDecayConfig, CheckedSchedule])
def test_no_source_comment_shows_as_a_docstring(cls):
    """pydoc falls back to the comment above a def that has no docstring; each public
    method must have a real one (or inherit one, like ``__eq__``)."""
    for name, member in vars(cls).items():
        func = getattr(member, "__func__", member)
        if not callable(func) and not isinstance(member, property):
            continue
        doc = pydoc.getdoc(getattr(cls, name))
        assert not doc.startswith("#"), (cls.__name__, name, doc)
        if not name.startswith("_"):
            assert doc, (cls.__name__, name)
    for name in ("tree_unflatten", "tree_flatten_with_keys", "tree_flatten"):
        if name in vars(cls):
            assert "JAX pytree protocol" in pydoc.getdoc(getattr(cls, name))
    assert "# --" not in _text(cls)


def test_public_docs_point_to_no_private_module():
    for name in jax_expdecay.__all__:
        if name == "__version__":
            continue
        obj = getattr(jax_expdecay, name)
        docs = [inspect.getdoc(obj) or ""]
        if inspect.isclass(obj):
            docs += [
                inspect.getdoc(getattr(obj, m)) or "" for m in vars(obj) if not m.startswith("_")
            ]
        for doc in docs:
            assert not PRIVATE_MODULE.search(doc), (name, PRIVATE_MODULE.search(doc))
    assert "module docstring" not in _text(checked)


def test_the_private_module_pattern_catches_what_it_should():
    assert PRIVATE_MODULE.search("see the module docstring")
    assert PRIVATE_MODULE.search("see the ``_numerics`` module")
    assert PRIVATE_MODULE.search("jax_expdecay._check.CheckedSchedule")
    assert not PRIVATE_MODULE.search("the source file ``jax_expdecay/_numerics.py``")
    assert not PRIVATE_MODULE.search("decay_steps, _c32")


# -- exports --------------------------------------------------------------------------


def test_checked_schedule_is_exported():
    assert "CheckedSchedule" in jax_expdecay.__all__
    sched = checked(exponential_decay(1.0, 10, 0.5))
    assert type(sched) is CheckedSchedule
    assert float(sched(20)) == 0.25


def test_version_is_the_installed_metadata_and_listed():
    assert jax_expdecay.__version__ == importlib.metadata.version("jax_expdecay")
    assert "__version__" in dir(jax_expdecay)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        jax_expdecay.no_such_name  # noqa: B018
