"""One job over several JAX processes: who they are, a checked start-up, `jax.distributed`, who writes (SPEC §7).

Every process runs the same command.  `processes(options)` finds out how
many there are and which one this is (flags, then `RESTASMR_*`, then
SLURM's variables), and before JAX starts it lets process 0 check them
all over TCP on the coordinator's port: the same process count, distinct
ids, the same options (a sha256 of `options.json`'s content) and the same
JAX version.  A mismatch, a process id out of range or a coordinator that
does not answer within the timeout is one `DistributedError` line on every
process, before anything is written.  (The check runs before
`jax.distributed.initialize` because the JAX client aborts the whole
process, without a Python exception, when its coordinator never answers.)
Then `jax.distributed.initialize` joins the processes (CPU collectives:
gloo), the host's cores are shared out as CPU devices, and the job runs.

Inside the job, process 0 alone writes the run folder (`is_writer`); it
prepares the data first so that the archive and caches are built once
(`writer_first`), hands out the run folder's name (`from_writer`), and
every process checks that all of them hold the same tensor
(`check_agreement`).  The other processes take part in every collective
step and then wait in JAX's shutdown barrier while process 0 computes the
statistics and writes the report, hence the long `SHUTDOWN_S`.  After a
failure a process exits at once rather than waiting in that barrier, so
that the runtime stops the others instead of leaving them blocked in a
collective step.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import NamedTuple

import jax
import numpy as np
from jax.experimental import multihost_utils

from restasmr_jax.learning.replicas import use_cpu_devices
from restasmr_jax.runs.options import ProcessOptions, RunOptions

SHUTDOWN_S = 7 * 24 * 3600  # the others wait while process 0 finishes alone (statistics, XGBoost, figures)
POLL_S = 0.2
MAX_TEXT = 4096  # bytes of a string handed out by process 0: a path (Linux PATH_MAX) or an error line


class DistributedError(ValueError):
    """The processes of a job cannot start together (addresses, ids, options, timeouts); says why."""


class Cluster(NamedTuple):
    """The resolved processes of one launch."""

    num_processes: int
    process_id: int
    coordinator: str | None  # HOST:PORT; None for one process
    cpu_devices: int | None
    timeout_s: float
    source: str  # where num_processes came from: flags, RESTASMR_*, SLURM, default

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.coordinator.rpartition(":")
        return host.strip("[]"), int(port)


def first_slurm_host(nodelist: str) -> str:
    """The first host of a SLURM node list: 'gpu[003-007,012],cpu1' -> 'gpu003'."""
    match = re.match(r"([^,\[]*)(?:\[([^\],-]*))?", nodelist.strip())
    return (match.group(1) + (match.group(2) or "")) if match else ""


def _integer(value, name: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"{name}={value!r}: expected an integer") from None


def resolve(flags: ProcessOptions, environ: Mapping[str, str] = os.environ) -> Cluster:
    """Flags first, then RESTASMR_COORDINATOR / _NUM_PROCESSES / _PROCESS_ID, then SLURM's task variables."""
    slurm = {}
    if "SLURM_NTASKS" in environ and "SLURM_PROCID" in environ:
        slurm["num_processes"] = _integer(environ["SLURM_NTASKS"], "SLURM_NTASKS")
        slurm["process_id"] = _integer(environ["SLURM_PROCID"], "SLURM_PROCID")
        nodes = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST")
        if nodes and slurm["num_processes"] > 1:
            port = environ.get("RESTASMR_COORDINATOR_PORT")
            if port is None:
                port = 20000 + _integer(environ.get("SLURM_JOB_ID", "0"), "SLURM_JOB_ID") % 20000
            slurm["coordinator"] = f"{first_slurm_host(nodes)}:{port}"
    own = {
        "coordinator": environ.get("RESTASMR_COORDINATOR"),
        "num_processes": _integer(environ.get("RESTASMR_NUM_PROCESSES"), "RESTASMR_NUM_PROCESSES"),
        "process_id": _integer(environ.get("RESTASMR_PROCESS_ID"), "RESTASMR_PROCESS_ID"),
    }
    sources = (("flags", vars(flags)), ("RESTASMR_*", own), ("SLURM", slurm))

    def first(name: str, default):
        return next(((origin, v[name]) for origin, v in sources if v.get(name) is not None), ("default", default))

    source, num_processes = first("num_processes", 1)
    cluster = Cluster(
        num_processes=num_processes,
        process_id=first("process_id", 0)[1],
        coordinator=first("coordinator", None)[1],
        cpu_devices=flags.cpu_devices,
        timeout_s=flags.timeout_s,
        source=source,
    )
    check(cluster)
    return cluster


def check(cluster: Cluster) -> None:
    """Refuse a process layout that cannot start, in one line."""
    n, k = cluster.num_processes, cluster.process_id
    where = "" if cluster.source == "default" else f" (from {cluster.source})"
    if n < 1:
        raise DistributedError(f"--num-processes must be at least 1, got {n}{where}")
    if not 0 <= k < n:
        raise DistributedError(f"--process-id {k} is out of range for {n} processes (ids 0..{n - 1}){where}")
    if cluster.cpu_devices is not None and cluster.cpu_devices < 1:
        raise DistributedError(f"--cpu-devices must be at least 1, got {cluster.cpu_devices}")
    if cluster.timeout_s <= 0:
        raise DistributedError(f"--start-timeout must be positive, got {cluster.timeout_s:g}")
    if n > 1 and cluster.coordinator is None:
        raise DistributedError(f"{n} processes need --coordinator HOST:PORT (the address of process 0){where}")
    if cluster.coordinator is not None:
        host, _, port = cluster.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DistributedError(f"--coordinator {cluster.coordinator!r}: expected HOST:PORT with a port 1..65535")
        if n == 1:
            raise DistributedError(
                f"--coordinator {cluster.coordinator} given for a single process; pass --num-processes N"
            )


def options_digest(options: RunOptions) -> str:
    """sha256 of what the run computes: `options.json`'s content (progress bars excluded)."""
    content = {k: v for k, v in options.to_dict().items() if k != "progress"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------- start-up check over TCP


def _send(stream, message: dict) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def _mismatch(hello: dict, mine: dict) -> str | None:
    k = hello.get("process_id")
    if hello.get("num_processes") != mine["num_processes"]:
        return (
            f"process {k} was started with --num-processes {hello.get('num_processes')}, "
            f"process 0 with {mine['num_processes']}"
        )
    if not isinstance(k, int) or not 0 < k < mine["num_processes"]:
        return f"a process reported id {k!r}; the other processes need ids 1..{mine['num_processes'] - 1}"
    if hello.get("options") != mine["options"]:
        return (
            f"process {k} was started with other options than process 0 (options hash "
            f"{str(hello.get('options'))[:12]} vs {mine['options'][:12]}); start every process with the same flags"
        )
    if hello.get("jax") != mine["jax"]:
        return f"process {k} runs JAX {hello.get('jax')}, process 0 JAX {mine['jax']}; install the same versions"
    return None


def _coordinate(cluster: Cluster, mine: dict) -> dict[int, str]:
    """Process 0: wait for every other process's hello, check them, answer all; returns {process id: host}."""
    host, port = cluster.host_port
    deadline = time.monotonic() + cluster.timeout_s
    try:
        server = socket.create_server(("", port))  # all interfaces, like JAX's own coordinator
    except OSError as exc:
        raise DistributedError(f"--coordinator {cluster.coordinator}: cannot listen on port {port} ({exc})") from None
    peers, problems = [], []  # [(socket, stream, hello)]
    with server:
        server.settimeout(POLL_S)
        while len({p[2].get("process_id") for p in peers}) < cluster.num_processes - 1:
            if time.monotonic() > deadline:
                break
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(max(POLL_S, deadline - time.monotonic()))
            stream = conn.makefile("rwb")
            try:
                hello = json.loads(stream.readline() or b"{}")
            except (OSError, ValueError):  # not one of ours (a port scanner): ignore it
                stream.close()
                conn.close()
                continue
            if any(p[2].get("process_id") == hello.get("process_id") for p in peers):
                problems.append(f"two processes were started with --process-id {hello.get('process_id')}")
            problem = _mismatch(hello, mine)
            problems += [problem] if problem else []
            peers.append((conn, stream, hello))
    arrived = {0} | {p[2].get("process_id") for p in peers}
    missing = sorted(set(range(cluster.num_processes)) - arrived)
    if missing and not problems:
        problems.append(
            f"only {len(arrived)} of {cluster.num_processes} processes reached the coordinator "
            f"{cluster.coordinator} within {cluster.timeout_s:g} s (missing: {', '.join(map(str, missing))})"
        )
    hosts = {0: mine["host"], **{p[2]["process_id"]: p[2].get("host", "?") for p in peers if not problems}}
    reply = {"error": problems[0]} if problems else {"ok": True, "hosts": hosts}
    for conn, stream, _ in peers:
        try:
            _send(stream, reply)
            conn.settimeout(5.0)
            stream.readline()  # the peer closes first, so the port is free at once for JAX's coordinator
        except OSError:
            pass
        stream.close()
        conn.close()
    if problems:
        raise DistributedError(problems[0])
    return hosts


def _register(cluster: Cluster, mine: dict) -> dict[int, str]:
    """Process k > 0: say hello to process 0 and wait for its verdict; returns {process id: host}."""
    host, port = cluster.host_port
    deadline = time.monotonic() + cluster.timeout_s
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=max(POLL_S, min(5.0, deadline - time.monotonic())))
            break
        except socket.gaierror as exc:
            raise DistributedError(f"--coordinator {cluster.coordinator}: unknown host ({exc})") from None
        except OSError as exc:
            if time.monotonic() > deadline:
                raise DistributedError(
                    f"coordinator {cluster.coordinator} did not answer within {cluster.timeout_s:g} s ({exc}); "
                    "is process 0 running, and is its address reachable from here?"
                ) from None
            time.sleep(POLL_S)
    with conn, conn.makefile("rwb") as stream:
        _send(stream, mine)
        conn.settimeout(cluster.timeout_s + 10.0)  # process 0 answers once every process arrived, or at its deadline
        try:
            line = stream.readline()
        except OSError:
            line = b""
    if not line:
        raise DistributedError(f"coordinator {cluster.coordinator} closed the connection without a verdict")
    reply = json.loads(line)
    if "error" in reply:
        raise DistributedError(reply["error"])
    return {int(k): v for k, v in reply["hosts"].items()}


def handshake(cluster: Cluster, digest: str) -> dict[int, str]:
    """The start-up check of every process against process 0; returns {process id: host name}."""
    mine = {
        "process_id": cluster.process_id,
        "num_processes": cluster.num_processes,
        "options": digest,
        "jax": jax.__version__,
        "host": socket.gethostname(),
    }
    return _coordinate(cluster, mine) if cluster.process_id == 0 else _register(cluster, mine)


# ----------------------------------------------------------------------------- the job's processes

_failed = []


def _exit_at_once() -> None:
    """Registered after JAX's own exit handler, so it runs first: a failed process skips the shutdown barrier."""
    if _failed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


@contextmanager
def processes(options: RunOptions):
    """Run a job as one of its processes: check, join, share the cores; yields the options to run with.

    One process (the default): just one JAX CPU device per core.  Several:
    the start-up check, `jax.distributed.initialize`, this process's share
    of the host's cores as CPU devices, progress bars on process 0 only.
    """
    cluster = resolve(options.processes)
    if cluster.num_processes == 1:
        use_cpu_devices(cluster.cpu_devices)
        yield options
        return
    hosts = handshake(cluster, options_digest(options))
    on_this_host = sum(1 for h in hosts.values() if h == hosts[cluster.process_id])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=cluster.coordinator,
        num_processes=cluster.num_processes,
        process_id=cluster.process_id,
        initialization_timeout=max(1, round(cluster.timeout_s)),
        shutdown_timeout_seconds=SHUTDOWN_S,
    )
    atexit.register(_exit_at_once)
    use_cpu_devices(cluster.cpu_devices or max(1, (os.cpu_count() or 1) // on_this_host))
    try:
        yield replace(options, progress=options.progress and cluster.process_id == 0)
    except BaseException:
        _failed.append(True)
        raise
    jax.distributed.shutdown()


def is_writer() -> bool:
    """Process 0 writes the run folder; every process of a one-process job is process 0."""
    return jax.process_index() == 0


def multiprocess() -> bool:
    return jax.process_count() > 1


@contextmanager
def writer_first(task: str):
    """Process 0 runs the body first (generating the archive, filling caches), the others after it.

    When it fails there, the others stop too, with one line saying so, instead of waiting for it.
    """
    if not multiprocess():
        yield
        return
    if is_writer():
        try:
            yield
        except BaseException as exc:
            from_writer(f"{type(exc).__name__}: {exc}"[:1000])
            raise
        from_writer("")
        return
    failure = from_writer("")
    if failure:
        raise DistributedError(f"process 0 could not {task}: {failure}")
    yield


def from_writer(text: str) -> str:
    """Process 0's `text` on every process (e.g. the name of the run folder it created)."""
    if not multiprocess():
        return text
    data = text.encode()[:MAX_TEXT] if is_writer() else b""
    buffer = np.zeros(MAX_TEXT, np.uint8)
    buffer[: len(data)] = np.frombuffer(data, np.uint8)
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(buffer))).rstrip(b"\0").decode()


def check_agreement(what: str, value: str, hint: str = "") -> None:
    """Every process must hold the same `value` (compared by sha256); else one error on all of them."""
    if not multiprocess():
        return
    digest = np.frombuffer(hashlib.sha256(value.encode()).digest(), np.uint8)
    every = np.asarray(multihost_utils.process_allgather(digest))  # [process, 32]
    differ = [k for k in range(len(every)) if not np.array_equal(every[k], every[0])]
    if differ:
        raise DistributedError(
            f"process(es) {', '.join(map(str, differ))} disagree with process 0 on {what}"
            + (f"; {hint}" if hint else "")
        )
