"""A 2-process x 4-CPU-device sweep over loopback (jax.distributed + gloo) equals the
single-process result. Bounded in time; both processes are killed on any failure."""

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


def test_two_processes_agree_with_one(tmp_path):
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["PYTHONPATH"] = os.pathsep.join([HERE, env.get("PYTHONPATH", "")])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                os.path.join(HERE, "distributed_worker.py"),
                str(i),
                str(port),
                str(tmp_path),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        logs = [p.stdout.read().decode(errors="replace")[-3000:] for p in procs]  # type: ignore[union-attr]
        assert [p.returncode for p in procs] == [0, 0], logs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            if p.stdout is not None:
                p.stdout.close()
    single = np.asarray(jax.jit(jax.vmap(lambda sc: sc(STEPS)))(exponential_decay(stack(CONFIGS))))
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"result_{i}.npy"), single)
