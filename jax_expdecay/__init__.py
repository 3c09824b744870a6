"""Keras's ExponentialDecay learning-rate schedule for JAX and Optax, exact and sweepable."""

from importlib.metadata import PackageNotFoundError, version

from ._check import check_config as check_config
from ._check import checked as checked
from ._config import ExponentialDecayConfig as ExponentialDecayConfig
from ._optax_state import current_learning_rate as current_learning_rate
from ._schedule import ExponentialDecay as ExponentialDecay
from ._schedule import exponential_decay as exponential_decay
from ._serialization import deserialize as deserialize
from ._serialization import serialize as serialize
from ._sweep import stack as stack
from ._sweep import unstack as unstack

try:
    __version__ = version("jax_expdecay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = (
    "ExponentialDecay",
    "ExponentialDecayConfig",
    "__version__",
    "check_config",
    "checked",
    "current_learning_rate",
    "deserialize",
    "exponential_decay",
    "serialize",
    "stack",
    "unstack",
)
