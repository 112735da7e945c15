"""One process of the two-process tiny fusion run of `tests/runs/test_distributed.py`.

`python -m tests.runs.distributed_child --out DIR --coordinator HOST:PORT --num-processes N --process-id K`
joins the job, runs the tiny fusion run of `tests/runs/test_pipeline.py` with training interrupted at
epoch 1 (in every process alike), resumes it, and prints one JSON line: the run folder and every file
this process wrote through `storage` or created as a run folder.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from restasmr_jax import manifest, storage
from restasmr_jax.learning import fit
from restasmr_jax.runs import distributed, pipeline
from restasmr_jax.runs.options import add_process_flags, process_options
from tests.runs.test_pipeline import tiny_options, tiny_tensor

CRASH_EPOCH = 1


class Interrupted(RuntimeError):
    pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    add_process_flags(parser)
    args = parser.parse_args(argv)
    written = []
    atomic_path, new_run_dir, epoch_batches = storage.atomic_path, manifest.new_run_dir, fit.epoch_batches

    def recording_atomic_path(path):
        written.append(str(path))
        return atomic_path(path)

    def recording_new_run_dir(*a, **kw):
        path = new_run_dir(*a, **kw)
        written.append(str(path))
        return path

    def crashing_epoch_batches(plan, epoch, stim):
        if epoch == CRASH_EPOCH:
            raise Interrupted(f"simulated crash at epoch {epoch}")
        return epoch_batches(plan, epoch, stim)

    storage.atomic_path, manifest.new_run_dir = recording_atomic_path, recording_new_run_dir
    tensor = tiny_tensor()
    options = replace(tiny_options(args.out), processes=process_options(args))
    with distributed.processes(options) as options:
        fit.epoch_batches = crashing_epoch_batches
        try:
            pipeline.run_fusion(options, tensor=tensor)
            raise AssertionError("the simulated crash did not happen")
        except Interrupted:
            pass
        fit.epoch_batches = epoch_batches
        (run_dir,) = list((args.out / "runs").iterdir())
        pipeline.run_fusion(replace(options, resume=run_dir), tensor=tensor)
    print(json.dumps({"process": args.process_id, "run_dir": str(run_dir), "written": written}), flush=True)


if __name__ == "__main__":
    main()
