"""Throughput of the seed x fold program across processes and devices, and over seeds (SPEC §7).

Trains the project's program (`learning.fit.make_session` + `run_epoch`, the
paper's BiLSTM, batch 16) on random arrays of the real shapes (272 trials x
550 frames x 544 features, the real folds; `--frames` shortens the trials
for a quick look) and reports trial-epochs per second: real training
trials x epochs of every seed x fold replica, per second of the timed
epochs (each followed by its validation pass, as in a run).

Two sweeps, printed side by side in one run:

- layouts, 4 replicas (1 seed x 4 folds): 1 process x 1 device, 2 processes
  x 1 device (`jax.distributed` over 127.0.0.1, gloo collectives), 1 process
  x 2 devices.  On CPU a device is a share of the cores (`--cpu-devices`);
  on a machine with 2 or more GPUs each process sees its own GPU
  (`CUDA_VISIBLE_DEVICES`); with one GPU the layouts are skipped;
- seeds: `--seeds 1 4 8` in one process on every device there is.

Every configuration runs in fresh processes (the device count is fixed when
JAX starts); the first epoch (compilation) is reported apart and the
median timed epoch is compared.  Timings move with the machine's load: the
load average is printed at the start and the end.

Run: `python -m bench.scale [--epochs 2] [--frames 550] [--seeds 1 4 8]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace

from bench.train import random_tensor

CHILD_TIMEOUT_S = 3600


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch (default 2)")
    parser.add_argument("--frames", type=int, default=550, help="frames per trial (default 550, the real length)")
    parser.add_argument("--hidden", type=int, default=None, help="LSTM units per direction (default: the paper's)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 4, 8], help="seed counts of the seeds sweep (default 1 4 8)"
    )
    parser.add_argument("--no-layouts", action="store_true", help="skip the processes x devices sweep")
    parser.add_argument("--no-hugetlb", action="store_true", help="do not set GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
    child = parser.add_argument_group("one measured process (internal)")
    child.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    child.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    child.add_argument("--child-seeds", type=int, default=1, help=argparse.SUPPRESS)
    child.add_argument("--cpu-devices", type=int, default=None, help=argparse.SUPPRESS)
    child.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    child.add_argument("--num-processes", type=int, default=None, help=argparse.SUPPRESS)
    child.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or not 1 <= args.frames <= 550 or min(args.seeds) < 1:
        parser.error("need --epochs >= 1, 1 <= --frames <= 550 and seed counts >= 1")
    return args


# ----------------------------------------------------------------------------- one measured process


def short_tensor(frames: int):
    """`bench.train.random_tensor` cut to its first `frames` frames."""
    import numpy as np

    tensor = random_tensor()
    mask = tensor.mask[:, :frames]
    return replace(
        tensor,
        av=np.ascontiguousarray(tensor.av[:, :frames]),
        ppg=np.ascontiguousarray(tensor.ppg[:, :frames]),
        y=np.ascontiguousarray(tensor.y[:, :frames]),
        intensity=np.ascontiguousarray(tensor.intensity[:, :frames]),
        mask=np.ascontiguousarray(mask),
        n_valid=mask.sum(axis=1).astype(np.int32),
    )


def run_child(args) -> dict | None:
    """Time `args.epochs` epochs after a warm-up; process 0 returns the figures."""
    from restasmr_jax.config import TrainConfig
    from restasmr_jax.runs import distributed
    from restasmr_jax.runs.options import ProcessOptions, RunOptions

    cfg = TrainConfig(n_seeds=args.child_seeds, **({"hidden": args.hidden} if args.hidden else {}))
    processes = ProcessOptions(args.coordinator, args.num_processes, args.process_id, args.cpu_devices, 120.0)
    with distributed.processes(RunOptions(train=cfg, processes=processes)):
        import jax

        from restasmr_jax.learning import fit
        from restasmr_jax.learning.splits import make_splits

        tensor = short_tensor(args.frames)
        session = fit.make_session(tensor, make_splits(tensor.subject, cfg), cfg)
        state = session.init_state()
        times = []
        for epoch in range(1 + args.epochs):
            start = time.perf_counter()
            state, _, _ = session.run_epoch(state, epoch)  # brings the epoch's metrics to the host: synchronous
            times.append(time.perf_counter() - start)
        trial_epochs = cfg.n_seeds * sum(len(rows) for rows in session.plan.train_rows)
        if jax.process_index() != 0:
            return None
        return {
            "first_epoch_s": times[0],
            "epoch_s": times[1:],
            "trial_epochs_per_epoch": trial_epochs,
            "mesh": session.place.describe(),
            "backend": jax.default_backend(),
            "device_kind": jax.devices()[0].device_kind,
        }


def probe() -> dict:
    import jax

    return {"backend": jax.default_backend(), "devices": len(jax.devices()), "cores": os.cpu_count() or 1}


# ----------------------------------------------------------------------------- the parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(args, gpus: list[int] | None = None) -> dict:
    env = dict(os.environ)
    if not args.no_hugetlb:
        env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    return env


def launch(args, *, seeds: int, processes: int, devices: int | None, backend: str) -> dict:
    """One configuration: `processes` fresh processes of `devices` each (None: all); process 0's figures."""
    base = [sys.executable, "-m", "bench.scale", "--child", "--child-seeds", str(seeds)]
    base += ["--epochs", str(args.epochs), "--frames", str(args.frames)]
    base += ["--hidden", str(args.hidden)] if args.hidden else []
    base += ["--cpu-devices", str(devices)] if backend == "cpu" and devices else []
    if processes > 1:
        base += ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", str(processes)]

    def gpus(k):  # process k's own GPUs in a layout; every GPU otherwise
        return list(range(k * devices, (k + 1) * devices)) if backend == "gpu" and devices else None

    children = [
        subprocess.Popen(
            [*base, *(["--process-id", str(k)] if processes > 1 else [])],
            env=child_env(args, gpus(k)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    try:
        outputs = [child.communicate(timeout=CHILD_TIMEOUT_S) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, stderr) in zip(children, outputs):
        if child.returncode != 0:
            raise SystemExit(f"error: a measured process failed:\n{stderr[-3000:]}")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def throughput(result: dict) -> float:
    return result["trial_epochs_per_epoch"] / statistics.median(result["epoch_s"])


def table(rows: list[tuple[str, dict]], reference: dict) -> str:
    lines = [
        "| configuration | replicas (padded) | first epoch s | median epoch s | trial-epochs/s | vs first row |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        mesh = r["mesh"]
        lines.append(
            f"| {name} | {mesh['replicas']} ({mesh['padded_to']}) on {mesh['devices']} {r['backend']} device(s), "
            f"{mesh['processes']} process(es) | {r['first_epoch_s']:.1f} | {statistics.median(r['epoch_s']):.2f} | "
            f"{throughput(r):.1f} | {throughput(r) / throughput(reference):.2f}x |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return
    if args.child:
        result = run_child(args)
        if result is not None:
            print(json.dumps(result), flush=True)
        return
    load_at_start = os.getloadavg()[0]
    found = json.loads(
        subprocess.run(
            [sys.executable, "-m", "bench.scale", "--probe"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
    )
    backend, n_devices = found["backend"], found["devices"] if found["backend"] != "cpu" else found["cores"]
    print(
        f"bench.scale: {args.frames} frames per trial, {args.epochs} timed epoch(s) after a warm-up, "
        f"{backend} backend, {n_devices} device(s) available",
        flush=True,
    )
    if not args.no_layouts:
        if backend != "cpu" and n_devices < 2:
            print("layouts skipped: they need 2 devices and this machine has 1 GPU")
        else:
            layouts = [
                ("1 process x 1 device", 1, 1),
                ("2 processes x 1 device", 2, 1),
                ("1 process x 2 devices", 1, 2),
            ]
            rows = []
            for name, processes, devices in layouts:
                print(f"timing {name} ...", flush=True)
                rows.append((name, launch(args, seeds=1, processes=processes, devices=devices, backend=backend)))
            print("\nLayouts (1 seed x 4 folds):\n")
            print(table(rows, rows[0][1]))
    rows = []
    for seeds in args.seeds:
        print(f"timing --seeds {seeds} on {n_devices} device(s) ...", flush=True)
        result = launch(
            args, seeds=seeds, processes=1, devices=n_devices if backend == "cpu" else None, backend=backend
        )
        rows.append((f"--seeds {seeds} (x 4 folds)", result))
    print(f"\nSeeds, 1 process on every device ({n_devices}):\n")
    print(table(rows, rows[0][1]))
    print(
        f"\n1-min load average at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f} "
        f"({found['cores']} cores; timings move with other work on the machine)"
    )


if __name__ == "__main__":
    main()
