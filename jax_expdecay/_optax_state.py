"""The learning rate an optax optimizer state will use next.

One job: find, from the *structure* of an optimizer state, the step counter that a
learning-rate schedule reads, and evaluate the schedule there.

The rule (static: it looks at pytree structure and field names only, never at counter
values, so eager and ``jit`` calls decide alike and a refusal is raised at trace time):

- Every node of the state is classified by its set of field names (a NamedTuple's
  ``_fields``, a dict's or an ``nnx.State``'s keys). Field names survive
  ``flax.serialization.to_state_dict``, ``nnx.state`` and orbax restores, which all turn
  optax's NamedTuples into dicts; class identity does not.
- A node whose fields are those of an optax state that *passes its counter to a
  schedule* (``ScaleByScheduleState``, ``WrappedScheduleState`` inside
  ``inject_hyperparams``, ...; table ``_KNOWN``) holds a schedule step: the schedule is
  evaluated at that counter before the counter is incremented, so ``schedule(count)`` is
  the value the next update uses.
- Counters of other known optax states (adam's bias-correction ``count``,
  ``reduce_on_plateau``'s and ``apply_every``'s resetting counters, ...) are not schedule
  steps and are ignored. Any other node with a ``count`` field is *unknown*, and makes the
  state ambiguous.
- Several schedule steps are the same step when they sit under the same *gates*: fields
  of wrappers that update their inner state on some calls only (``MultiSteps``,
  ``apply_if_finite``, ``conditionally_mask``, ...). Siblings in a ``chain``, ``masked``,
  ``multi_transform`` or ``inject_hyperparams`` are all updated on every call, starting
  from 0 together, so they hold the same value by construction.
- Wrappers: nnx ``Variable`` (and the ``{'value': x}`` dict a target-less orbax restore
  makes of one) is looked through; a node with both ``opt_state`` and ``step`` (an
  ``nnx.Optimizer``, its ``nnx.state``, a flax ``TrainState``) is searched in
  ``opt_state`` only: its ``step`` counts calls, which is not what the schedule reads
  under ``MultiSteps``.

optax and flax are not imported here: the state is walked as a JAX pytree, and nnx
``Variable`` is recognised only if ``flax.nnx`` is already imported (an nnx object cannot
exist otherwise).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from jax.core import Tracer
from jax.typing import ArrayLike

__all__ = ["current_learning_rate", "set_schedule_step"]

State = TypeVar("State")
_SCHEDULE = "schedule"  # its counter is passed to a schedule: the step
_OTHER = "other"  # a known counter that is not a schedule step
_UNKNOWN = "unknown"


class _Kind(NamedTuple):
    """What a node with a given set of fields is."""

    names: str  # the optax state class(es) with these fields, for messages
    role: str  # _SCHEDULE, _OTHER, or "" for a wrapper without a counter of its own
    counter: str = "count"  # the field holding the counter
    why: str = ""  # for _OTHER: what the counter counts
    substates: tuple[str, ...] = ()  # fields holding inner optimizer states
    gates: tuple[str, ...] = ()  # of those, the ones updated on some calls only
    start: int = 0  # the counter's value before the first update


_BIAS = "the transform's own update count (bias correction), not read by a schedule"
# Checked against the installed optax by tests/test_optimizer_state.py (names and fields).
_KINDS: tuple[tuple[tuple[str, ...], _Kind], ...] = (
    # Counters read by a schedule: schedule(count) first, then count + 1.
    (("count",), _Kind("ScaleByScheduleState, WrappedScheduleState or WeightDecaySchedule", _SCHEDULE)),
    (("count", "hyperparams", "inner_state"), _Kind("InjectHyperparamsState", _SCHEDULE, substates=("inner_state",))),
    (("exp_avg", "exp_avg_sq", "grad_sum", "estim_lr", "numerator_weighted", "count"), _Kind("DAdaptAdamWState", _SCHEDULE)),
    (("exp_avg", "exp_avg_sq", "grad_sum", "params0", "estim_lr", "numerator_weighted", "count"), _Kind("ProdigyState", _SCHEDULE)),
    (("count", "grad_sum_sq", "s", "x0"), _Kind("MadgradState", _SCHEDULE)),
    (("exp_avg", "barf", "gamma", "lb", "count"), _Kind("MomoState", _SCHEDULE)),
    (("exp_avg", "exp_avg_sq", "barf", "gamma", "lb", "count"), _Kind("MomoAdamState", _SCHEDULE)),
    (("b1", "weight_sum", "step_count", "max_lr", "base_optimizer_state", "z"), _Kind("ScheduleFreeState", _SCHEDULE, counter="step_count", substates=("base_optimizer_state",), start=1)),
    # inject_hyperparams: its schedules read the WrappedScheduleState counts in
    # hyperparams_states (empty for constant hyperparameters); its own count is not read.
    (("count", "hyperparams", "hyperparams_states", "inner_state"), _Kind("InjectStatefulHyperparamsState", _OTHER, why="inject_hyperparams' call count; its schedules read hyperparams_states", substates=("hyperparams_states", "inner_state"))),
    # Counters that are not a schedule step.
    (("count", "mu", "nu"), _Kind("ScaleByAdamState, ScaleByBeliefState, ScaleByNovogradState or ScaleByRStdDevWithCountState", _OTHER, why=_BIAS)),
    (("count", "mu", "nu", "nu_max"), _Kind("ScaleByAmsgradState", _OTHER, why=_BIAS)),
    (("count", "mu"), _Kind("ScaleByLionState", _OTHER, why=_BIAS)),
    (("count", "nu"), _Kind("ScaleByRmsWithCountState", _OTHER, why=_BIAS)),
    (("count", "v_row", "v_col", "v"), _Kind("FactoredState", _OTHER, why=_BIAS)),
    (("count", "ema"), _Kind("EmaState", _OTHER, why=_BIAS)),
    (("count", "count_m2", "m1", "m2", "nu"), _Kind("ScaleByAdemamixState", _OTHER, why=_BIAS)),
    (("count", "mu", "ns_coeffs"), _Kind("MuonState", _OTHER, why=_BIAS)),
    (("count", "mu", "nu", "hessian_fn_state"), _Kind("SophiaState", _OTHER, why=_BIAS)),
    (("count", "ema_decay", "mean_grads_ema", "variance_grads_ema"), _Kind("PerElementMeanAndVarianceEMAState", _OTHER, why=_BIAS)),
    (("count", "params", "updates", "diff_params_memory", "diff_updates_memory", "weights_memory"), _Kind("ScaleByLBFGSState", _OTHER, why="L-BFGS's memory index count, not read by a schedule")),
    (("count", "params", "updates", "stepsize_guess", "stepsize", "value", "grad", "slope", "value_init", "slope_init", "decrease_error", "curvature_error", "error", "interval_found", "done", "failed", "low", "value_low", "slope_low", "high", "value_high", "slope_high", "cubic_ref", "value_cubic_ref", "safe_stepsize", "safe_value", "safe_grad"), _Kind("ZoomLinesearchState", _OTHER, why="the zoom linesearch's iteration count within one step")),
    (("count", "rng_key"), _Kind("AddNoiseState", _OTHER, why="add_noise's own decay count, not read by a user schedule")),
    (("count", "grad_acc"), _Kind("ApplyEvery", _OTHER, why="apply_every's count since the last apply (it resets)")),
    (("scale", "best_value", "plateau_count", "cooldown_count", "count", "avg_value"), _Kind("ReduceLROnPlateauState", _OTHER, why="reduce_on_plateau's loss-accumulation count (it resets)")),
    (("count", "base_optimizer_state", "projector"), _Kind("GaLoreState", _OTHER, why="GaLore's projection update count", substates=("base_optimizer_state",))),
    (("base_optimizer_state", "count", "r", "m", "v", "s", "x0"), _Kind("MechanicState", _OTHER, why="Mechanic's own update count", substates=("base_optimizer_state",))),
    # Wrappers without a counter of their own: where the inner states are, and which of
    # them are updated on some calls only.
    (("mini_step", "gradient_step", "inner_opt_state", "acc_grads", "skip_state"), _Kind("MultiStepsState", "", substates=("inner_opt_state",), gates=("inner_opt_state",))),
    (("notfinite_count", "last_finite", "total_notfinite", "inner_state"), _Kind("ApplyIfFiniteState", "", substates=("inner_state",), gates=("inner_state",))),
    (("step", "inner_state"), _Kind("ConditionallyMaskState or ConditionallyTransformState", "", substates=("inner_state",), gates=("inner_state",))),
    (("steps_since_sync", "opt_state", "adv_state", "cache"), _Kind("SAMState", "", substates=("opt_state", "adv_state"), gates=("opt_state", "adv_state"))),
    (("fast_state", "steps_since_sync"), _Kind("LookaheadState", "", substates=("fast_state",))),
)  # fmt: skip
_KNOWN: dict[frozenset[str], _Kind] = {frozenset(f): k for f, k in _KINDS}


@dataclass(frozen=True)
class _Counter:
    path: str
    kind: str  # the class name(s) or "a dict with fields ..."
    role: str
    why: str
    gates: tuple[str, ...]  # paths of the gated fields above it
    start: int
    value: Any

    def describe(self) -> str:
        gated = f", inside {' and '.join(self.gates)}" if self.gates else ""
        why = f": {self.why}" if self.why else ""
        if self.start:
            why += f", counting from {self.start}"
        return f"{self.path} ({self.kind}{why}{gated})"


def _nnx_variable_types() -> tuple[type, ...]:
    nnx = sys.modules.get("flax.nnx")
    if nnx is None:
        return ()
    # vars(), not getattr: flax >= 0.11 warns on the removed name VariableState (an
    # alias of Variable there), which older flax has as the class of nnx.state leaves.
    names = vars(nnx)
    return tuple(
        t for t in (names.get("Variable"), names.get("VariableState")) if isinstance(t, type)
    )


def _unwrap(node: Any, variables: tuple[type, ...]) -> Any:
    """Looks through nnx Variables and the ``{'value': x}`` dicts orbax restores them as."""
    while True:
        if variables and isinstance(node, variables):
            get = getattr(node, "get_value", None)
            node = get() if callable(get) else node.value
        elif isinstance(node, Mapping) and len(node) == 1 and "value" in node:
            node = node["value"]
        else:
            return node


def _key_name(key: Any) -> Any:
    for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey / FlattenedIndexKey, SequenceKey
        if hasattr(key, attr):
            return getattr(key, attr)
    return key


def _children(node: Any) -> list[tuple[Any, Any, Any]] | None:
    """``(path key, name, child)`` one level down, or None for a leaf."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if jax.tree_util.treedef_is_leaf(treedef) and flat and not flat[0][0]:
        return None
    return [(path[0], _key_name(path[0]), child) for path, child in flat]


def _kind_name(node: Any, fields: frozenset[str], known: _Kind | None) -> str:
    cls = type(node).__name__
    if hasattr(type(node), "_fields"):
        return cls
    shown = "{" + ", ".join(repr(f) for f in sorted(fields)) + "}"
    if known is not None:
        return f"{cls} with fields {shown}, as a {known.names}"
    return f"{cls} with fields {shown}"


def _is_counter(x: Any) -> bool:
    """An integer leaf (dtype is static: eager and jit agree). A float leaf named
    ``count`` is a parameter (e.g. in a momentum trace), not a counter."""
    if isinstance(x, bool):
        return False
    if isinstance(x, int):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.integer) and _children(x) is None


def _nnx_graph_types() -> tuple[type, ...]:
    """nnx's mutable graph objects (an ``nnx.Optimizer``), if ``flax.nnx`` is imported."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is None:
        return ()
    names = vars(nnx)
    return tuple(t for t in (names.get("Pytree"), names.get("Object")) if isinstance(t, type))


def _rewrap(orig: Any, new: Any, variables: tuple[type, ...]) -> Any:
    """``orig`` with the value that ``_unwrap`` finds in it replaced by ``new``: an nnx
    Variable is set in place (nnx state is mutable; the Variable is returned), a
    ``{'value': x}`` dict is rebuilt around the new value."""
    if variables and isinstance(orig, variables):
        get = getattr(orig, "get_value", None)
        inner = _rewrap(get() if callable(get) else orig.value, new, variables)
        setter = getattr(orig, "set_value", None)
        if callable(setter):
            setter(inner)
        else:
            orig.value = inner
        return orig
    if isinstance(orig, Mapping) and len(orig) == 1 and "value" in orig:
        _, treedef = jax.tree_util.tree_flatten(orig, is_leaf=lambda x: x is not orig)
        return treedef.unflatten([_rewrap(orig["value"], new, variables)])
    return new


def _walk(root: Any, set_to: Callable[[Any, int], Any] | None = None) -> tuple[list[_Counter], Any]:
    """Every counter in ``root``, classified (see the module docstring for the rule), and,
    given ``set_to(counter, start)``, ``root`` with every schedule counter replaced by its
    result (containers rebuilt; nnx Variables and graph objects updated in place)."""
    variables = _nnx_variable_types()
    graphs = _nnx_graph_types() if set_to is not None else ()
    found: list[_Counter] = []

    def walk(orig: Any, path: tuple[Any, ...], gates: tuple[str, ...]) -> Any:
        node = _unwrap(orig, variables)
        children = _children(node)
        if not children:
            return orig
        by_name = {str(name): (key, child) for key, name, child in children}
        new_children: dict[str, Any] = {}
        if "opt_state" in by_name and "step" in by_name:  # an optimizer / train state
            key, child = by_name["opt_state"]
            new_children["opt_state"] = walk(child, (*path, key), gates)
        else:
            fields = frozenset(by_name)
            known = _KNOWN.get(fields)
            counter = known.counter if known is not None else "count"
            value = _unwrap(by_name[counter][1], variables) if counter in by_name else None
            if value is not None and _is_counter(value) and (known is None or known.role):
                c = _Counter(
                    path=jax.tree_util.keystr((*path, by_name[counter][0])),
                    kind=_kind_name(node, fields, known),
                    role=known.role if known is not None else _UNKNOWN,
                    why=known.why if known is not None else "",
                    gates=gates,
                    start=known.start if known is not None else 0,
                    value=value,
                )
                found.append(c)
                if set_to is not None and c.role == _SCHEDULE:
                    new = set_to(value, c.start)
                    new_children[counter] = _rewrap(by_name[counter][1], new, variables)
            for name, (key, child) in by_name.items():
                if known is not None and name not in known.substates:
                    continue  # the counter and parameter-shaped fields (mu, nu, ...)
                inner = gates
                if known is not None and name in known.gates:
                    where = jax.tree_util.keystr((*path, key))
                    inner = (*gates, f"{where} ({known.names}: updated on some calls only)")
                new_children[name] = walk(child, (*path, key), inner)
        if set_to is None or (graphs and isinstance(node, graphs)):
            return orig  # nothing to rebuild, or an nnx object: its Variables were set
        changed = [new_children.get(str(name), child) for _, name, child in children]
        if all(a is b for a, b in zip(changed, (c for _, _, c in children), strict=True)):
            return orig
        _, treedef = jax.tree_util.tree_flatten(node, is_leaf=lambda x: x is not node)
        return _rewrap(orig, treedef.unflatten(changed), variables)

    rebuilt = walk(root, (), ())
    return found, rebuilt


def _find(root: Any) -> list[_Counter]:
    """Every counter in ``root``, classified; see the module docstring for the rule."""
    return _walk(root)[0]


def _listing(counters: list[_Counter]) -> str:
    shown = "; ".join(c.describe() for c in counters[:8])
    return shown + (f"; and {len(counters) - 8} more" if len(counters) > 8 else "")


def _schedule_counters(opt_state: Any, fn: str) -> list[_Counter]:
    """The schedule counters in ``opt_state``, all the same step, or a ValueError naming
    ``fn``; decided from the structure alone."""
    counters = _find(opt_state)
    unknown = [c for c in counters if c.role == _UNKNOWN]
    steps = [c for c in counters if c.role == _SCHEDULE]
    if unknown:
        raise ValueError(
            f"{fn}: cannot tell from the structure of opt_state whether "
            f"these counters are the step a schedule reads: {_listing(unknown)}"
            + (f" (next to the schedule steps {_listing(steps)})" if steps else "")
            + "; pass the optax sub-state that holds the schedule's counter"
            + (
                ", or call schedule(<that counter>) yourself"
                if fn == "current_learning_rate"
                else ""
            )
        )
    nnx = sys.modules.get("flax.nnx")
    module = getattr(nnx, "Module", None) if nnx is not None else None
    if isinstance(module, type) and isinstance(opt_state, module):
        raise ValueError(
            f"{fn}: opt_state is an nnx Module ({type(opt_state).__name__}), a model: pass "
            "the nnx.Optimizer made from it (or its opt_state), which holds the step"
        )
    if not steps:
        others = (
            f"; its only counters are {_listing(counters)}"
            if counters
            else " (if opt_state is a model or its parameters, pass the optimizer state "
            "instead: what tx.init(params) and tx.update return, or the nnx.Optimizer)"
        )
        raise ValueError(
            f"{fn}: no step counter that a schedule reads in opt_state: "
            "the optimizer does not use a learning-rate schedule (a constant learning "
            "rate keeps no ScaleByScheduleState or inject_hyperparams schedule state)" + others
        )
    if len({(c.gates, c.start) for c in steps}) > 1:
        raise ValueError(
            f"{fn}: ambiguous opt_state: its schedule counters are not "
            "the same step (updated on different calls, or counted from different "
            f"starts): {_listing(steps)}; pass the sub-state whose counter drives the "
            "schedule"
        )
    return steps


def _step(opt_state: Any) -> Any:
    """The schedule step in ``opt_state``, decided from its structure alone."""
    return _schedule_counters(opt_state, "current_learning_rate")[0].value


def current_learning_rate(schedule: Callable[[Any], Any], opt_state: Any) -> jax.Array:
    """Returns ``schedule(count)``: the learning rate the *next* update of ``opt_state`` uses.

    Finds the counter that optax passes to the schedule (``ScaleByScheduleState.count``,
    made by ``optax.sgd``/``adam``/... given a schedule; the schedule state inside
    ``inject_hyperparams``; ...) from the *structure* of the state, at any depth:
    chains, ``masked``, ``MultiSteps`` (its inner state), dicts from
    ``flax.serialization`` or orbax, and Flax NNX (an ``nnx.Optimizer``, its
    ``opt_state`` or ``nnx.state``). Counters of other transforms (adam's
    bias-correction count, ``reduce_on_plateau``, ``apply_every``) are not the step and
    are ignored. The decision never looks at counter values: eager and ``jit`` calls
    agree, and refusals are raised while tracing.

    Args:
      schedule: any schedule ``step -> lr`` (ours or optax's).
      opt_state: an optax optimizer state, an ``nnx.Optimizer``, or a state restored
        from disk with the same field names.

    Returns:
      ``schedule(count)`` as a JAX array: the rate of the next update, before any
      scaling by other transforms (``reduce_on_plateau`` multiplies it by its
      ``scale``).

    Raises:
      TypeError: ``schedule`` is not callable.
      ValueError: the optimizer has no schedule counter (a constant learning rate); a
        ``count`` of an unknown state type is present, so the structure is ambiguous;
        or several schedule counters are updated on different calls (e.g. one inside
        ``MultiSteps`` and one outside). The message names the paths.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from jax_expdecay import current_learning_rate, exponential_decay
      >>> sched = exponential_decay(1.0, 1, 0.5)
      >>> tx = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(sched, momentum=0.9))
      >>> params = jnp.zeros(2)
      >>> state = tx.init(params)
      >>> float(current_learning_rate(sched, state))
      1.0
      >>> for _ in range(3):
      ...     _, state = tx.update(jnp.ones(2), state, params)
      >>> float(current_learning_rate(sched, state)), float(sched(3))
      (0.125, 0.125)
      >>> float(jax.jit(current_learning_rate)(sched, state))
      0.125
      >>> current_learning_rate(sched, optax.sgd(0.1).init(params))
      Traceback (most recent call last):
      ...
      ValueError: current_learning_rate: no step counter that a schedule reads in opt_state: the optimizer does not use a learning-rate schedule (a constant learning rate keeps no ScaleByScheduleState or inject_hyperparams schedule state) (if opt_state is a model or its parameters, pass the optimizer state instead: what tx.init(params) and tx.update return, or the nnx.Optimizer)
    """
    if not callable(schedule):
        raise TypeError(
            f"current_learning_rate: schedule must be callable, got {type(schedule).__name__}"
        )
    return jnp.asarray(schedule(_step(opt_state)))


def set_schedule_step(opt_state: State, step: ArrayLike) -> State:
    """Returns ``opt_state`` with only its schedule's step counter set to ``step``.

    For resuming: the next update then uses ``schedule(step)``, and nothing else
    changes. Setting ``count`` over the whole state instead (``optax.tree_utils.tree_set(
    state, count=step)``) also sets adam's bias-correction count, so with fresh moments
    the first update is too small (0.71x the rate at step 50 with optax's defaults).
    The counter is found as :func:`current_learning_rate` finds it, from the structure
    of the state (chains, ``masked``, ``MultiSteps``, ``inject_hyperparams``, dicts
    from ``flax.serialization`` or orbax, Flax NNX); every schedule counter is set (they
    hold the same step), in its own dtype and shape; other counters are left alone.

    Args:
      opt_state: an optax optimizer state (a new one is returned; the argument is not
        changed), or Flax NNX state: an ``nnx.Optimizer`` (or its ``opt_state``, or
        ``nnx.state`` of it), whose Variables are set in place (nnx state is mutable)
        and which is returned. The ``nnx.Optimizer``'s own ``step`` (its call count)
        is not changed.
      step: the step the schedule reads at the next update: the number of updates
        already made, as optax counts them (0 before the first update). A Python int or
        an integer array (a traced one under ``jit``), from 0 to the counter's largest
        value (``2**31 - 1`` for optax's int32).

    Returns:
      The state with its schedule counter(s) set; same structure, dtypes and shapes.

    Raises:
      TypeError: ``step`` is not an integer (a float, a bool, a string).
      ValueError: ``step`` is negative or beyond the counter's dtype; or, as in
        :func:`current_learning_rate`, the state has no schedule counter, an unknown
        one, or schedule counters updated on different calls. Messages name the paths.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from jax_expdecay import current_learning_rate, exponential_decay, set_schedule_step
      >>> sched = exponential_decay(1.0, 10, 0.5, staircase=True)
      >>> tx = optax.adam(sched)
      >>> state = set_schedule_step(tx.init(jnp.zeros(2)), 20)
      >>> float(current_learning_rate(sched, state))  # the rate of the next update
      0.25
      >>> int(state[0].count), int(state[1].count)  # adam's own count is still 0
      (0, 20)
      >>> set_schedule_step(state, -1)
      Traceback (most recent call last):
      ...
      ValueError: set_schedule_step: step must be >= 0 (optax counts updates from 0), got -1
    """
    if isinstance(step, bool) or not (
        isinstance(step, int) or jnp.issubdtype(getattr(step, "dtype", float), jnp.integer)
    ):
        raise TypeError(
            "set_schedule_step: step must be an integer (a Python int or an integer "
            f"array), got {type(step).__name__} {step!r}"
        )
    if jnp.ndim(step) != 0:
        raise ValueError(f"set_schedule_step: step must be a scalar, got shape {jnp.shape(step)}")
    concrete: int | None = None
    if isinstance(step, int):
        concrete = step
    elif not isinstance(step, Tracer):
        concrete = int(step)  # pyright: ignore[reportArgumentType]
    if concrete is not None and concrete < 0:
        raise ValueError(
            f"set_schedule_step: step must be >= 0 (optax counts updates from 0), got {concrete}"
        )
    counters = _schedule_counters(opt_state, "set_schedule_step")

    def set_to(value: Any, start: int) -> Any:
        dtype = getattr(value, "dtype", None)
        if dtype is None:  # a Python int counter
            if concrete is None:
                return jnp.asarray(step) + start
            return concrete + start
        top = int(jnp.iinfo(dtype).max) - start
        if concrete is not None and concrete > top:
            raise ValueError(
                f"set_schedule_step: step {concrete} does not fit the schedule counter "
                f"({dtype}, largest step {top})"
            )
        new = jnp.asarray(step).astype(dtype) + jnp.asarray(start, dtype)
        return jnp.broadcast_to(new, jnp.shape(value))

    del counters  # validated; _walk sets each
    return _walk(opt_state, set_to)[1]
