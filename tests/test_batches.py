"""Batched configs and schedules (issue 12): indexing, slices, ``len``/``batch_shape``,
``unstack`` of a schedule, value equality and hashing, and the batch-vs-steps error.

The reference for every indexed schedule is a schedule built from scratch from the
matching scalar config (``exponential_decay(unstack(cfg)[i])``), compared bit for bit;
indexing must slice the batch's precomputed constants, never recompute them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import exact_lr, ulp_error

import jax_expdecay._schedule as schedule_module
from jax_expdecay import ExponentialDecay, ExponentialDecayConfig, exponential_decay, stack, unstack

C = ExponentialDecayConfig
K = 5
STEPS = np.array([0, 1, 40, 41, 42, 999, 1000, 123_457, 2**24 + 1, 2**31 - 1], np.int32)
INDEX_EXAMPLES = 60  # hypothesis budget (each example builds up to K fresh schedules)


def _cfgs(k: int = K, staircase: bool = True, seed: int = 0) -> list[ExponentialDecayConfig]:
    rng = np.random.default_rng(seed)
    return [
        C(
            float(10 ** rng.uniform(-5, 0)),
            int(rng.integers(1, 5000)),
            float(rng.uniform(0.05, 1.5)),
            staircase,
            transition_begin=int(rng.integers(0, 100)),
            end_value=float(10 ** rng.uniform(-9, -6)),
        )
        for _ in range(k)
    ]


CFGS = _cfgs()
BATCH = stack(CFGS)
SCHED = exponential_decay(BATCH)


_call = jax.jit(lambda sched, steps: sched(steps))  # the schedule as an argument


def _values(sched: ExponentialDecay, steps=STEPS) -> np.ndarray:
    """Jitted with the schedule as an argument: one compile per batch shape."""
    return np.asarray(_call(sched, steps))


def _rows(sched: ExponentialDecay, steps=STEPS) -> np.ndarray:
    return np.asarray(_vmap_call(sched, steps))


_vmap_call = jax.jit(jax.vmap(lambda sched, steps: sched(steps), in_axes=(0, None)))


# -- index, len, batch_shape ----------------------------------------------------------------
def test_len_and_batch_shape():
    assert (len(BATCH), BATCH.batch_shape) == (K, (K,))
    assert (len(SCHED), SCHED.batch_shape) == (K, (K,))
    single = exponential_decay(CFGS[0])
    assert single.batch_shape == () and CFGS[0].batch_shape == ()
    # array-valued fields broadcast: the batch shape is their common shape
    grid = C(np.array([[0.1], [0.2]]), 10, np.array([0.5, 0.7, 0.9]))
    assert grid.batch_shape == (2, 3) and len(grid) == 2
    assert grid.decay_steps.shape == (2, 3)
    # never falsy, even where len() is refused
    assert bool(single) and bool(CFGS[0]) and bool(SCHED)


@pytest.mark.parametrize("i", [0, 1, K - 1, -1, -K, np.int64(3), np.int32(-2), np.uint8(2)])
def test_integer_index_equals_unstack_and_a_fresh_schedule(i):
    j = int(i)
    assert BATCH[i] == unstack(BATCH)[j] == CFGS[j]
    got = SCHED[i]
    assert isinstance(got, ExponentialDecay) and got.batch_shape == ()
    assert got.config == CFGS[j]
    fresh = exponential_decay(unstack(BATCH)[j])
    assert got == fresh and hash(got) == hash(fresh)
    a, b = _values(got), _values(fresh)
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # bit for bit
    np.testing.assert_array_equal(np.asarray(got(STEPS)), np.asarray(fresh(STEPS)))  # eager
    # and it is the batch's row j, which is exact to 2 ulp
    np.testing.assert_array_equal(a, _rows(SCHED)[j])
    c = CFGS[j]
    for g, s in zip(a, STEPS, strict=True):
        e = exact_lr(c.initial_learning_rate, c.decay_steps, c.decay_rate, int(s),
                     c.staircase, c.transition_begin, c.end_value)  # fmt: skip
        assert ulp_error(g, e, np.float32) <= 2.0


def test_indexed_schedule_under_jit_and_as_an_argument():
    as_arg = jax.jit(lambda s, t: s(t))
    for j in range(K):
        want = _values(exponential_decay(CFGS[j]))
        np.testing.assert_array_equal(np.asarray(as_arg(SCHED[j], STEPS)), want)
        np.testing.assert_array_equal(np.asarray(jax.jit(SCHED[j])(STEPS)), want)


def test_indexing_slices_the_constants_and_does_not_rebuild_them(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("indexing must not recompute the constants")

    monkeypatch.setattr(schedule_module, "_build_consts", refuse)
    monkeypatch.setattr(schedule_module, "host_consts", refuse)
    picked = [SCHED[2], SCHED[1:4], SCHED[np.array([4, 0])], *unstack(SCHED)]
    monkeypatch.undo()
    assert picked[0] == exponential_decay(CFGS[2])
    # every leaf of the indexed schedule is the batch's leaf at that position
    for leaf, full in zip(
        jax.tree_util.tree_leaves(picked[1]), jax.tree_util.tree_leaves(SCHED), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(full)[1:4])


@pytest.mark.parametrize(
    "index",
    [slice(1, 4), slice(None, None, -2), slice(-2, None), np.array([4, 0, 0]), [3, 1],
     np.array([True, False, True, False, True]), jnp.asarray([2, 3])],
    ids=["1:4", "::-2", "-2:", "int_array", "list", "bool_mask", "jax_array"],
)  # fmt: skip
def test_slices_and_arrays_give_smaller_batches(index):
    rows = np.arange(K)[np.asarray(index) if isinstance(index, jax.Array) else index]
    got = SCHED[index]
    assert got.batch_shape == rows.shape == BATCH[index].batch_shape
    assert got.config == stack([CFGS[j] for j in rows])
    assert got == exponential_decay(stack([CFGS[j] for j in rows]))
    assert unstack(got) == [exponential_decay(CFGS[j]) for j in rows]
    full = np.asarray(SCHED(jnp.int32(1000)))
    np.testing.assert_array_equal(np.asarray(got(jnp.int32(1000))), full[rows])
    by_vmap = _rows(got)
    for row, j in zip(by_vmap, rows, strict=True):
        np.testing.assert_array_equal(row, _values(exponential_decay(CFGS[j])))


def test_two_dimensional_batch():
    init = np.array([[0.1], [0.02]])
    rate = np.array([0.5, 0.9, 1.25])
    grid = exponential_decay(init, 40, rate, staircase=True, end_value=1e-7)
    assert grid.batch_shape == (2, 3)
    assert grid[1].batch_shape == (3,) and grid[:, 0].batch_shape == (2,)
    assert [s.batch_shape for s in unstack(grid)] == [(3,), (3,)]
    for a in range(2):
        for b in range(3):
            one = exponential_decay(float(init[a, 0]), 40, float(rate[b]), staircase=True,
                                    end_value=1e-7)  # fmt: skip
            assert grid[a, b] == one == grid[a][b] == unstack(unstack(grid)[a])[b]
            np.testing.assert_array_equal(_values(grid[a, b]), _values(one))
    np.testing.assert_array_equal(
        np.asarray(grid[:, 2](jnp.int32(81))), np.asarray(grid(jnp.int32(81)))[:, 2]
    )


def test_batched_schedule_built_under_x64_indexes_both_constant_sets(x64):
    cfgs = _cfgs(k=4, seed=3)
    sched = exponential_decay(stack(cfgs))
    steps = np.array([0, 41, 10**6, 2**40 + 3, 2**62], np.int64)
    for j, c in enumerate(cfgs):
        got = _values(sched[j], steps)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, _values(exponential_decay(c), steps))
        # int32 steps use the float32 constants (float64 output: x64 is on)
        np.testing.assert_array_equal(_values(sched[j]), _values(exponential_decay(c)))


def test_typed_batch_keeps_its_dtype_when_indexed():
    typed = [C(np.float32(0.1 * i), 10, 0.5) for i in (1, 2, 3)]
    sched = exponential_decay(stack(typed))
    assert sched[1].config == typed[1]
    assert type(sched[1].config.initial_learning_rate) is np.float32
    np.testing.assert_array_equal(_values(sched[1]), _values(exponential_decay(typed[1])))
    half = [C(jnp.bfloat16(0.5 * i), 10, 0.5) for i in (1, 2)]
    got = exponential_decay(stack(half))[-1]
    assert got(3).dtype == jnp.bfloat16 and got == exponential_decay(half[1])


@settings(max_examples=INDEX_EXAMPLES)
@given(
    k=st.integers(1, 6),
    data=st.data(),
)
def test_indexing_behaves_like_a_list_of_schedules(k, data):
    cfgs = _cfgs(k=k, staircase=data.draw(st.booleans()), seed=data.draw(st.integers(0, 99)))
    sched = exponential_decay(stack(cfgs))
    fresh = [exponential_decay(c) for c in cfgs]
    i = data.draw(st.integers(-k - 3, k + 3))
    if -k <= i < k:
        assert sched[i] == fresh[i] and sched.config[i] == cfgs[i]
        np.testing.assert_array_equal(_values(sched[i]), _values(fresh[i]))
    else:
        with pytest.raises(IndexError, match=rf"out of range for a batch of shape \({k},\)"):
            sched[i]
    sl = slice(
        data.draw(st.none() | st.integers(-k - 2, k + 2)),
        data.draw(st.none() | st.integers(-k - 2, k + 2)),
        data.draw(st.none() | st.integers(-3, 3).filter(lambda x: x != 0)),
    )
    want = fresh[sl]
    if not want:  # an empty selection is refused (a config needs at least one value)
        with pytest.raises(
            IndexError, match=rf"the selection is empty, from a batch of shape \({k},\)"
        ):
            sched[sl]
        return
    got = sched[sl]
    assert len(got) == len(want) and unstack(got) == want
    rows = _rows(got)
    np.testing.assert_array_equal(rows, np.stack([_values(s) for s in want]))


# -- errors ---------------------------------------------------------------------------------
def test_a_single_schedule_is_not_indexable():
    single = exponential_decay(0.1, 10, 0.5)
    for thing, what in ((single, "ExponentialDecay"), (single.config, "ExponentialDecayConfig")):
        with pytest.raises(TypeError, match=rf"this {what} is not a batch .*stack\(\[\.\.\.\]\)"):
            thing[0]
        with pytest.raises(TypeError, match=rf"len\(\) of an {what} that is not a batch"):
            len(thing)
        with pytest.raises(TypeError, match="not a batch"):
            list(thing)


@pytest.mark.parametrize(
    ("index", "exc", "shown"),
    [
        (K, IndexError, "index 5 is out of bounds"),
        (-K - 1, IndexError, "index -6 is out of bounds"),
        (10**20, IndexError, "out of range for a batch of shape (5,)"),
        (np.array([0, 9]), IndexError, "index 9 is out of bounds"),
        ((0, 0), IndexError, "too many indices"),
        (np.array([True, False]), IndexError, "boolean index did not match"),
        ("a", TypeError, "'a' (type str)"),
        (1.5, TypeError, "1.5 (type float)"),
        (np.array([0.0]), TypeError, "array([0.])"),
        (True, TypeError, "a bool index"),
        (np.bool_(False), TypeError, "a bool index"),
    ],
    ids=lambda x: repr(x)[:20],
)
def test_bad_indices_are_clear(index, exc, shown):
    for thing in (SCHED, BATCH):
        with pytest.raises(exc) as info:
            thing[index]
        assert type(info.value) is exc
        assert shown in str(info.value) and "(5,)" in str(info.value), str(info.value)


def test_indexing_inside_jit_with_the_schedule_as_an_argument():
    # the leaves are tracers; a concrete index still slices them (no validation)
    got = jax.jit(lambda s: s[-2](STEPS))(SCHED)
    np.testing.assert_array_equal(np.asarray(got), _values(SCHED[-2]))
    rows = jax.jit(lambda s: s[1:3](jnp.int32(1000)))(SCHED)
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(SCHED(jnp.int32(1000)))[1:3])


def test_traced_index_is_refused():
    with pytest.raises(TypeError, match="the index is a JAX tracer"):
        jax.jit(lambda i: SCHED[i](0))(1)


def test_unstack_refuses_what_is_not_a_batch():
    with pytest.raises(ValueError, match="needs a batch"):
        unstack(exponential_decay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="got float"):
        unstack(0.1)  # type: ignore[call-overload]


# -- batch vs steps -------------------------------------------------------------------------
def test_batch_called_with_steps_of_another_shape_says_what_to_do():
    two = exponential_decay(stack(CFGS[:2]))
    steps = jnp.arange(3, dtype=jnp.int32)
    with pytest.raises(ValueError) as info:
        two(steps)
    msg = str(info.value)
    for text in ("batch of shape (2,)", "step has shape (3,)", "jax.vmap(lambda s: s(step))",
                 "gives shape (2, 3)", "step.reshape((3, 1))", "gives shape (3, 2)"):  # fmt: skip
        assert text in msg, msg
    # and both remedies work, giving the same numbers
    by_vmap = np.asarray(jax.jit(jax.vmap(lambda s: s(steps)))(two))
    by_reshape = _values(two, steps.reshape((3, 1)))
    assert by_vmap.shape == (2, 3) and by_reshape.shape == (3, 2)
    np.testing.assert_array_equal(by_vmap, by_reshape.T)
    for row, c in zip(by_vmap, CFGS[:2], strict=True):
        np.testing.assert_array_equal(row, _values(exponential_decay(c), steps))
    # the same message at trace time, with the schedule as a jit argument
    with pytest.raises(ValueError, match=r"batch of shape \(2,\)"):
        jax.jit(lambda s, t: s(t))(two, steps)


def test_broadcastable_steps_still_pair_with_the_batch():
    steps = np.array([7, 1000, 41, 2**31 - 1, 0], np.int32)  # one step per config
    got = _values(SCHED, steps)
    for j, c in enumerate(CFGS):
        assert got[j] == _values(exponential_decay(c), steps[j])
    grid = _values(SCHED, STEPS[:, None])
    assert grid.shape == (len(STEPS), K)
    np.testing.assert_array_equal(grid.T, _rows(SCHED))


# -- equality and hashing -------------------------------------------------------------------
def test_schedules_are_equal_by_config():
    a, b = exponential_decay(0.1, 10, 0.5), exponential_decay(C(0.1, 10, 0.5))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != exponential_decay(0.1, 10, 0.5, staircase=True)
    assert a != exponential_decay(np.float32(0.1), 10, 0.5)  # another output dtype
    assert a != a.config and a != 0.1  # other types: not equal (NotImplemented)
    assert exponential_decay(stack(CFGS)) == SCHED
    assert SCHED != exponential_decay(stack(CFGS[::-1]))
    assert SCHED != exponential_decay(CFGS[0])  # a batch is not a scalar


def test_batches_hash_by_value_and_stay_jittable():
    again = stack(_cfgs())
    assert again == BATCH and hash(again) == hash(BATCH)
    assert hash(exponential_decay(again)) == hash(SCHED)
    # zero signs compare equal, so they hash equal
    z1 = C(np.array([0.0, 1.0]), 10, 0.5, end_value=np.array([0.0, -0.0]))
    z2 = C(np.array([-0.0, 1.0]), 10, 0.5, end_value=np.array([-0.0, 0.0]))
    assert z1 == z2 and hash(z1) == hash(z2)
    # a batched schedule wrapped by jax.jit (which hashes the function)
    np.testing.assert_array_equal(
        np.asarray(jax.jit(SCHED)(jnp.int32(41))), np.asarray(SCHED(jnp.int32(41)))
    )
    # the arrays are read-only, so the hash cannot go stale
    with pytest.raises(ValueError, match="read-only"):
        BATCH.decay_rate[0] = 0.1
    # traced configs are not hashable
    with pytest.raises(TypeError, match="tracers"):
        jax.jit(lambda r: hash(C(0.1, 10, r)) and 0)(0.5)


def test_batch_equality_with_end_value_present_on_one_side():
    # issue 11 item 13: was "truth value of an array ... is ambiguous"
    a = C(np.array([0.1, 0.2]), 10, 0.5)
    b = C(np.array([0.1, 0.2]), 10, 0.5, end_value=np.array([0.01, 0.02]))
    assert (a == b) is False and (b == a) is False
    assert (exponential_decay(a) == exponential_decay(b)) is False
