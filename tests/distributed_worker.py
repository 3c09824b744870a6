"""One process of the 2-process sweep test (run by tests/test_distributed.py).

argv: process_id port out_dir. Uses 4 CPU devices per process, gloo collectives.
"""

import sys

import jax


def main() -> None:
    pid, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
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
    sched = exponential_decay(stack(CONFIGS))
    sharding = NamedSharding(mesh, PartitionSpec("sweep"))
    # Every process holds the whole (small) host batch; each builds its addressable shards.
    # (jax.device_put of host data onto a multi-process sharding trips JAX 0.10's
    # same-value check, which compares a tiled all-gather with the local value.)
    global_sched = jax.tree_util.tree_map(
        lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda i: np.asarray(x)[i]),
        sched,
    )
    out_arr = jax.jit(jax.vmap(lambda sc: sc(STEPS)))(global_sched)
    full = multihost_utils.process_allgather(out_arr, tiled=True)
    np.save(f"{out}/result_{pid}.npy", np.asarray(full))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
