"""Our own dtype rules: `stack` of typed configs does not follow numpy's/ml_dtypes' promotion.

ml_dtypes 0.7 changed numpy's promotion of bfloat16 with float16 (float32, where 0.5 and
0.6 raised); the table below is ours and holds with every version (the test also runs with
numpy's promotion disabled, so no version detail can leak in).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_expdecay import ExponentialDecayConfig, exponential_decay, stack

BF16, F16, F32, F64 = jnp.bfloat16, np.float16, np.float32, np.float64
NAMES = {BF16: "bfloat16", F16: "float16", F32: "float32", F64: "float64"}
# (dtype of element 0, dtype of element 1) -> stacked dtype, or None for a TypeError.
TABLE = {
    (BF16, BF16): BF16,
    (F16, F16): F16,
    (F32, F32): F32,
    (F64, F64): F64,
    (BF16, F16): None,
    (F16, BF16): None,
    (BF16, F32): F32,
    (F32, BF16): F32,
    (F16, F32): F32,
    (F32, F16): F32,
    (BF16, F64): F64,
    (F64, BF16): F64,
    (F16, F64): F64,
    (F64, F16): F64,
    (F32, F64): F64,
    (F64, F32): F64,
}


def _cfg(dt):
    return ExponentialDecayConfig(dt(0.5), 10, 0.5)


@pytest.fixture(params=[False, True], ids=["numpy", "no-numpy-promotion"])
def stack_fn(request):
    """`stack`, or `stack` run with numpy's promotion functions refusing every call."""
    if not request.param:
        return stack

    def refuse(*args, **kwargs):
        raise AssertionError(f"numpy promotion called with {args}")

    def guarded(cfgs):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(np, "result_type", refuse)
            mp.setattr(np, "promote_types", refuse)
            return stack(cfgs)

    return guarded


@pytest.mark.parametrize("pair", list(TABLE), ids=lambda p: f"{NAMES[p[0]]}+{NAMES[p[1]]}")
def test_stack_dtype_table(pair, stack_fn):
    want = TABLE[pair]
    cfgs = [_cfg(d) for d in pair]
    if want is None:
        with pytest.raises(
            TypeError,
            match=r"initial_learning_rate has dtypes (bfloat16|float16) \(element 0\) and (float16|bfloat16) \(element 1\), which have no common dtype",
        ):
            stack_fn(cfgs)
        return
    batch = stack_fn(cfgs)
    assert batch.initial_learning_rate.dtype == np.dtype(want)
    assert batch.decay_rate.dtype == np.float64  # Python floats stay float64
    # The schedule then computes in the stacked dtype.
    assert exponential_decay(batch)(10).dtype == jax.dtypes.canonicalize_dtype(want)


def test_stack_three_way_takes_a_given_dtype():
    # bfloat16 and float16 with a float32 among them: float32 is one of the given dtypes.
    for perm in itertools.permutations((BF16, F16, F32)):
        assert stack([_cfg(d) for d in perm]).initial_learning_rate.dtype == np.float32


def test_stack_mixed_typed_and_python_is_float64():
    batch = stack([_cfg(F32), ExponentialDecayConfig(0.5, 10, 0.5)])
    assert batch.initial_learning_rate.dtype == np.float64
