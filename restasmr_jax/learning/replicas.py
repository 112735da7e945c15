"""The replica axis r = seed * n_folds + fold: devices, sharding, per-replica keys, (un)flattening (SPEC §7).

Every seed x fold of a run is one replica of the same program.  With
several devices and a replica count divisible by them, the replica axis is
sharded over a 1-D mesh (`NamedSharding`) and the data are replicated.  On
CPU, `use_cpu_devices()` (call it before JAX starts) splits the host into
one device per core, so that the sequential recurrences of different folds
run on different cores.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def use_cpu_devices(n: int | None = None) -> int:
    """Expose the host's cores as `n` JAX CPU devices (default: all cores); call before JAX's first use.

    XLA runs a `lax.scan` on one thread, so with one CPU device the folds'
    recurrences run one after another; with one device per core the replica
    axis is sharded and they run side by side.  Returns the device count
    in effect (unchanged if JAX had already started).
    """
    n = n or os.cpu_count() or 1
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backend already initialised: keep what it has
        pass
    return len(jax.devices())


class Placement(NamedTuple):
    replica: Any  # sharding for arrays with a leading replica axis (None = default device)
    replicated: Any


def placement(n_replicas: int) -> Placement:
    devices = jax.devices()
    if len(devices) > 1 and n_replicas % len(devices) == 0:
        mesh = Mesh(np.array(devices), ("replica",))
        return Placement(NamedSharding(mesh, PartitionSpec("replica")), NamedSharding(mesh, PartitionSpec()))
    return Placement(None, None)


def put(tree, sharding):
    return jax.device_put(tree, sharding) if sharding is not None else jax.device_put(tree)


def replica_keys(seed_values: list[int], n_folds: int) -> jax.Array:
    """[replica] base key of each (seed, fold): fold_in(PRNGKey(seed value), fold)."""
    keys = [jax.random.fold_in(jax.random.PRNGKey(s), f) for s in seed_values for f in range(n_folds)]
    return jnp.stack(keys)


def unflatten_replicas(tree, n_seeds: int):
    """Leaves [replica, ...] -> [seed, fold, ...] (numpy)."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((n_seeds, -1) + np.shape(x)[1:]), tree)


def flatten_replicas(tree):
    """Leaves [seed, fold, ...] -> [replica, ...]."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1,) + np.shape(x)[2:]), tree)
