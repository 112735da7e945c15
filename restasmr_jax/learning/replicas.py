"""The replica axis r = seed * n_folds + fold on every device of every process: mesh, padding, feeding (SPEC §7).

Every seed x fold of a run is one replica of the same program.  The
replica axis is sharded over a 1-D `replica` mesh of all devices (of all
JAX processes in a multi-process run, each process's devices one
contiguous block), and the data are replicated.  When the device count
does not divide the replica count, the axis is padded with inert replicas:
their inputs are all zeros, so every batch of theirs has frame weight 0 and
the program leaves their state untouched (`program.train_step`); their
outputs are dropped by `Placement.gather`, and nothing a real replica
computes depends on them, since the program is vmapped.  On CPU,
`use_cpu_devices()` (call it before JAX starts) splits the host into one
device per core, so that the sequential recurrences of different folds run
on different cores.

A process feeds only its own rows of every replica-axis array
(`jax.make_array_from_process_local_data`) and gets the whole axis back on
the host with `gather` (an all-gather across processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "replica"


def use_cpu_devices(n: int | None = None) -> int:
    """Expose the host's cores as `n` JAX CPU devices (default: all cores); call before JAX's first use.

    XLA runs a `lax.scan` on one thread, so with one CPU device the folds'
    recurrences run one after another; with one device per core the replica
    axis is sharded and they run side by side.  The setting sizes only the
    CPU client: when `JAX_PLATFORMS` names an accelerator first it is left
    alone, and on a GPU backend `jax.devices()` are the GPUs either way.
    Returns the device count in effect (unchanged if JAX had already started).
    """
    platforms = jax.config.jax_platforms or ""
    if platforms and platforms.split(",")[0].strip().lower() != "cpu":
        return len(jax.devices())
    n = n or os.cpu_count() or 1
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backend already initialised: keep what it has
        pass
    return len(jax.devices())


def padded_count(n_replicas: int, n_devices: int) -> int:
    """The smallest multiple of `n_devices` that holds `n_replicas`."""
    return -(-n_replicas // n_devices) * n_devices


def mesh_devices(devices=None) -> list:
    """All devices ordered by (process, id): each process's devices are one contiguous block of the mesh."""
    return sorted(jax.devices() if devices is None else devices, key=lambda d: (d.process_index, d.id))


@dataclass(frozen=True)
class Placement:
    """Where the `n_replicas` real replicas (padded to `n_padded`) live; `mesh` None = the default device."""

    n_replicas: int
    n_padded: int
    mesh: Mesh | None

    @property
    def replica(self) -> NamedSharding | None:
        """Sharding of arrays with a leading replica axis (None: the default device)."""
        return NamedSharding(self.mesh, PartitionSpec(AXIS)) if self.mesh is not None else None

    @property
    def replicated(self) -> NamedSharding | None:
        return NamedSharding(self.mesh, PartitionSpec()) if self.mesh is not None else None

    @property
    def local_rows(self) -> tuple[int, int]:
        """[start, stop) of the padded replica rows this process's devices hold."""
        if self.mesh is None:
            return 0, self.n_padded
        devices = list(self.mesh.devices.flat)
        mine = [i for i, d in enumerate(devices) if d.process_index == jax.process_index()]
        per_device = self.n_padded // len(devices)
        return mine[0] * per_device, (mine[-1] + 1) * per_device

    def replicas(self, tree):
        """Host arrays `[replica, ...]` (the real replicas) -> device arrays `[padded replica, ...]`, zero padding.

        Each process hands over only the rows its devices hold.
        """

        def place(x):
            x = np.asarray(x)
            if x.shape[:1] != (self.n_replicas,):
                raise ValueError(f"expected a leading replica axis of {self.n_replicas}, got shape {x.shape}")
            if self.mesh is None:
                return jax.device_put(x)
            start, stop = self.local_rows
            local = np.zeros((stop - start,) + x.shape[1:], x.dtype)
            real = x[start : min(stop, self.n_replicas)]
            local[: len(real)] = real
            return jax.make_array_from_process_local_data(self.replica, local, (self.n_padded,) + x.shape[1:])

        return jax.tree.map(place, tree)

    def everywhere(self, tree):
        """Host arrays -> the same arrays on every device (every process hands over the whole array)."""
        if self.mesh is None:
            return jax.device_put(tree)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(self.replicated, np.asarray(x), np.shape(x)), tree
        )

    def gather(self, tree):
        """Device arrays `[padded replica, ...]` -> numpy copies of the real replicas, on every process."""
        if self.mesh is not None and jax.process_count() > 1:
            host = multihost_utils.process_allgather(tree, tiled=True)
        else:
            host = jax.device_get(tree)
        return jax.tree.map(lambda x: np.array(np.asarray(x)[: self.n_replicas], copy=True), host)

    def describe(self) -> dict:
        """For the run manifest: the mesh, the processes, and how many inert replicas pad the axis."""
        devices = list(self.mesh.devices.flat) if self.mesh is not None else [jax.devices()[0]]
        return {
            "axis": AXIS,
            "devices": len(devices),
            "processes": len({d.process_index for d in devices}),
            "platform": devices[0].platform,
            "replicas": self.n_replicas,
            "padded_to": self.n_padded,
            "inert_padding": self.n_padded - self.n_replicas,
        }


def placement(n_replicas: int, devices=None) -> Placement:
    """The replica axis over `devices` (default: every device of every process), padded to a multiple of them."""
    devices = mesh_devices(devices)
    if len(devices) == 1:
        return Placement(n_replicas, n_replicas, None)
    return Placement(n_replicas, padded_count(n_replicas, len(devices)), Mesh(np.array(devices), (AXIS,)))


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
