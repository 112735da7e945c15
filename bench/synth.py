"""Full synthetic archive generation time vs the 3-minute goal, and the PPG writer vs a naive one (SPEC §12).

    python -m bench.synth [--subjects N] [--seed S] [--out DIR]

Prints, in one run: the end-to-end `generate_archive` wall time for the
34-participant archive next to the 180-s goal (ratio), the per-participant
and per-clip cost, the archive size, and the vectorised Biopac writer
(Polars, time strings formatted once) next to `numpy.savetxt` on the same
participant (ratio).  The machine's load average is printed because the
2 cores are shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from restasmr_jax.config import SUBJECT_IDS, SynthConfig
from restasmr_jax.synth import generate_archive, simulate_subject
from restasmr_jax.synth.biopac_export import minute_column, write_biopac
from restasmr_jax.synth.media import write_stimulus

GOAL_SECONDS = 180.0


def _timed(fn, *args, **kwargs) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=len(SUBJECT_IDS), help="participants (default: all 34)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="keep the archive in this new folder (default: a temporary folder, deleted)",
    )
    args = parser.parse_args(argv)
    cfg = SynthConfig(seed=args.seed, n_subjects=args.subjects)
    work = Path(tempfile.mkdtemp(prefix="bench-synth-"))
    out = args.out or work / "archive"
    try:
        print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f} (cores shared with other work)")
        wall, cpu = _timed(generate_archive, out, cfg, progress=True)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        stim = sum(p.stat().st_size for p in (out / "stim").iterdir())
        print(
            f"\nfull archive, {cfg.n_subjects} participants + 8 clips: {wall:7.1f} s wall ({cpu:.1f} s CPU), "
            f"{size / 1e9:.2f} GB (stimuli {stim / 1e6:.1f} MB)"
        )
        verdict = (
            f"{GOAL_SECONDS / wall:.2f}x under the goal"
            if wall < GOAL_SECONDS
            else f"{wall / GOAL_SECONDS:.2f}x OVER the goal"
        )
        print(f"goal                                            {GOAL_SECONDS:7.1f} s   -> {verdict}")

        sim_wall, _ = _timed(simulate_subject, cfg, SUBJECT_IDS[0])
        sim = simulate_subject(cfg, SUBJECT_IDS[0])
        minutes = minute_column(sim.ch1.shape[0], sim.interval_ms)
        polars_wall, _ = _timed(
            write_biopac,
            work / "polars.txt",
            1,
            sim.ch1,
            sim.ch2,
            interval_ms=sim.interval_ms,
            decimals=cfg.ppg_decimals,
            japanese=False,
            count_row=True,
            minutes=minutes,
        )
        table = np.column_stack([np.arange(sim.ch1.shape[0]) / 120_000.0, sim.ch1, sim.ch2])
        savetxt_wall, _ = _timed(np.savetxt, work / "savetxt.txt", table, fmt=["%.6g", "%.6f", "%.6f"], delimiter="\t")
        clip_wall, _ = _timed(write_stimulus, work / "ASMR2.avi", cfg, "vid2")
        print(
            f"\none participant: simulate {sim_wall:.2f} s, write PPG text {polars_wall:.2f} s; "
            f"one clip {clip_wall:.2f} s"
        )
        print(f"PPG text, Polars writer (time strings reused)   {polars_wall:7.2f} s")
        print(
            f"PPG text, numpy.savetxt (row loop)              {savetxt_wall:7.2f} s   -> "
            f"{savetxt_wall / polars_wall:.1f}x slower"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
