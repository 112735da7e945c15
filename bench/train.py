"""Training cost of the full protocol: this project's 4-fold program vs a PyTorch reference (SPEC §7).

Both sides train on random arrays of the real shapes (272 trials x 550
frames x 544 features, 34 participants x 8 videos, the real folds: 144,
144, 144 and 132 training trials, 12 validation trials each), batch 16,
hidden 128, 2 layers, dropout 0.3, Adam 5e-4, class-weighted cross-entropy.

- jax: `restasmr_jax.learning.fit`'s program -- all folds in one jitted, vmapped
  step with the shared stimulus projection, one CPU device per core
  (`--jax-devices`), the fold axis sharded over them.
- torch: written the way the authors' code works: per fold a fresh
  `torch.nn.LSTM(544, 128, num_layers=2, bidirectional=True, dropout=0.3)`
  + `Linear(256, 2)`, `CrossEntropyLoss(weight=...)`, a shuffled
  `DataLoader` over the dense per-trial arrays, folds one after another,
  a no-grad validation pass after every epoch.

Each side runs in its own process with the same environment (by default
`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`: transparent huge pages for
malloc, which removes most first-touch page faults on fresh buffers and
speeds up both sides; `--no-hugetlb` leaves the environment alone).  The
first epoch (compilation, allocator warm-up) is reported apart; both the
best and the median timed epoch are compared (on a CPU shared with other
work the best epoch is the estimate of the unloaded speed; `--rounds`
alternates the two sides to expose both to the same load).  Throughput is given
in dense-model GFLOP/s: one forward frame of the model is 2.16 MFLOP,
training counts 3x (forward + backward), validation 1x, so one fold-epoch
with 144 training trials is ~528 GFLOP.  The JAX program executes fewer
FLOPs than that (shared projection, no data gradient), which is the
point; its executed count is printed too.

Run: `python -m bench.train [--epochs 3] [--side both|jax|torch]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HUGETLB = "glibc.malloc.hugetlb=1"
NOMINAL_GFLOPS = 157.0  # the 2-core AMD EPYC this was measured on, AVX2 + FMA, fp32


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="timed epochs per side after one warm-up epoch (default 3; the median is compared)",
    )
    parser.add_argument(
        "--side",
        choices=("both", "jax", "torch"),
        default="both",
        help="which implementation(s) to time (default both)",
    )
    parser.add_argument(
        "--jax-devices",
        type=int,
        default=os.cpu_count() or 1,
        help="JAX CPU devices the fold axis is sharded over (default: one per core)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds trained side by side by the JAX program (default 1; the torch reference always trains one)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the two sides this many times (fresh processes each round) and pool the "
        "timed epochs, so that drifting load from other processes hits both alike (default 1)",
    )
    parser.add_argument(
        "--no-hugetlb", action="store_true", help=f"do not set GLIBC_TUNABLES={HUGETLB} for the two measured processes"
    )
    parser.add_argument("--child", choices=("jax", "torch"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- shared set-up


def random_tensor(seed: int = 0):
    """A TrialTensor of the real shapes filled with random numbers (34 participants x 8 videos)."""
    import numpy as np

    from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES, FeatureConfig, ProtocolConfig, condition_of
    from restasmr_jax.tensor.trial_tensor import TrialTensor

    rng = np.random.default_rng(seed)
    protocol, features = ProtocolConfig(), FeatureConfig()
    n_time = protocol.padded_frames
    subjects = np.repeat(np.array(SUBJECT_IDS, np.int32), len(VIDEO_CODES))
    videos = np.tile(np.array(VIDEO_CODES), len(SUBJECT_IDS))
    trial_index = np.concatenate([rng.permutation(len(VIDEO_CODES)) for _ in SUBJECT_IDS]).astype(np.int32)
    n_valid = np.array([protocol.n_frames_for(int(i)) for i in trial_index], np.int32)
    mask = np.arange(n_time)[None, :] < n_valid[:, None]
    condition = np.array([condition_of(v) for v in videos])
    intensity = np.where(mask & (condition == "ASMR")[:, None], rng.integers(0, 4, mask.shape), 0).astype(np.int8)
    av = rng.normal(size=(len(VIDEO_CODES), n_time, features.video_dim + features.audio_dim)).astype(np.float32)
    return TrialTensor(
        av=av,
        ppg=np.where(mask, rng.normal(size=mask.shape), 0).astype(np.float32),
        stim_index=np.tile(np.arange(len(VIDEO_CODES), dtype=np.int32), len(SUBJECT_IDS)),
        y=(intensity > 0).astype(np.int32),
        intensity=intensity,
        mask=mask,
        subject=subjects,
        video=videos,
        trial_index=trial_index,
        condition=condition,
        n_valid=n_valid,
        provenance={"source": "random arrays for bench.train"},
    )


def dense_flops_per_frame(n_in: int, hidden: int, layers: int, n_classes: int = 2) -> int:
    """Forward FLOPs of one frame of the dense bidirectional model (2 per multiply-add)."""
    flops, width = 0, n_in
    for _ in range(layers):
        flops += 2 * 2 * (width + hidden) * 4 * hidden  # 2 directions, input + recurrent matmuls
        width = 2 * hidden
    return flops + 2 * width * n_classes


def fold_sizes(tensor, cfg):
    from restasmr_jax.learning.splits import make_splits, trial_indices

    splits = make_splits(tensor.subject, cfg)
    return splits, [tuple(len(r) for r in trial_indices(tensor, s)) for s in splits]


def epoch_gflop(sizes, n_time: int, per_frame: int) -> float:
    """Dense-model GFLOP of one epoch of all folds: training 3x forward, validation 1x."""
    return sum((3 * n_train + n_val) * n_time * per_frame for n_train, n_val, _ in sizes) / 1e9


# ----------------------------------------------------------------------------- the two sides


def run_jax(args) -> dict:
    from restasmr_jax.learning.replicas import use_cpu_devices

    n_devices = use_cpu_devices(args.jax_devices)  # before JAX starts
    import jax

    from restasmr_jax.config import TrainConfig
    from restasmr_jax.learning import fit as train

    cfg = TrainConfig(n_seeds=args.seeds)
    tensor = random_tensor()
    splits, sizes = fold_sizes(tensor, cfg)
    session = train.make_session(tensor, splits, cfg)
    state = session.init_state()
    times = []
    for epoch in range(1 + args.epochs):
        start = time.perf_counter()
        state, loss, _ = session.run_epoch(state, epoch)
        times.append(time.perf_counter() - start)
    jax.block_until_ready(state)
    return {
        "side": "jax",
        "first_epoch_s": times[0],
        "epoch_s": times[1:],
        "devices": n_devices,
        "sharded": session.place.replica is not None,
        "seeds": args.seeds,
        "sizes": sizes,
        "executed_gflop": executed_gflop(session, cfg, tensor.ppg.shape[1]),
        "jax": jax.__version__,
    }


def executed_gflop(session, cfg, n_time: int) -> float:
    """FLOPs the JAX program runs per epoch (all replicas): shared first-layer projection (forward + weight
    gradient only), the rest of the model 3x per training frame and 1x per validation frame, padding trials
    included."""
    plan = session.plan
    n_shared = session.data.shared.shape[-1]
    n_stim = session.train_stimuli[0].shape[1]
    gates = 2 * 4 * cfg.hidden
    rest = dense_flops_per_frame(0, cfg.hidden, cfg.layers)  # everything but the first input projection
    per_step = 2 * (n_stim * n_time * 2 * n_shared * gates) + 3 * cfg.batch_size * n_time * rest
    val_trials = session.val_batches.rows.shape[1] * session.val_batches.rows.shape[2]
    per_val = n_stim * n_time * 2 * n_shared * gates + val_trials * n_time * rest
    return plan.n_replicas * (plan.n_steps * per_step + per_val) / 1e9


def run_torch(args) -> dict:
    import numpy as np
    import torch

    from restasmr_jax.config import TrainConfig
    from restasmr_jax.learning.splits import trial_indices

    cfg = TrainConfig()
    torch.manual_seed(cfg.seed)
    tensor = random_tensor()
    splits, sizes = fold_sizes(tensor, cfg)
    x_all = tensor.X("fusion")
    n_in = x_all.shape[-1]

    class Trials(torch.utils.data.Dataset):
        def __init__(self, rows):
            self.x = [x_all[r] for r in rows]
            self.y = [tensor.y[r].astype(np.int64) for r in rows]

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return torch.from_numpy(self.x[i]), torch.from_numpy(self.y[i])

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(
                n_in, cfg.hidden, num_layers=cfg.layers, batch_first=True, bidirectional=True, dropout=cfg.dropout
            )
            self.head = torch.nn.Linear(2 * cfg.hidden, 2)

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    per_fold = []
    for split in splits:
        train_rows, val_rows, _ = trial_indices(tensor, split)
        train_ds, val_ds = Trials(train_rows), Trials(val_rows)
        labels = np.concatenate(train_ds.y)
        counts = np.bincount(labels, minlength=2)
        criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor(labels.size / (2.0 * counts), dtype=torch.float32))
        model = Model()
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        loader = torch.utils.data.DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True)
        val_loader = torch.utils.data.DataLoader(val_ds, batch_size=cfg.batch_size, shuffle=False)
        times = []
        for _ in range(1 + args.epochs):
            start = time.perf_counter()
            model.train()
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = criterion(model(xb).transpose(1, 2), yb)
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for xb, _ in val_loader:
                    model(xb).argmax(-1)
            times.append(time.perf_counter() - start)
        per_fold.append(times)
    epoch_s = [sum(f[e] for f in per_fold) for e in range(1, 1 + args.epochs)]
    return {
        "side": "torch",
        "first_epoch_s": sum(f[0] for f in per_fold),
        "epoch_s": epoch_s,
        "threads": torch.get_num_threads(),
        "sizes": sizes,
        "torch": torch.__version__,
    }


# ----------------------------------------------------------------------------- report


def run_child(side: str, args) -> dict:
    env = dict(os.environ)
    if not args.no_hugetlb:
        env["GLIBC_TUNABLES"] = HUGETLB
    env.setdefault("JAX_PLATFORMS", "cpu")
    cmd = [
        sys.executable,
        "-m",
        "bench.train",
        "--child",
        side,
        "--epochs",
        str(args.epochs),
        "--jax-devices",
        str(args.jax_devices),
        "--seeds",
        str(args.seeds),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench.train {side} side failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(results: list[dict], args, load_at_start: float | None = None) -> None:
    from restasmr_jax.config import TrainConfig

    cfg = TrainConfig()
    sizes = results[0]["sizes"]
    per_frame = dense_flops_per_frame(544, cfg.hidden, cfg.layers)
    gflop = epoch_gflop(sizes, 550, per_frame)
    env = "none" if args.no_hugetlb else f"GLIBC_TUNABLES={HUGETLB}"
    print(
        f"folds (train, val, test trials): {sizes}; dense model {per_frame / 1e6:.2f} MFLOP/frame, "
        f"{gflop:.0f} GFLOP per 4-fold epoch ({gflop / 4:.0f} per fold-epoch); env for both: {env}; "
        f"1-min load average at start {load_at_start if load_at_start is not None else os.getloadavg()[0]:.2f}, "
        f"at end {os.getloadavg()[0]:.2f} (CPU shared with other work)"
    )
    rows = {}
    for r in results:
        median, best = statistics.median(r["epoch_s"]), min(r["epoch_s"])
        seeds = r.get("seeds", 1)
        rows[r["side"]] = (median / seeds, best / seeds)
        what = (
            f"{r['devices']} CPU device(s), sharded={r['sharded']}, {seeds} seed(s)"
            if r["side"] == "jax"
            else f"{r['threads']} intra-op threads"
        )
        print(
            f"{r['side']:>6}: median {median:6.2f} s, best {best:6.2f} s per epoch of all four folds"
            f"{f' x {seeds} seeds' if seeds > 1 else ''} (epochs: {', '.join(f'{t:.2f}' for t in r['epoch_s'])}; "
            f"first epoch {r['first_epoch_s']:.2f} s) | best {seeds * gflop / best:6.1f} dense GFLOP/s = "
            f"{100 * seeds * gflop / best / NOMINAL_GFLOPS:4.1f} % of {NOMINAL_GFLOPS:.0f} nominal | {what}"
        )
        if r["side"] == "jax":
            print(
                f"        executed by the JAX program: {r['executed_gflop']:.0f} GFLOP per epoch "
                f"({r['executed_gflop'] / best:.1f} GFLOP/s at the best epoch)"
            )
    if len(rows) == 2:
        (jax_med, jax_best), (torch_med, torch_best) = rows["jax"], rows["torch"]
        print(
            f"speed-up jax vs torch per seed x 4-fold epoch: {torch_best / jax_best:.2f}x on the best epochs, "
            f"{torch_med / jax_med:.2f}x on the medians (best epochs estimate an unloaded CPU; under load "
            f"PyTorch's spinning OpenMP threads degrade far more than XLA)"
        )
        print(
            f"35 epochs at the best-epoch pace: jax {35 * jax_best / 60:.1f} min, torch {35 * torch_best / 60:.1f} min"
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child == "jax":
        print(json.dumps(run_jax(args)))
        return
    if args.child == "torch":
        print(json.dumps(run_torch(args)))
        return
    sides = ("jax", "torch") if args.side == "both" else (args.side,)
    load_at_start = os.getloadavg()[0]
    pooled: dict[str, dict] = {}
    for round_index in range(args.rounds):
        for side in sides:
            print(f"round {round_index + 1}/{args.rounds}: timing {side} ({1 + args.epochs} epochs) ...", flush=True)
            result = run_child(side, args)
            if side in pooled:
                pooled[side]["epoch_s"] += result["epoch_s"]
                pooled[side]["first_epoch_s"] = min(pooled[side]["first_epoch_s"], result["first_epoch_s"])
            else:
                pooled[side] = result
    report(list(pooled.values()), args, load_at_start)


if __name__ == "__main__":
    main()
