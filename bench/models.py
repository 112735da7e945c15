"""Per-epoch training time of every built-in model beside the BiLSTM's, in one run (SPEC §7, benchmark).

Every model trains in the same jitted, vmapped seeds x folds program
(`restasmr_jax.learning.fit`) on random arrays of the real shapes (272
trials x 550 frames x 544 features, the real folds; `bench.train`'s
tensor), one CPU device per core.  Each model runs in a fresh process so
that compilations and allocator state do not leak between them, and with
`--rounds` the models are interleaved so that drifting load from other
processes hits all of them alike.  The first epoch (compilation) is
reported apart; the median and best timed epochs are compared with the
BiLSTM's, and the full protocol (35 epochs) is projected from the best.
XGBoost has no epochs; `--xgboost` times its whole 4-fold fit once.

Run: `python -m bench.models [--epochs 3] [--rounds 1] [--models bilstm,tcn,...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench.train import HUGETLB, random_tensor


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.models",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model after one warm-up (default 3)")
    parser.add_argument("--rounds", type=int, default=1, help="interleave the models this many times (default 1)")
    parser.add_argument(
        "--models",
        default="bilstm,bigru,tcn,transformer,mlp",
        help="comma-separated registry names or file.py:Class (default: every Flax built-in; bilstm is always timed)",
    )
    parser.add_argument("--xgboost", action="store_true", help="also time one full 4-fold XGBoost fit")
    parser.add_argument(
        "--jax-devices", type=int, default=os.cpu_count() or 1, help="JAX CPU devices (default: one per core)"
    )
    parser.add_argument("--no-hugetlb", action="store_true", help=f"do not set GLIBC_TUNABLES={HUGETLB}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_model(args) -> dict:
    """One model's epochs, in this (child) process."""
    from restasmr_jax.learning.replicas import use_cpu_devices

    use_cpu_devices(args.jax_devices)
    import jax

    from restasmr_jax.config import TrainConfig
    from restasmr_jax.learning import fit as train
    from restasmr_jax.learning.models import parse_model
    from restasmr_jax.learning.models.registry import n_parameters
    from restasmr_jax.learning.splits import make_splits

    cfg = TrainConfig()
    tensor = random_tensor()
    splits = make_splits(tensor.subject, cfg)
    spec = parse_model(args.child)
    if spec.is_xgboost:
        from restasmr_jax.config import XGBConfig
        from restasmr_jax.learning.xgb import run_xgb

        start = time.perf_counter()
        run_xgb(tensor, splits, XGBConfig(), progress=False)
        return {"model": spec.name, "fit_s": time.perf_counter() - start}
    tagger = spec.tagger(cfg)
    session = train.make_session(tensor, splits, cfg, model=tagger)
    state = session.init_state()
    times = []
    for epoch in range(1 + args.epochs):
        start = time.perf_counter()
        state, _, _ = session.run_epoch(state, epoch)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    return {
        "model": spec.name,
        "first_epoch_s": times[0],
        "epoch_s": times[1:],
        "n_params": n_parameters(tagger, session.n_features),
        "epochs": cfg.epochs,
    }


def run_child(model: str, args) -> dict:
    env = dict(os.environ)
    if not args.no_hugetlb:
        env["GLIBC_TUNABLES"] = HUGETLB
    env.setdefault("JAX_PLATFORMS", "cpu")
    cmd = [sys.executable, "-m", "bench.models", "--child", model, "--epochs", str(args.epochs)]
    cmd += ["--jax-devices", str(args.jax_devices)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench.models {model} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results: dict[str, dict], load_at_start: float) -> None:
    print(
        f"1-min load average at start {load_at_start:.2f}, at end {os.getloadavg()[0]:.2f} "
        f"({os.cpu_count()} CPUs, shared with other work)"
    )
    base = results["bilstm"]
    base_median, base_best = statistics.median(base["epoch_s"]), min(base["epoch_s"])
    print(
        f"{'model':>12} | {'params':>9} | {'first epoch':>11} | {'median':>7} | {'best':>7} | "
        f"{'BiLSTM/model':>12} | 35 epochs"
    )
    for name, r in results.items():
        if "fit_s" in r:
            print(f"{name:>12} | {'-':>9} | {'-':>11} | {'-':>7} | {'-':>7} | {'-':>12} | {r['fit_s']:.0f} s (4 folds)")
            continue
        median, best = statistics.median(r["epoch_s"]), min(r["epoch_s"])
        print(
            f"{name:>12} | {r['n_params']:>9,} | {r['first_epoch_s']:>9.2f} s | {median:>5.2f} s | {best:>5.2f} s | "
            f"{base_median / median:>5.2f}x med | {r['epochs'] * best / 60:.1f} min "
            f"({base_best / best:.2f}x best)"
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_model(args)))
        return
    models = list(dict.fromkeys(["bilstm", *[m.strip() for m in args.models.split(",") if m.strip()]]))
    if args.xgboost:
        models.append("xgboost")
    load_at_start = os.getloadavg()[0]
    pooled: dict[str, dict] = {}
    for round_index in range(args.rounds):
        for model in models:
            if model == "xgboost" and round_index:
                continue
            print(f"round {round_index + 1}/{args.rounds}: {model} ...", flush=True)
            result = run_child(model, args)
            if model in pooled and "epoch_s" in result:
                pooled[model]["epoch_s"] += result["epoch_s"]
                pooled[model]["first_epoch_s"] = min(pooled[model]["first_epoch_s"], result["first_epoch_s"])
            else:
                pooled[model] = result
    report(pooled, load_at_start)


if __name__ == "__main__":
    main()
