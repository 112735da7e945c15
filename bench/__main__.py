"""Run every benchmark in turn: `python -m bench` (each is also `python -m bench.<name>`)."""

import importlib
import sys

NAMES = ("synth", "ppg_parse", "bids", "features", "stats", "pulse_rate", "train")

if __name__ == "__main__":
    wanted = sys.argv[1:] or NAMES
    for name in wanted:
        print(f"\n===== bench.{name} =====", flush=True)
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        module.main()
