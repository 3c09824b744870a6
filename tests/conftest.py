"""Test-wide settings: 8 host CPU devices, strict dtype promotion, Keras on JAX."""

import os

# Must happen before JAX initialises its backends.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import pytest
from hypothesis import settings

jax.config.update("jax_numpy_dtype_promotion", "strict")

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci")


@pytest.fixture
def x64():
    """Runs a test with jax_enable_x64 on, restoring the previous value after."""
    prev = jax.config.jax_enable_x64  # pyright: ignore[reportAttributeAccessIssue]
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``long`` run only with JAX_EXPDECAY_LONG=1 (see tests/budget.py)."""
    from budget import LONG

    if LONG:
        return
    skip = pytest.mark.skip(reason="a long run: set JAX_EXPDECAY_LONG=1")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
