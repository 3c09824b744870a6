"""A 2-process x 4-CPU-device sweep over loopback (jax.distributed + gloo) equals the
single-process result. Bounded in time: both processes are killed on any failure or
after TIMEOUT_S, so CI never hangs; their output goes to files (no pipe to fill up)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
from tests_sweep_configs import CONFIGS, STEPS

from jax_expdecay import exponential_decay, stack

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()[-3000:]


def test_two_processes_agree_with_one(tmp_path):
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["JAX_PLATFORMS"] = "cpu"  # 2 processes x 4 host devices, also on a GPU machine
    env["PYTHONPATH"] = os.pathsep.join([HERE, env.get("PYTHONPATH", "")])
    worker = os.path.join(HERE, "distributed_worker.py")
    logs = [tmp_path / f"log_{i}.txt" for i in range(2)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(2):
            with open(logs[i], "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, worker, str(i), str(port), str(tmp_path)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        assert [p.returncode for p in procs] == [0, 0], [_tail(f) for f in logs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    single = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(exponential_decay(stack(CONFIGS))))
    assert single.shape == (len(CONFIGS), len(STEPS))
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"result_{i}.npy"), single)
