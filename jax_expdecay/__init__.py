"""Keras's ExponentialDecay learning-rate schedule for JAX and Optax, exact and sweepable."""

from typing import TYPE_CHECKING

from ._check import CheckedSchedule as CheckedSchedule
from ._check import check_config as check_config
from ._check import checked as checked
from ._config import ExponentialDecayConfig as ExponentialDecayConfig
from ._crossing import first_step_below as first_step_below
from ._keras import from_keras as from_keras
from ._keras import to_keras as to_keras
from ._optax_state import current_learning_rate as current_learning_rate
from ._optax_state import set_schedule_step as set_schedule_step
from ._schedule import ExponentialDecay as ExponentialDecay
from ._schedule import exponential_decay as exponential_decay
from ._serialization import deserialize as deserialize
from ._serialization import serialize as serialize
from ._sweep import stack as stack
from ._sweep import unstack as unstack

if TYPE_CHECKING:
    __version__: str
else:
    # Hidden from type checkers, for which a module `__getattr__` makes every name valid.

    def __getattr__(name: str) -> str:
        """Computes ``__version__`` on first access, from the installed package's metadata.

        Not at import: importlib.metadata's search of the installed distributions would
        cost milliseconds on every ``import jax_expdecay``.
        """
        if name == "__version__":
            from importlib.metadata import PackageNotFoundError, version

            try:
                value = version("jax_expdecay")
            except PackageNotFoundError:  # pragma: no cover - running from a source tree
                value = "0.0.0+unknown"
            globals()["__version__"] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        """The module's names, ``__version__`` included before its first access."""
        return sorted({*globals(), "__version__"})


__all__ = (
    "CheckedSchedule",
    "ExponentialDecay",
    "ExponentialDecayConfig",
    "__version__",
    "check_config",
    "checked",
    "current_learning_rate",
    "deserialize",
    "exponential_decay",
    "first_step_below",
    "from_keras",
    "serialize",
    "set_schedule_step",
    "stack",
    "to_keras",
    "unstack",
)
