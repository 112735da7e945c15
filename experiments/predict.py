"""Re-predict a finished run from its best checkpoints and check it is bit-identical.

python -m experiments.predict --run DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restasmr_jax.runs import jobs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.predict",
        description="Reload the best Orbax checkpoints of a run made by experiments.fusion (or of every model "
        "of an experiments.ablations run), rebuild the same feature tensor from the cache, predict "
        "the test sets again and compare them exactly with the saved predictions. Writes "
        "RUN_DIR/repredict.json; exits with status 1 when anything differs.",
    )
    parser.add_argument("--run", type=Path, required=True, metavar="RUN_DIR", help="the run folder to re-predict")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return jobs.cli(jobs.predict, args.run, progress=not args.no_progress)


if __name__ == "__main__":
    sys.exit(0 if main()["identical"] else 1)
