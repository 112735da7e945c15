"""Feature-extraction benchmark on the 8 full-size synthetic stimuli (SPEC §4): decode, ResNet-18, librosa, cache.

    python -m bench.features [--stimuli 8] [--compare-frames 550] [--weights random:0]

Prints, side by side: PyAV decoding frames/s, ResNet-18 frames/s with and
without channels-last (same frames, same weights) and their ratio, librosa
seconds per stimulus, the cold end-to-end extraction of all stimuli, and the
cached reload time.  Stimuli come from the synthetic archive when it exists
(or can be generated); otherwise 60-s AVIs of the synthetic archive's size
are written to data/cache/bench_features/.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from restasmr_jax import storage
from restasmr_jax.config import STIMULUS_FILES, FeatureConfig, ProtocolConfig, SynthConfig
from restasmr_jax.features.audio import audio_features
from restasmr_jax.features.cache import load_stimulus_features
from restasmr_jax.features.video import VideoEncoder
from restasmr_jax.io import stimuli
from restasmr_jax.io.stimuli import StimulusWindow


def _own_stimuli(folder: Path, synth: SynthConfig) -> dict[str, Path]:
    """60-s AVIs with moving noise texture and noisy audio, at the synthetic archive's size and rates."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    width, height = synth.video_size
    for i, (video, name) in enumerate(STIMULUS_FILES.items()):
        path = paths[video] = folder / name
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        texture = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
        tmp = path.with_suffix(".partial.avi")
        with av.open(str(tmp), "w", format="avi") as container:
            stream = container.add_stream("mpeg4", rate=synth.video_fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            sound = container.add_stream("pcm_s16le", rate=synth.audio_rate_hz, layout="mono")
            for j in range(int(synth.video_seconds * synth.video_fps)):
                dy, dx = (j * 2) % height, (j * 3) % width
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(texture[dy : dy + height, dx : dx + width]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
            samples = (rng.standard_normal(int(synth.video_seconds * synth.audio_rate_hz)) * 3000).astype(np.int16)
            for start in range(0, samples.size, 4096):
                chunk = av.AudioFrame.from_ndarray(samples[None, start : start + 4096], format="s16", layout="mono")
                chunk.sample_rate = synth.audio_rate_hz
                for packet in sound.encode(chunk):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
        os.replace(tmp, path)
    return paths


def stimulus_paths(n: int) -> tuple[dict[str, Path], str]:
    try:
        from restasmr_jax.runs.data import resolve_archive

        archive = resolve_archive()
        paths = {v: archive.stimulus_file(v) for v in STIMULUS_FILES}
        where = f"{archive.source} archive {archive.root}"
    except ImportError:  # no synthetic generator yet
        paths = _own_stimuli(Path("data/cache/bench_features"), SynthConfig())
        where = "bench-generated 60-s AVIs (data/cache/bench_features)"
    return dict(list(paths.items())[:n]), where


def _rate(frames: int, seconds: float) -> str:
    return f"{frames / seconds:8.1f} frames/s ({seconds:6.2f} s for {frames} frames)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stimuli", type=int, default=8, help="how many of the 8 stimuli to extract (default 8)")
    parser.add_argument(
        "--compare-frames",
        type=int,
        default=550,
        help="frames for the channels-last vs contiguous comparison (default 550 = one stimulus)",
    )
    parser.add_argument("--weights", default="random:0", help="ResNet-18 weights spec (default random:0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the cold end-to-end extraction (default: all cores)",
    )
    parser.add_argument(
        "--skip-tensor", action="store_true", help="skip the 272-trial tensor reload timing (needs the ingest stage)"
    )
    args = parser.parse_args(argv)

    window = StimulusWindow.from_protocol(ProtocolConfig())
    paths, where = stimulus_paths(args.stimuli)
    info = stimuli.probe_stimulus(next(iter(paths.values())))
    print(
        f"stimuli: {len(paths)} from {where}; {info.width}x{info.height} @ {float(info.fps):.3f} fps, "
        f"audio {info.audio_rate} Hz; window {window.n_frames} steps from {float(window.start)} s; "
        f"{os.cpu_count()} CPU cores (timings are noisy on a shared machine)"
    )

    # 1. PyAV decoding of the window frames
    start = time.perf_counter()
    first_frames = None
    for path in paths.values():
        frames = stimuli.read_window_frames(path, window)
        first_frames = frames if first_frames is None else first_frames
    decode_s = time.perf_counter() - start
    print(f"decode (PyAV, 10-Hz window frames): {_rate(len(paths) * window.n_frames, decode_s)}")

    # 2. librosa (one short warm-up call first: librosa loads its feature modules on first use)
    audio_features(np.zeros(2 * 22_050, np.float32), 22_050, n_frames=10)
    start = time.perf_counter()
    for path in paths.values():
        samples, rate = stimuli.read_audio(path)
        audio_features(stimuli.window_audio(samples, rate, window, path=path), rate, n_frames=window.n_frames)
    librosa_s = time.perf_counter() - start
    print(f"audio (PyAV decode + librosa 31-d): {librosa_s / len(paths):.3f} s per stimulus, {librosa_s:.2f} s total")

    # 3. ResNet-18 with and without channels-last on the same frames, with 1 thread and all cores
    cfg = FeatureConfig(video_weights=args.weights)
    batch = np.concatenate([first_frames] * (-(-args.compare_frames // len(first_frames))))[: args.compare_frames]
    n = len(batch)
    for threads in sorted({1, os.cpu_count() or 1}):
        timings = {}
        for channels_last in (False, True):
            encoder = VideoEncoder(
                args.weights, resize=cfg.resize, crop=cfg.crop, channels_last=channels_last, num_threads=threads
            )
            encoder.encode(batch[: encoder.batch_size])  # warm-up: oneDNN primitive creation
            start = time.perf_counter()
            encoder.encode(batch)
            timings[channels_last] = time.perf_counter() - start
        print(f"ResNet-18 {threads} thread(s), contiguous (NCHW):   {_rate(n, timings[False])}")
        print(f"ResNet-18 {threads} thread(s), channels-last (NHWC): {_rate(n, timings[True])}")
        print(f"ResNet-18 {threads} thread(s), channels-last speed-up: {timings[False] / timings[True]:.2f}x")

    # 4. cold end-to-end extraction into a fresh cache, then the cached reload; file hashes come from
    # the archive's memo in the pipeline, so they are computed once up front here
    start = time.perf_counter()
    hashes = {path: storage.sha256_file(path) for path in paths.values()}
    print(f"sha256 of the {len(paths)} stimulus files: {time.perf_counter() - start:.2f} s (memoised by the pipeline)")
    with tempfile.TemporaryDirectory(dir="data/cache" if Path("data/cache").is_dir() else None) as cache:
        start = time.perf_counter()
        load_stimulus_features(
            paths,
            feature_cfg=cfg,
            window=window,
            cache_dir=cache,
            hashes=hashes,
            num_threads=args.threads,
            progress=True,
        )
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        feats = load_stimulus_features(
            paths, feature_cfg=cfg, window=window, cache_dir=cache, hashes=hashes, progress=False
        )
        warm_s = time.perf_counter() - start
    total = len(paths) * window.n_frames
    print(
        f"cold extraction, {len(paths)} stimuli, channels-last, {args.threads or os.cpu_count()} thread(s) "
        "(decode + ResNet + librosa + write): "
        f"{cold_s:.1f} s = {total / cold_s:.1f} frames/s"
    )
    print(f"cached reload, {len(paths)} stimuli (npz read, no decoding): {warm_s * 1e3:.1f} ms")
    print(f"cold / cached: {cold_s / warm_s:.0f}x; av block {feats[next(iter(feats))].av.shape} per stimulus")

    # 5. the whole tensor from data/cache (built there on the first ever run), as every later stage loads it
    if not args.skip_tensor:
        from restasmr_jax.ingest.tables import ingest_archive
        from restasmr_jax.runs.data import resolve_archive
        from restasmr_jax.tensor.cache import load_or_build_tensor

        archive = resolve_archive(progress=False)
        ingested = ingest_archive(archive, progress=False)
        load_or_build_tensor(archive, ingested, progress=True, num_threads=args.threads)
        start = time.perf_counter()
        tensor = load_or_build_tensor(archive, ingested, progress=False)
        print(
            f"tensor reload (input hashes + ingested digest + npz read) {tensor.X().shape}: "
            f"{(time.perf_counter() - start) * 1e3:.0f} ms"
        )


if __name__ == "__main__":
    main()
