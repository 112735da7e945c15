"""What one pipeline run is asked to do, and the command-line flags that build it (SPEC §6-§9).

`RunOptions` bundles the paper's configs (`config.py`) with the run's
logistics (where the data and the run folder live, resume, progress).  It is
written into every run folder as `options.json`, so `--resume` and
`experiments.predict` rebuild exactly the run that was started.

The flags are shared by `experiments.fusion`, `experiments.ablations` and
`experiments.benchmark`; every paper constant has one, defaulting to the
paper's value.  The process flags (`add_process_flags`, part of
`add_run_flags`) say how many JAX processes share the job; they are
logistics of one launch, not part of what the run computes, so they never
enter `options.json` or the options hash the processes compare
(`runs.distributed`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from restasmr_jax import storage
from restasmr_jax.config import FeatureConfig, ProtocolConfig, StatsConfig, SynthConfig, TrainConfig, XGBConfig
from restasmr_jax.io.archive import DEFAULT_CACHE_DIR
from restasmr_jax.learning.models import DEFAULT_MODELS
from restasmr_jax.runs.layout import OPTIONS_FILE

# `--quick`: a smoke run of the whole path in a few minutes.  Explicit flags win over these.
QUICK_TRAIN = {"epochs": 2, "hidden": 16}
QUICK_STATS = {"n_bootstrap": 200, "n_permutation": 200, "n_compare_bootstrap": 1_000}

ABLATION_MODELS = ("fusion", "video", "audio", "ppg")  # SPEC §7: paper's Table 2 + PPG-only extra


class OptionsError(ValueError):
    """A flag combination or a saved options file that cannot describe a run."""


@dataclass(frozen=True)
class ProcessOptions:
    """The JAX processes of one launch as the flags give them; None = not given (environment, then 1 process)."""

    coordinator: str | None = None  # HOST:PORT of process 0
    num_processes: int | None = None
    process_id: int | None = None
    cpu_devices: int | None = None  # JAX CPU devices of this process (default: its share of the host's cores)
    timeout_s: float = 300.0  # start-up: how long to wait for the coordinator and the other processes


@dataclass(frozen=True)
class RunOptions:
    data_dir: Path | None = None  # None: data/ if it holds a real archive, else the synthetic one
    out: Path = Path("runs")  # parent folder of new run folders
    train: TrainConfig = TrainConfig()
    stats: StatsConfig = StatsConfig()
    xgb: XGBConfig = XGBConfig()
    # video_weights: auto | imagenet | random:SEED | PATH; `auto` is resolved from the archive (data.json)
    feature_cfg: FeatureConfig = FeatureConfig(video_weights="auto")
    protocol: ProtocolConfig = ProtocolConfig()
    synth: SynthConfig = SynthConfig()
    quick: bool = False
    resume: Path | None = None  # an existing run folder to continue
    cache_dir: Path = DEFAULT_CACHE_DIR
    tinglegram_subject: int | None = None  # None: subject 27 (the paper's Figure 6) if tested, else first
    models: tuple[str, ...] = ABLATION_MODELS  # ablations only
    with_xgb: bool = True  # ablations only
    fusion_run: Path | None = None  # ablations only: reuse this fusion run's predictions
    # benchmark only: registry names or "<absolute path>.py:<ClassName>" (`learning.models.parse_models`)
    model_specs: tuple[str, ...] = DEFAULT_MODELS
    progress: bool = field(default=True, compare=False)
    processes: ProcessOptions = field(default=ProcessOptions(), compare=False)  # never saved

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        del out["processes"]
        for key in ("data_dir", "out", "resume", "cache_dir", "fusion_run"):
            out[key] = None if out[key] is None else str(out[key])
        out["models"] = list(self.models)
        out["model_specs"] = list(self.model_specs)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> RunOptions:
        configs = {
            "train": TrainConfig,
            "stats": StatsConfig,
            "xgb": XGBConfig,
            "feature_cfg": FeatureConfig,
            "protocol": ProtocolConfig,
            "synth": SynthConfig,
        }
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionsError(f"options file has unknown field(s) {unknown}")
        kwargs = dict(data)
        for key, kind in configs.items():
            if key in kwargs:
                values = dict(kwargs[key])
                if kind is SynthConfig and "video_size" in values:
                    values["video_size"] = tuple(values["video_size"])
                kwargs[key] = kind(**values)
        for key in ("data_dir", "out", "resume", "cache_dir", "fusion_run"):
            if kwargs.get(key) is not None:
                kwargs[key] = Path(kwargs[key])
        for key in ("models", "model_specs"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


def save_options(run_dir: Path, options: RunOptions) -> Path:
    return storage.write_json(Path(run_dir) / OPTIONS_FILE, options.to_dict())


def load_options(run_dir: Path) -> RunOptions:
    path = Path(run_dir) / OPTIONS_FILE
    if not path.exists():
        raise OptionsError(f"{path}: missing; {run_dir} is not a run folder written by this pipeline")
    return RunOptions.from_dict(json.loads(path.read_text()))


# ----------------------------------------------------------------------------- flags


def add_process_flags(parser: argparse.ArgumentParser) -> None:
    """--coordinator, --num-processes, --process-id, --cpu-devices, --start-timeout (read by `process_options`)."""
    group = parser.add_argument_group(
        "several JAX processes (runs.distributed)",
        "Start the same command once per process, with the same flags except --process-id.\n"
        "Without these flags the environment decides: RESTASMR_COORDINATOR, RESTASMR_NUM_PROCESSES,\n"
        "RESTASMR_PROCESS_ID, else SLURM's SLURM_NTASKS, SLURM_PROCID and SLURM_STEP_NODELIST (port:\n"
        "RESTASMR_COORDINATOR_PORT, else 20000 + SLURM_JOB_ID mod 20000); else one process.",
    )
    group.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        default=None,
        help="address of process 0, which listens on PORT (e.g. 127.0.0.1:12345 on one machine)",
    )
    group.add_argument("--num-processes", type=int, default=None, metavar="N", help="how many processes share the job")
    group.add_argument("--process-id", type=int, default=None, metavar="K", help="this process, 0..N-1; 0 writes")
    group.add_argument(
        "--cpu-devices",
        type=int,
        default=None,
        metavar="D",
        help="JAX CPU devices of this process (default: the host's cores divided among its processes; "
        "ignored on a GPU backend)",
    )
    group.add_argument(
        "--start-timeout",
        type=float,
        default=ProcessOptions().timeout_s,
        metavar="SECONDS",
        help="how long to wait for the coordinator and every process at start-up (default %(default)g)",
    )


def process_options(args: argparse.Namespace) -> ProcessOptions:
    return ProcessOptions(
        coordinator=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
        cpu_devices=args.cpu_devices,
        timeout_s=args.start_timeout,
    )


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Flags for every paper constant; a flag left out keeps the paper's value (or --quick's)."""
    t, s = TrainConfig(), StatsConfig()
    data = parser.add_argument_group("data and run folder")
    data.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="raw archive folder with log/, ppg/, stim/ (default: data/ if it holds the real "
        "archive, else the seeded synthetic archive, generated once into data/synthetic/)",
    )
    data.add_argument("--out", type=Path, default=Path("runs"), help="parent folder of the run folder (default runs/)")
    data.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run in RUN_DIR with the options saved there; finished "
        "stages are kept, training restarts from the latest Orbax checkpoint",
    )
    data.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="feature / parse cache folder (default data/cache)"
    )
    data.add_argument(
        "--synth-seed",
        type=int,
        default=SynthConfig().seed,
        help="seed of the synthetic archive (used only when no real archive is found)",
    )
    data.add_argument(
        "--video-weights",
        default="auto",
        help="ResNet-18 weights: auto (imagenet for a real archive, random:0 for the synthetic "
        "one), imagenet (torchvision IMAGENET1K_V1 from the local torch hub cache), "
        "random:SEED (seeded random init, recorded in provenance) or a weights file PATH",
    )
    data.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: epochs 2, hidden 16, 200 bootstrap and 200 permutation resamples, "
        "1000 paired-bootstrap resamples (explicit flags still win)",
    )
    data.add_argument("--no-progress", action="store_true", help="no progress bars")

    model = parser.add_argument_group("model and training (SPEC §6, §7)")
    model.add_argument("--epochs", type=int, default=None, help=f"training epochs (paper {t.epochs})")
    model.add_argument("--lr", type=float, default=None, help=f"Adam learning rate (paper {t.learning_rate})")
    model.add_argument("--batch-size", type=int, default=None, help=f"trials per batch (paper {t.batch_size})")
    model.add_argument("--hidden", type=int, default=None, help=f"LSTM units per direction (paper {t.hidden})")
    model.add_argument("--layers", type=int, default=None, help=f"stacked BiLSTM layers (paper {t.layers})")
    model.add_argument("--dropout", type=float, default=None, help=f"dropout between LSTM layers (paper {t.dropout})")
    model.add_argument("--seed", type=int, default=None, help=f"training seed (paper {t.seed})")
    model.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="train N seeds x 4 folds in one program and report mean ± SD over seeds (default 1)",
    )
    model.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help=f"Python random.seed for the inner-validation draw (authors {t.split_seed})",
    )
    model.add_argument(
        "--selection",
        choices=("best", "last"),
        default=None,
        help="best: test the best validation-F1 epoch (default); last: the last epoch, as the "
        "authors' code effectively did",
    )
    model.add_argument(
        "--features",
        choices=ABLATION_MODELS,
        default=None,
        help="input columns: fusion 544, video 512, audio 31, ppg 1 (default fusion)",
    )

    stats = parser.add_argument_group("evaluation and statistics (SPEC §9)")
    stats.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"video-level rule: a trial is ASMR when at least this fraction of its frames is "
        f"predicted tingle (paper {s.video_threshold})",
    )
    stats.add_argument(
        "--n-bootstrap", type=int, default=None, help=f"subject-level bootstrap resamples (paper {s.n_bootstrap})"
    )
    stats.add_argument(
        "--n-permutation", type=int, default=None, help=f"sequence-level permutations (paper {s.n_permutation})"
    )
    stats.add_argument(
        "--n-compare-bootstrap",
        type=int,
        default=None,
        help=f"paired-bootstrap resamples for model comparison (paper {s.n_compare_bootstrap})",
    )
    stats.add_argument("--stats-seed", type=int, default=None, help=f"seed of the resampling statistics ({s.seed})")
    stats.add_argument(
        "--count-padding",
        action="store_true",
        help="also score the 43 zero-padded frames of trial-0 sequences, as the paper did (default: valid frames only)",
    )
    stats.add_argument(
        "--tinglegram-subject",
        type=int,
        default=None,
        help="participant of the tinglegram figure (default 27, the paper's Figure 6)",
    )
    add_process_flags(parser)


def add_xgb_flags(parser: argparse.ArgumentParser) -> None:
    """The XGBoost baseline's constants (SPEC §8), defaulting to the paper's."""
    x = XGBConfig()
    group = parser.add_argument_group("XGBoost baseline (SPEC §8)")
    group.add_argument(
        "--xgb-estimators", type=int, default=x.n_estimators, help=f"boosting rounds (paper {x.n_estimators})"
    )
    group.add_argument("--xgb-depth", type=int, default=x.max_depth, help=f"maximum tree depth (paper {x.max_depth})")
    group.add_argument(
        "--xgb-lr", type=float, default=x.learning_rate, help=f"learning rate / eta (paper {x.learning_rate})"
    )
    group.add_argument("--xgb-seed", type=int, default=x.random_state, help=f"random_state (paper {x.random_state})")


def xgb_from_args(args: argparse.Namespace) -> XGBConfig:
    return XGBConfig(
        n_estimators=args.xgb_estimators,
        max_depth=args.xgb_depth,
        learning_rate=args.xgb_lr,
        random_state=args.xgb_seed,
    )


def options_from_args(args: argparse.Namespace, **extra) -> RunOptions:
    """RunOptions from parsed flags: paper defaults, then --quick, then explicit flags."""
    train = {k: v for k, v in QUICK_TRAIN.items()} if args.quick else {}
    stats = dict(QUICK_STATS) if args.quick else {}
    explicit_train = {
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "hidden": args.hidden,
        "layers": args.layers,
        "dropout": args.dropout,
        "seed": args.seed,
        "n_seeds": args.seeds,
        "split_seed": args.split_seed,
        "selection": args.selection,
        "features": args.features,
    }
    explicit_stats = {
        "video_threshold": args.threshold,
        "n_bootstrap": args.n_bootstrap,
        "n_permutation": args.n_permutation,
        "n_compare_bootstrap": args.n_compare_bootstrap,
        "seed": args.stats_seed,
    }
    train.update({k: v for k, v in explicit_train.items() if v is not None})
    stats.update({k: v for k, v in explicit_stats.items() if v is not None})
    if args.count_padding:
        stats["count_padding"] = True
    for name, value in {**train, **stats}.items():
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value <= 0
            and name not in ("seed", "split_seed", "dropout")
        ):
            raise OptionsError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if not 0.0 <= train.get("dropout", 0.0) < 1.0:
        raise OptionsError(f"--dropout must be in [0, 1), got {train['dropout']}")
    if not 0.0 < stats.get("video_threshold", 0.5) <= 1.0:
        raise OptionsError(f"--threshold must be in (0, 1], got {stats['video_threshold']}")
    return RunOptions(
        data_dir=args.data_dir,
        out=args.out,
        resume=args.resume,
        cache_dir=args.cache_dir,
        train=replace(TrainConfig(), **train),
        stats=replace(StatsConfig(), **stats),
        synth=replace(SynthConfig(), seed=args.synth_seed),
        feature_cfg=replace(FeatureConfig(), video_weights=args.video_weights),
        quick=args.quick,
        tinglegram_subject=args.tinglegram_subject,
        progress=not args.no_progress,
        processes=process_options(args),
        **extra,
    )
