"""Keras's ExponentialDecay learning-rate schedule for JAX and Optax, exact and sweepable.

    lr = initial_learning_rate * decay_rate ** (step / decay_steps)    (floor() if staircase)

computed as the float32 nearest the exact value at every step, on the right stair.

The pieces (each has its own help(), with examples):
    exponential_decay        build a schedule from Keras's arguments (or a config)
    ExponentialDecayConfig   its frozen config: to_dict/from_dict, Keras get_config
    ExponentialDecay         the schedule: step -> learning rate; a JAX pytree
    warmup_exponential_decay linear warmup, then the decay (optax's names and values,
                             exact): a WarmupExponentialDecay, a JAX pytree
    current_learning_rate    the rate an optax or nnx optimizer state uses next
    set_schedule_step        set only the schedule's step in a state (resuming)
    from_keras, to_keras     Keras schedules, optimizers and .keras files
    optax_from_keras         the optax optimizer matching a Keras one (SGD, Adam, ...)
    serialize, deserialize   Keras's config envelope, as JSON-safe dicts
    stack, unstack           a batch of configs, for vmap sweeps in one compile
    first_step_below         the exact first step the rate is below a value
    plot                     a matplotlib Figure of a schedule or a batch (notebooks)
    checked, check_config    checkify validation of traced hyperparameters
    CheckedSchedule          what checked() returns

Example:
    >>> import jax_expdecay
    >>> sched = jax_expdecay.exponential_decay(0.1, 100_000, 0.96, staircase=True)
    >>> print(sched(99_999), sched(100_000))
    0.1 0.096

Read more: the README and docs/ of the repository (also an MkDocs site: the guides for
Keras users, optax and flax, sweeps, numerics and errors), and the command line:
python -m jax_expdecay --help.
"""

from typing import TYPE_CHECKING

from ._check import CheckedSchedule as CheckedSchedule
from ._check import check_config as check_config
from ._check import checked as checked
from ._config import ExponentialDecayConfig as ExponentialDecayConfig
from ._crossing import first_step_below as first_step_below
from ._keras import from_keras as from_keras
from ._keras import to_keras as to_keras
from ._keras_optax import optax_from_keras as optax_from_keras
from ._optax_state import current_learning_rate as current_learning_rate
from ._optax_state import set_schedule_step as set_schedule_step
from ._plot import plot as plot
from ._schedule import ExponentialDecay as ExponentialDecay
from ._schedule import exponential_decay as exponential_decay
from ._serialization import deserialize as deserialize
from ._serialization import serialize as serialize
from ._sweep import stack as stack
from ._sweep import unstack as unstack
from ._warmup import WarmupExponentialDecay as WarmupExponentialDecay
from ._warmup import warmup_exponential_decay as warmup_exponential_decay


def _as_package_member(*objects: object) -> None:
    """Public objects report the package as their ``__module__`` (``help()`` headers,
    reprs, pickles: ``jax_expdecay.ExponentialDecay``), not the private module that
    defines them. A class's string annotations (``from __future__ import annotations``)
    are resolved first, in the namespace of the module that defines them, so that
    ``typing.get_type_hints`` (read by dataclass tools) still finds their names."""
    import typing

    for obj in objects:
        own = vars(obj).get("__annotations__")
        if isinstance(obj, type) and own:
            hints = typing.get_type_hints(obj)
            obj.__annotations__ = {k: hints[k] for k in own}
        if isinstance(obj, type):  # its methods too: doctest finds a class's examples
            for member in vars(obj).values():  # only in methods of the class's module
                func = getattr(member, "__func__", getattr(member, "fget", member))
                if getattr(func, "__module__", None) == obj.__module__:
                    func.__module__ = __name__
        obj.__module__ = __name__  # pyright: ignore[reportAttributeAccessIssue]


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
    "WarmupExponentialDecay",
    "__version__",
    "check_config",
    "checked",
    "current_learning_rate",
    "deserialize",
    "exponential_decay",
    "first_step_below",
    "from_keras",
    "optax_from_keras",
    "plot",
    "serialize",
    "set_schedule_step",
    "stack",
    "to_keras",
    "unstack",
    "warmup_exponential_decay",
)
_as_package_member(*(v for k, v in list(globals().items()) if k in __all__))
