"""``import jax_expdecay`` costs little beyond ``import jax``: it loads nothing but its
own modules and the standard library, and reads no package metadata.

Each check runs in a fresh interpreter (this test process has imported everything).
Timings are in ``benchmarks/bench_import.py``; these tests check the causes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Imported only inside the functions that use them (measured: jax.experimental.checkify
# alone costs ~7 ms and pulls in jax's export machinery and flatbuffers).
LAZY = (
    "jax.experimental.checkify",
    "jax._src.checkify",
    "keras",
    "h5py",
    "matplotlib",
    "flax",
    "optax",
    "mpmath",
    "scipy",
)

# Prints the modules that `extra` imports after `import jax`, as JSON.
PROBE = """
import json, sys
import jax
before = set(sys.modules)
{extra}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def _new_modules(extra: str) -> list[str]:
    return json.loads(_run(PROBE.format(extra=extra)))


def _offenders(new: list[str]) -> list[str]:
    """New modules that are neither ours nor the standard library's."""
    return [
        m
        for m in new
        if m != "jax_expdecay"
        and not m.startswith("jax_expdecay.")
        and m.split(".")[0] not in sys.stdlib_module_names
    ]


def test_import_loads_only_our_modules_and_the_stdlib():
    new = _new_modules("import jax_expdecay")
    assert "jax_expdecay._schedule" in new  # the probe sees what the import loads
    assert _offenders(new) == []
    assert [m for m in LAZY if m in new] == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("from jax.experimental import checkify", "jax.experimental.checkify"),
        ("import jax_expdecay, optax", "optax"),
    ],
)
def test_the_probe_catches_a_heavy_import(extra, expected):
    # A control: the same probe and filter flag a third-party or jax-internal import.
    assert expected in _offenders(_new_modules(extra))


def test_checkify_is_imported_when_a_traced_config_is_checked():
    new = _new_modules(
        "import jax_expdecay\n"
        "assert 'jax.experimental.checkify' not in sys.modules\n"
        "from jax.experimental import checkify\n"
        "f = lambda r: jax_expdecay.checked(jax_expdecay.exponential_decay(1.0, 10, r))(3)\n"
        "err, _ = checkify.checkify(jax.jit(f))(-1.0)\n"
        "print(err.get(), file=sys.stderr)\n"
        "assert 'decay_rate must be finite and >= 0, got -1.0' in err.get()"
    )
    assert "jax.experimental.checkify" in new


# jax itself imports importlib.metadata, so the module is not a cost; reading the
# installed distributions (what `version()` does) is. Count those calls.
SPY = """
import importlib.metadata as md
import jax
calls = []
def spy(fn):
    def wrapped(*a, **k):
        calls.append(fn.__name__)
        return fn(*a, **k)
    return wrapped
md.version = spy(md.version)
md.distribution = spy(md.distribution)
md.Distribution.from_name = classmethod(spy(md.Distribution.from_name.__func__))
import jax_expdecay
at_import = list(calls)
v = jax_expdecay.__version__
print(at_import, calls, v, jax_expdecay.__version__ is v, sep="|")
"""


def test_version_is_read_on_first_use_not_at_import():
    at_import, after, version, cached = _run(SPY).split("|")
    assert at_import == "[]"
    assert "version" in after and "from_name" in after
    import importlib.metadata

    assert version == importlib.metadata.version("jax_expdecay")
    assert cached == "True"
