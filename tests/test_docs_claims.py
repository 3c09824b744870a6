"""Claims in README.md, docs/ and mkdocs.yml about behaviour, checked against the code
and the installed optax/Keras (issue 17: each was found to disagree)."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_expdecay import exponential_decay

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
        return fh.read()


STEPS = np.asarray([-5, 0, 1, 999, 1000, 5000], np.int32)


@jax.jit
def _traced(init, d, rate, tb):
    out = []
    for staircase in (False, True):
        sched = exponential_decay(init, d, rate, staircase=staircase, transition_begin=tb)
        out.append(sched(STEPS))
    return jnp.stack(out)


@pytest.mark.parametrize(
    "args",
    [
        (0.1, 0, 0.5, 0),  # decay_steps 0
        (0.1, -1000, 0.5, 0),  # negative decay_steps
        (0.1, 1000, -1.0, 0),  # negative decay_rate
        (0.1, 1000, math.nan, 0),
        (math.nan, 1000, 0.5, 0),
    ],
)
def test_invalid_traced_values_give_nan_everywhere(args):
    """docs/errors.md: NaN at every step, step 0 included, in both modes."""
    assert "NaN at every step, step 0 included" in _read("docs/errors.md")
    init, d, rate, tb = args
    got = _traced(jnp.float32(init), jnp.int32(d), jnp.float32(rate), jnp.int32(tb))
    assert np.isnan(np.asarray(got)).all(), got


def test_fractional_traced_decay_steps_gives_nan():
    f = jax.jit(lambda d: exponential_decay(0.1, d, 0.5)(STEPS))
    assert np.isnan(np.asarray(f(jnp.float32(1.5)))).all()


def test_negative_traced_transition_begin_acts_as_zero():
    got = _traced(jnp.float32(0.1), jnp.int32(1000), jnp.float32(0.5), jnp.int32(-100))
    want = _traced(jnp.float32(0.1), jnp.int32(1000), jnp.float32(0.5), jnp.int32(0))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_readme_row_for_optax_and_keras_negative_decay_rate():
    """optax (and Keras) with decay_rate < 0: a negative rate at odd whole periods
    (-0.05 at step decay_steps for 0.1, -0.5), NaN between whole periods (continuous)."""
    import optax

    row = next(line for line in _read("README.md").splitlines() if "`decay_rate < 0`" in line)
    assert "`-0.05` at step `decay_steps`" in row and "NaN between" in row
    for staircase in (False, True):
        s = optax.exponential_decay(0.1, 10, -0.5, staircase=staircase)
        got = [float(s(i)) for i in (0, 5, 10, 15, 20)]
        assert got[0] == float(np.float32(0.1)) and got[2] == float(np.float32(-0.05))
        assert got[4] == float(np.float32(0.025))
        assert math.isnan(got[1]) != staircase and math.isnan(got[3]) != staircase
    keras = pytest.importorskip("keras")
    k = keras.optimizers.schedules.ExponentialDecay(0.1, 10, -0.5)
    assert float(k(10)) == float(np.float32(-0.05)) and math.isnan(float(k(5)))


def test_site_description_claims_correct_rounding():
    text = _read("mkdocs.yml")
    assert "2 ulp" not in text and "nearest the exact value" in text


def test_no_project_jargon_for_the_keras_documentation_example(capsys):
    """ "the seed" was our jargon: users read "the Keras documentation example"."""
    import glob
    import re

    from jax_expdecay._cli import main

    assert main(["--help"]) == 0
    texts = {"--help": capsys.readouterr().out}
    names = ["README.md", "mkdocs.yml", "colab/jax_expdecay_demo.ipynb"]
    names += [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))]
    names += [
        os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "jax_expdecay", "*.py"))
    ]
    texts.update({n: _read(n) for n in names})
    jargon = re.compile(r"\bthe seed\b|\bseed's\b", re.IGNORECASE)
    assert not {n: jargon.findall(t) for n, t in texts.items() if jargon.search(t)}
    assert "the Keras\ndocumentation example" in texts["--help"]


def test_package_help_opens_with_an_overview_of_every_public_name():
    """help(jax_expdecay) starts with a short page: what each piece is and where to read
    more. (pydoc then lists every name in ``__all__`` in full; that part is pydoc's.)"""
    import pydoc

    import jax_expdecay

    page = pydoc.render_doc(jax_expdecay, renderer=pydoc.plaintext)
    head = page.split("PACKAGE CONTENTS")[0]
    assert len(head.splitlines()) <= 40, len(head.splitlines())
    for name in jax_expdecay.__all__:
        if name != "__version__":
            assert name in head, name
    assert "Read more" in head and "--help" in head


def test_public_objects_report_the_package_as_their_module():
    import pickle
    import pydoc
    import typing

    import jax_expdecay

    for name in jax_expdecay.__all__:
        if name == "__version__":
            continue
        obj = getattr(jax_expdecay, name)
        assert obj.__module__ == "jax_expdecay", name
        header = pydoc.render_doc(obj, renderer=pydoc.plaintext).splitlines()[0]
        assert "jax_expdecay._" not in header, header
    # the class still resolves its annotations, and pickles by its public path
    hints = typing.get_type_hints(jax_expdecay.ExponentialDecayConfig)
    assert hints["staircase"] is bool
    sched = exponential_decay(0.1, 10, 0.5, staircase=True)
    assert pickle.loads(pickle.dumps(sched)) == sched
    assert b"jax_expdecay._" not in pickle.dumps(sched.config)


def test_doctest_still_finds_every_example_of_the_rehomed_objects():
    """With ``__module__ = "jax_expdecay"``, doctest collects the public objects' examples
    from the package, methods included (it skips objects it thinks are from elsewhere)."""
    import doctest
    import inspect

    import jax_expdecay

    found = {t.name for t in doctest.DocTestFinder().find(jax_expdecay) if t.examples}
    want = set()
    for name in jax_expdecay.__all__:
        obj = getattr(jax_expdecay, name, None)
        if ">>>" in (getattr(obj, "__doc__", None) or "") and name != "__version__":
            want.add(f"jax_expdecay.{name}")
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not isinstance(member, (property, classmethod, staticmethod)) and not (
                    inspect.isfunction(member)
                ):
                    continue  # field defaults (an int's docstring has examples)
                doc = getattr(getattr(member, "__func__", member), "__doc__", None) or ""
                if ">>>" in doc:
                    want.add(f"jax_expdecay.{name}.{attr}")
    assert "jax_expdecay.ExponentialDecay.get_config" in want
    assert want <= found, sorted(want - found)
