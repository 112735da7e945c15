"""Run the benchmarks in turn: `python -m bench [NAME ...]` (each is also `python -m bench.<name>`).

Without names it runs the quick ones; `models` (per-epoch time of every built-in model, ~10 min) and
`scale` (processes x devices x seeds, ~15 min) run when named.
"""

import importlib
import sys

NAMES = ("synth", "ppg_parse", "bids", "features", "stats", "pulse_rate", "train")
ON_REQUEST = ("models", "scale")

if __name__ == "__main__":
    wanted = sys.argv[1:] or NAMES
    unknown = sorted(set(wanted) - set(NAMES) - set(ON_REQUEST))
    if unknown:
        sys.exit(f"error: unknown benchmark(s) {unknown}; known: {', '.join(NAMES + ON_REQUEST)}")
    for name in wanted:
        print(f"\n===== bench.{name} =====", flush=True)
        module = importlib.import_module(f"bench.{name}")
        sys.argv = [f"bench.{name}"]
        module.main()
