"""One process of the 2-process sweep test (run by tests/test_distributed.py).

argv: process_id port out_dir. Each process has 4 CPU devices (XLA_FLAGS from the parent)
and uses gloo for cross-process collectives. As on a multi-host cluster, each process
builds only its own share of the sweep (its configs' host constants) and contributes it
to one global, sweep-sharded schedule; the result is gathered to every process.
"""

import sys

import jax


def main() -> None:
    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    # JAX 0.10 spells it jax_cpu_collectives_implementation ("gloo" is also its default).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=pid,
        initialization_timeout=60,
    )
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    from tests_sweep_configs import CONFIGS, STEPS

    from jax_expdecay import exponential_decay, stack

    assert jax.process_count() == 2 and jax.device_count() == 8, jax.devices()
    assert jax.local_device_count() == 4
    mesh = Mesh(np.array(jax.devices()), ("sweep",))
    sharding = NamedSharding(mesh, PartitionSpec("sweep"))
    per_process = len(CONFIGS) // jax.process_count()
    mine = CONFIGS[pid * per_process : (pid + 1) * per_process]
    local = exponential_decay(stack(mine))  # this process's configs only
    # Each leaf (config field or host constant) becomes one global array sharded over the
    # sweep axis. (jax.device_put(full_host_batch, sharding) would also do on this small
    # sweep, but not with float64 leaves and x64 off: its same-value-on-every-process
    # check compares the float64 host array with an all-gather of its float32 copy, so
    # any value not exact in float32, like 0.001, fails as "not the same on each process".)
    global_sched = jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local
    )
    assert global_sched.config.decay_rate.shape == (len(CONFIGS),)
    out_arr = jax.jit(jax.vmap(lambda sc: sc(STEPS)))(global_sched)
    assert out_arr.sharding.spec[0] == "sweep"
    assert len(out_arr.addressable_shards) == 4
    full = multihost_utils.process_allgather(out_arr, tiled=True)
    np.save(f"{out}/result_{pid}.npy", np.asarray(full))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
