"""The sweep shared by the single-process and 2-process distributed tests."""

import numpy as np

from jax_expdecay import ExponentialDecayConfig

STEPS = np.array([0, 1, 40, 41, 999, 1000, 123_457, 2**24 + 1, 2**31 - 1], np.int32)
CONFIGS = [
    ExponentialDecayConfig(1e-3 * (1 + i), 41 + 7 * i, 0.5 + 0.03 * i, staircase=True)
    for i in range(16)
]
