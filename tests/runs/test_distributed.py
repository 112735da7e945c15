"""Several JAX processes (runs.distributed): who they are, the start-up check, and a two-process run.

The two-process run starts `tests.runs.distributed_child` twice on 127.0.0.1 (gloo collectives, one
CPU device each), bounded in time, and compares it with the same tiny run in this one process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from experiments import fusion as fusion_cli
from restasmr_jax.evidence.artifact import load_predictions
from restasmr_jax.runs import distributed, pipeline
from restasmr_jax.runs.distributed import Cluster, DistributedError
from restasmr_jax.runs.options import ProcessOptions
from tests.runs.test_pipeline import N_TIME, parse, tiny_options, tiny_tensor

ROOT = Path(__file__).parents[2]
CHILD_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- who the processes are


def test_first_slurm_host_of_compressed_node_lists():
    assert distributed.first_slurm_host("node001") == "node001"
    assert distributed.first_slurm_host("node001,host2") == "node001"
    assert distributed.first_slurm_host("gpu[003-007,012],cpu1") == "gpu003"
    assert distributed.first_slurm_host("gpu[012,003-007]") == "gpu012"
    assert distributed.first_slurm_host("a-b[09]") == "a-b09"


def test_flags_win_over_restasmr_variables_which_win_over_slurm():
    slurm = {"SLURM_NTASKS": "4", "SLURM_PROCID": "3", "SLURM_STEP_NODELIST": "gpu[07-10]", "SLURM_JOB_ID": "123"}
    assert distributed.resolve(ProcessOptions(), slurm) == Cluster(4, 3, "gpu07:20123", None, 300.0, "SLURM")
    ours = {**slurm, "RESTASMR_NUM_PROCESSES": "2", "RESTASMR_PROCESS_ID": "1", "RESTASMR_COORDINATOR": "h:1"}
    assert distributed.resolve(ProcessOptions(), ours)[:3] == (2, 1, "h:1")
    flags = ProcessOptions(coordinator="127.0.0.1:5", num_processes=3, process_id=0, cpu_devices=2, timeout_s=9)
    assert distributed.resolve(flags, ours) == Cluster(3, 0, "127.0.0.1:5", 2, 9, "flags")
    port = {**slurm, "RESTASMR_COORDINATOR_PORT": "4242"}
    assert distributed.resolve(ProcessOptions(), port).coordinator == "gpu07:4242"
    # one SLURM task, or no variables at all: one process, no coordinator
    assert distributed.resolve(ProcessOptions(), {"SLURM_NTASKS": "1", "SLURM_PROCID": "0"})[:3] == (1, 0, None)
    assert distributed.resolve(ProcessOptions(), {}) == Cluster(1, 0, None, None, 300.0, "default")


@pytest.mark.parametrize(
    "flags, env, message",
    [
        (ProcessOptions(num_processes=2, process_id=2, coordinator="h:1"), {}, "--process-id 2 is out of range"),
        (ProcessOptions(num_processes=2, process_id=-1, coordinator="h:1"), {}, "out of range for 2 processes"),
        (ProcessOptions(), {"SLURM_NTASKS": "2", "SLURM_PROCID": "5"}, r"ids 0..1\) \(from SLURM\)"),
        (ProcessOptions(num_processes=2, process_id=1), {}, "need --coordinator HOST:PORT"),
        (ProcessOptions(num_processes=2, process_id=1, coordinator="host"), {}, "expected HOST:PORT"),
        (ProcessOptions(num_processes=2, process_id=1, coordinator="h:70000"), {}, "port 1..65535"),
        (ProcessOptions(coordinator="h:1"), {}, "given for a single process"),
        (ProcessOptions(num_processes=0), {}, "at least 1"),
        (ProcessOptions(cpu_devices=0), {}, "--cpu-devices must be at least 1"),
        (ProcessOptions(timeout_s=0), {}, "--start-timeout must be positive"),
        (ProcessOptions(), {"RESTASMR_NUM_PROCESSES": "two"}, "RESTASMR_NUM_PROCESSES='two': expected an integer"),
    ],
)
def test_layouts_that_cannot_start_are_refused(flags, env, message):
    with pytest.raises(DistributedError, match=message):
        distributed.resolve(flags, env)


def test_options_digest_ignores_progress_and_processes_but_not_what_the_run_computes(tmp_path):
    options = tiny_options(tmp_path)
    digest = distributed.options_digest(options)
    assert distributed.options_digest(replace(options, progress=True, processes=ProcessOptions(num_processes=2))) == (
        digest
    )
    assert distributed.options_digest(replace(options, train=replace(options.train, epochs=3))) != digest
    assert "processes" not in options.to_dict()


# ----------------------------------------------------------------------------- the start-up check


def handshake_pair(digests, n=2):
    """Process 0's and process 1's start-up check in two threads; returns what each gave or raised."""
    port = free_port()
    results = {}

    def run(k):
        cluster = Cluster(n, k, f"127.0.0.1:{port}", None, 10.0, "flags")
        try:
            results[k] = distributed.handshake(cluster, digests[k])
        except DistributedError as exc:
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_handshake_agrees_on_the_hosts_when_options_match():
    results = handshake_pair(["a" * 64, "a" * 64])
    host = socket.gethostname()
    assert results == {0: {0: host, 1: host}, 1: {0: host, 1: host}}


def test_handshake_with_mismatched_options_fails_on_every_process():
    results = handshake_pair(["a" * 64, "b" * 64])
    for k in (0, 1):
        assert isinstance(results[k], DistributedError)
        assert "process 1 was started with other options than process 0" in str(results[k])


def test_coordinator_waiting_for_a_missing_process_times_out():
    cluster = Cluster(3, 0, f"127.0.0.1:{free_port()}", None, 0.5, "flags")
    with pytest.raises(DistributedError, match=r"only 1 of 3 processes reached .* within 0.5 s \(missing: 1, 2\)"):
        distributed.handshake(cluster, "a" * 64)


# ----------------------------------------------------------------------------- bad input on the command line


def run_cli(argv, out: Path, capsys) -> str:
    """experiments.fusion with `argv`; must exit 1 with one `error:` line and write nothing."""
    with pytest.raises(SystemExit) as exit_info:
        fusion_cli.main([*argv, "--out", str(out), "--no-progress", "--quick"])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert not out.exists()
    assert capsys.readouterr().out == ""
    return message


def test_cli_process_id_out_of_range(tmp_path, capsys):
    argv = ["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"]
    assert "--process-id 2 is out of range for 2 processes" in run_cli(argv, tmp_path / "runs", capsys)


def test_cli_coordinator_that_never_answers(tmp_path, capsys):
    argv = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2", "--process-id", "1"]
    message = run_cli([*argv, "--start-timeout", "1"], tmp_path / "runs", capsys)
    assert f"coordinator 127.0.0.1:{argv[1].split(':')[1]} did not answer within 1 s" in message


def test_cli_mismatched_options_between_processes(tmp_path, capsys):
    """Process 1 is started with --epochs 3, process 0 (here a thread) without: both refuse to start."""
    port, out = free_port(), tmp_path / "runs"
    argv = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--quick"]
    digest = distributed.options_digest(parse([*argv, "--process-id", "0", "--out", str(out), "--no-progress"]))
    verdict = []

    def process_0():
        try:
            distributed.handshake(Cluster(2, 0, f"127.0.0.1:{port}", None, 10.0, "flags"), digest)
        except DistributedError as exc:
            verdict.append(str(exc))

    coordinator = threading.Thread(target=process_0, daemon=True)
    coordinator.start()
    message = run_cli([*argv, "--process-id", "1", "--epochs", "3"], out, capsys)
    coordinator.join(15)
    assert "process 1 was started with other options than process 0" in message
    assert verdict and verdict[0] in message


# ----------------------------------------------------------------------------- two processes, one run


@pytest.mark.slow
def test_two_processes_interrupted_and_resumed_give_the_one_process_predictions(tmp_path):
    """`--seeds 2`-sized tiny fusion run on 2 processes x 1 CPU device: crash at epoch 1, resume; the
    same predicted classes as one uninterrupted process, probabilities within 1e-5; process 0 alone
    writes; the manifest records the processes, devices and mesh."""
    port, out = free_port(), tmp_path / "two"
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "tests.runs.distributed_child", "--out", str(out)]
    command += ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--start-timeout", "120"]
    children = [
        subprocess.Popen(
            [*command, "--process-id", str(k)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for k in (0, 1)
    ]
    try:
        outputs = [child.communicate(timeout=CHILD_TIMEOUT_S) for child in children]
    except subprocess.TimeoutExpired:
        outputs = None
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert outputs is not None, f"the two processes did not finish within {CHILD_TIMEOUT_S} s"
    for child, (_, stderr) in zip(children, outputs):
        assert child.returncode == 0, stderr.decode()[-3000:]
    reports = [json.loads(stdout.decode().strip().splitlines()[-1]) for stdout, _ in outputs]
    run_dir = Path(reports[0]["run_dir"])
    assert reports[1]["run_dir"] == str(run_dir)
    assert reports[1]["written"] == [] and str(run_dir / "predictions" / "seed0.pkl") in reports[0]["written"]
    assert not list(run_dir.rglob("ocdbt.process_1"))  # the checkpoint's arrays too came from process 0 alone

    single = pipeline.run_fusion(tiny_options(tmp_path / "one"), tensor=tiny_tensor())
    for seed in (0, 1):
        two = load_predictions(run_dir / "predictions" / f"seed{seed}.pkl", n_frames=N_TIME)
        one = load_predictions(single / "predictions" / f"seed{seed}.pkl", n_frames=N_TIME)
        np.testing.assert_array_equal(two.preds, one.preds)
        np.testing.assert_allclose(two.probs, one.probs, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(two.subject, one.subject)

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and [a["status"] for a in manifest["attempts"]] == ["failed", "complete"]
    backend = manifest["jax_backend"]
    assert (backend["process_count"], backend["process_index"], len(backend["devices"])) == (2, 0, 2)
    assert len(backend["local_devices"]) == 1
    mesh = manifest["replica_mesh"]["fusion"]
    assert (mesh["devices"], mesh["processes"], mesh["replicas"], mesh["inert_padding"]) == (2, 2, 8, 0)
