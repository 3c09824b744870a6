"""How much fuzzing a run does: a short slice always, the long runs on request.

``JAX_EXPDECAY_LONG=1`` runs the long versions (more hypothesis examples, and the tests
marked ``long``, which tests/conftest.py skips otherwise); CI runs the short slice.
"""

import os

LONG = os.environ.get("JAX_EXPDECAY_LONG", "") == "1"


def examples(ci: int, long: int) -> int:
    """The number of hypothesis examples: ``ci`` in CI, ``long`` with JAX_EXPDECAY_LONG=1."""
    return long if LONG else ci
