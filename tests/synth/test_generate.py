"""Synthetic archive: determinism, raw formats, and agreement with `simulate_subject` (SPEC §1, §2, §12)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re

import numpy as np
import polars as pl
import pytest

from restasmr_jax.config import SUBJECT_IDS, VIDEO_CODES, ProtocolConfig, SynthConfig, condition_of
from restasmr_jax.synth import generate_archive, simulate_subject, special_subjects, subjects_of, synth_ppg

PROTOCOL = ProtocolConfig()
# Full-length sessions and PPG, but 2-s thumbnail clips: the stimuli have their own test file.
CHEAP = dict(video_seconds=2.0, video_size=(32, 24), audio_rate_hz=8000)
LOG_NAME = re.compile(r"^(\d{3})-([12])-(\d{8})-([0-9a-f]{8})\.log$")


def _config_of(archive) -> SynthConfig:
    marker = {k: tuple(v) if isinstance(v, list) else v for k, v in archive.synth.items()}
    return SynthConfig(**{f.name: marker[f.name] for f in dataclasses.fields(SynthConfig) if f.name in marker})


def _digests(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def sims(tiny_archive):
    cfg = _config_of(tiny_archive)
    return {subject: simulate_subject(cfg, subject) for subject in subjects_of(cfg)}


def _event_rows(path) -> tuple[list[list[str]], list[list[str]], bytes]:
    """Independent minimal parser: (event-table rows, summary rows, raw bytes)."""
    raw = path.read_bytes()
    lines = raw.decode("ascii").replace("\r\n", "\n").split("\n")
    head = next(i for i, line in enumerate(lines) if line.startswith("Subject\t"))
    second = next(i for i, line in enumerate(lines) if line.startswith("Event Type\t"))
    events = [line.split("\t") for line in lines[head + 1 : second] if line]
    summary = [line.split("\t") for line in lines[second + 1 :] if line]
    return events, summary, raw


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = SynthConfig(seed=3, n_subjects=2, **CHEAP)
    generate_archive(tmp_path / "a", cfg, progress=False)
    generate_archive(tmp_path / "b", cfg, progress=False)
    first = _digests(tmp_path / "a")
    assert len(first) == 2 + 2 + 8 + 1 and first == _digests(tmp_path / "b")  # logs, PPG, clips, truth.parquet

    other = SynthConfig(seed=4, n_subjects=1, **CHEAP)
    generate_archive(tmp_path / "c", other, progress=False)
    third = _digests(tmp_path / "c")
    assert third["ppg/001_csv.txt"] != first["ppg/001_csv.txt"]
    log_of_001 = lambda digests: [k for k in digests if k.startswith("log/001-")]  # noqa: E731
    assert log_of_001(third) != log_of_001(first)  # the name's hash and date follow the seed
    assert all(third[f"stim/{name}"] != first[f"stim/{name}"] for name in ("ASMR2.avi", "nature1.avi"))


def test_a_participant_does_not_depend_on_cohort_size():
    small, large = SynthConfig(seed=5, n_subjects=1), SynthConfig(seed=5, n_subjects=34)
    a, b = simulate_subject(small, 1), simulate_subject(large, 1)
    np.testing.assert_array_equal(a.ch2, b.ch2)
    np.testing.assert_array_equal(a.press_ticks, b.press_ticks)
    assert a.log_name == b.log_name


def test_archive_layout_and_names(tiny_archive, sims):
    logs = tiny_archive.log_files()
    assert [p.name for p in logs] == [sims[s].log_name for s in sorted(sims)]
    for path in logs:
        subject, sequence, date, _ = LOG_NAME.match(path.name).groups()
        assert int(sequence) == (1 if int(subject) % 2 else 2)
        assert date.startswith("2023")
    assert sorted(p.name for p in tiny_archive.ppg_dir.iterdir()) == [f"{s:03d}_csv.txt" for s in SUBJECT_IDS[:4]]


def test_log_events_follow_the_protocol(tiny_archive, sims):
    crlf = []
    for subject, sim in sims.items():
        events, summary, raw = _event_rows(tiny_archive.log_dir / sim.log_name)
        crlf.append(b"\r\n" in raw)
        assert raw.count(b"\r\n") in (0, raw.count(b"\n"))  # one convention per file
        assert raw.startswith(f"Scenario - REST_ASMR_sequence{sim.sequence}".encode())
        assert {row[0] for row in events} == {f"{subject:03d}"}
        assert {len(row) for row in events if row[2] != "Video"} == {7}  # ragged rows
        videos = [row for row in events if row[2] == "Video"]
        codes = [row[3] for row in videos]
        assert len(codes) == 8 and sorted(codes) == list(VIDEO_CODES)
        first_block = {condition_of(c) for c in codes[:4]}
        assert first_block == ({"ASMR"} if subject % 2 else {"Nature"})
        onsets = np.array([int(row[4]) for row in videos])
        times = np.array([int(row[4]) for row in events])
        assert np.all(np.diff(times) >= 0)

        # Schedule from the scenario start (the first Pulse, <= 2 ms after it): videos 60 s + 60 s * k later,
        # block B after a 120-s washout; the first video ~4.3 s late, the others within 15 ms of schedule.
        first_pulse = next(int(row[4]) for row in events if row[2] == "Pulse")
        late = onsets - first_pulse - 10_000 * np.array([60, 120, 180, 240, 420, 480, 540, 600])
        assert 42_000 - 20 <= late[0] <= 43_000
        assert np.all((late[1:] >= -20) & (late[1:] <= 150))
        durations = np.array([int(row[7]) for row in videos])
        assert durations[0] == onsets[1] - onsets[0] and 557_000 <= durations[0] < 558_000
        assert onsets[0] + 557_000 <= onsets[1]  # the 55.7-s clamp never reaches into the next video
        assert [row[1] for row in summary] == codes and [int(row[6]) for row in summary] == list(onsets)

        responses = [row for row in events if row[2] == "Response"]
        np.testing.assert_array_equal([int(r[4]) for r in responses], sim.press_ticks)
        np.testing.assert_array_equal([int(r[3]) for r in responses], sim.press_keys)
        assert set(sim.press_keys.tolist()) <= {1, 2, 3, 4}
        pulses = np.array([int(row[4]) for row in events if row[2] == "Pulse"])
        assert np.all(np.abs(np.diff(pulses) - 30_000) <= 20)
    assert any(crlf) and not all(crlf)


def _zoh_labels(press_ticks, press_keys, onset, n_frames, protocol=PROTOCOL):
    """Slow reference of SPEC §2: last press <= t inside the trial window, else 0."""
    out = np.zeros(n_frames, np.int64)
    duration = round(protocol.trial_seconds_for(0 if n_frames == 507 else 1) * 10_000)
    for k in range(n_frames):
        t = onset + 50_000 + k * 1_000
        state = 0
        for tick, key in zip(press_ticks, press_keys):
            if onset <= tick <= t and tick < onset + duration:
                state = min(max(key - 1, 0), 3)
        out[k] = state
    return out


def test_dense_labels_and_episodes_agree_with_the_keypresses(sims):
    sim = sims[1]
    for trial in (0, 3):
        onset = int(sim.onset_ticks[trial])
        expected = _zoh_labels(sim.press_ticks, sim.press_keys, onset, PROTOCOL.n_frames_for(trial))
        np.testing.assert_array_equal(sim.dense_labels(trial), expected)
    for ep in sim.episodes:
        assert sim.onset_ticks[ep.trial_index] <= ep.start_ticks < ep.end_ticks <= sim.end_ticks[ep.trial_index]
        i = np.searchsorted(sim.press_ticks, ep.start_ticks)
        assert sim.press_ticks[i] == ep.start_ticks and sim.press_keys[i] == ep.intensity + 1


def test_keypress_behaviour_is_realistic(sims):
    warmup_presses = repeats = ended_with_one = 0
    for sim in sims.values():
        for trial, onset in enumerate(sim.onset_ticks):
            inside = (sim.press_ticks >= onset) & (sim.press_ticks < sim.end_ticks[trial])
            ticks, keys = sim.press_ticks[inside], sim.press_keys[inside]
            warmup_presses += int(np.sum(ticks < onset + 50_000))
            repeats += int(np.sum((keys[1:] == keys[:-1]) & (keys[1:] > 1)))
            ended_with_one += int(np.sum((keys[:-1] > 1) & (keys[1:] == 1)))
        asmr = [ep for ep in sim.episodes if condition_of(ep.video) == "ASMR"]
        nature = [ep for ep in sim.episodes if condition_of(ep.video) == "Nature"]
        assert bool(asmr) == sim.tingler and bool(nature) == sim.nature_responder
    assert warmup_presses >= 4 and repeats >= 2 and ended_with_one >= 8


def test_one_non_tingler_in_the_full_cohort():
    cfg = SynthConfig(seed=0)
    non_tingler, non_pleased = special_subjects(cfg)
    assert non_tingler != non_pleased and {non_tingler, non_pleased} <= set(SUBJECT_IDS)
    from restasmr_jax.synth.ratings import draw_rater

    raters = [draw_rater(cfg, s) for s in SUBJECT_IDS]
    assert sum(not r.tingler for r in raters) == 1 and sum(not r.nature_responder for r in raters) == 1


def _parse_ppg(path, japanese: bool, count_row: bool):
    raw = path.read_bytes()
    head = raw[:400].decode("shift_jis" if japanese else "ascii").split("\n")
    skip = 9 if count_row else 8
    body = pl.read_csv(
        io.BytesIO(raw),
        separator="\t",
        has_header=False,
        skip_rows=skip,
        new_columns=["min", "ch1", "ch2", "end"],
        schema_overrides={"min": pl.Float64, "ch1": pl.Float64, "ch2": pl.Float64, "end": pl.Utf8},
    )
    return head, body, raw


def test_biopac_exports_hold_exactly_the_simulated_samples(tiny_archive, sims):
    variants = set()
    for subject in (1, 3):  # an ASCII file with the count row and a Shift-JIS one
        sim = sims[subject]
        head, body, raw = _parse_ppg(tiny_archive.ppg_file(subject), sim.japanese_labels, sim.sample_count_row)
        variants.add((sim.japanese_labels, sim.sample_count_row))
        assert head[:3] == [f"{subject:03d}_ASMR.acq", "0.5 msec/sample", "2 channels"]
        label = "脈波" if sim.japanese_labels else "PPG"
        assert head[3:8] == [f"{label}, X, PPGED-R", "mV", f"{label}, 0.5 Hz - 35 Hz", "mV", "min\tCH1\tCH2\t"]
        if sim.sample_count_row:
            assert head[8] == f"{sim.ch1.shape[0]}\t{sim.ch1.shape[0]}\t"
        np.testing.assert_array_equal(body["ch1"].to_numpy(), sim.ch1)
        np.testing.assert_array_equal(body["ch2"].to_numpy(), sim.ch2)
        assert body["end"].null_count() == body.height  # trailing tab on every row
        minutes = body["min"].to_numpy()
        np.testing.assert_allclose(minutes, np.arange(body.height) / 120_000, rtol=5e-6, atol=1e-12)
        second_row = raw[:1000].split(b"\n")[(9 if sim.sample_count_row else 8) + 1]
        assert second_row == b"8.33333e-06\t" + f"{sim.ch1[1]:.6f}\t{sim.ch2[1]:.6f}\t".encode()
        duration_s = body.height * sim.interval_ms / 1000
        assert sim.session.end_ticks / 10_000 < duration_s < 13 * 60  # covers the whole log, ~12.5 min
    assert variants == {(False, True), (True, True)}
    assert {(s.japanese_labels, s.sample_count_row) for s in sims.values()} == {(a, b) for a in (0, 1) for b in (0, 1)}
    assert b"\xe2" not in tiny_archive.ppg_file(3).read_bytes()[:200]  # Shift-JIS, not UTF-8


def test_pulse_truth(sims):
    sim = sims[4]
    fs = 1000.0 / sim.interval_ms
    rr = np.diff(sim.beat_times_s)
    assert 55 <= sim.baseline_bpm <= 100 and abs(60 / rr.mean() - sim.baseline_bpm) < 8
    assert np.all((rr > 0.4) & (rr < 1.3))
    # every beat is the maximum of the clean band (CH1 minus its slow trend) within +-120 ms
    centre = np.rint(sim.beat_times_s[5:-5] * fs).astype(np.int64)
    windows = sim.ch2[centre[:, None] + np.arange(-240, 241)[None, :]]
    assert np.median(np.abs(windows.argmax(axis=1) - 240)) <= 6  # within 3 ms


def test_artifacts_are_flat_runs_of_ch1_and_nothing_else_is(sims):
    kinds = set()
    for sim in sims.values():
        flat = np.concatenate([[False], np.diff(sim.ch1) == 0])
        runs = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int8), [0]])))
        long_runs = [(a - 1, b) for a, b in zip(runs[::2], runs[1::2]) if b - a >= 99]  # >= 100 equal samples
        for start, end, kind in sim.artifacts:
            kinds.add(kind)
            run = sim.ch1[start:end]
            assert end - start >= 100 and np.all(run == run[0])
            if kind == "disconnect":
                assert run[0] == 0.0
            elif kind == "clipping":
                assert run[0] == sim.ch1.max()
            else:
                assert run[0] == sim.ch1[start - 1]
        reported = {(s - (kind == "flatline"), e) for s, e, kind in sim.artifacts}
        assert set(long_runs) == reported
    assert kinds  # the tiny cohort has at least one


def test_ratings_move_the_heart_rate_by_each_participants_coefficients(tiny_archive, sims):
    import scipy.signal

    from restasmr_jax.synth.physiology import GRID_HZ, simulate_channels

    cfg = _config_of(tiny_archive)
    lag = np.exp(-1.0 / (2.5 * GRID_HZ))  # the documented 2.5-s first-order lag
    for sim in sims.values():
        rated = simulate_channels(cfg, sim.session, sim.episodes)
        calm = simulate_channels(cfg, sim.session, ())  # the same draws without any rating
        assert (rated.tingle_bpm_per_level, rated.baseline_bpm) == (sim.tingle_bpm_per_level, sim.baseline_bpm)
        step = np.zeros_like(rated.heart_rate_bpm)  # by hand: -c x intensity in tingles, +c x rating in nature
        for ep in sim.episodes:
            lo, hi = round(ep.start_ticks * GRID_HZ / 10_000), round(ep.end_ticks * GRID_HZ / 10_000)
            asmr = condition_of(ep.video) == "ASMR"
            step[lo:hi] += ep.intensity * (-sim.tingle_bpm_per_level if asmr else sim.pleasant_bpm_per_level)
        expected = scipy.signal.lfilter([1 - lag], [1.0, -lag], step)
        np.testing.assert_allclose(rated.heart_rate_bpm - calm.heart_rate_bpm, expected, atol=1e-9)
        # the beats integrate that rate: as many beats as the rate's integral over the recording, to within one
        seconds = sim.ch1.shape[0] * sim.interval_ms / 1000
        integral = rated.heart_rate_bpm[: round(seconds * GRID_HZ)].sum() / 60 / GRID_HZ
        assert abs(sim.beat_times_s.shape[0] - integral) <= 1.5


def test_readers_parse_the_archive_without_warnings(tiny_archive, sims, tmp_path):
    import warnings

    from restasmr_jax.io.biopac import read_biopac
    from restasmr_jax.io.presentation import read_log

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for subject, sim in sims.items():
            parsed = read_log(tiny_archive.log_dir / sim.log_name)
            assert parsed.report["line_endings"] == ("CRLF" if sim.crlf_log else "LF")
            assert parsed.report["ignored_responses"]["non-numeric code"]["count"] == 0
            assert parsed.report["responses_out_of_range"] == 0
            assert parsed.report["events"] == {
                "Pulse": sim.pulse_ticks.shape[0],
                "Response": sim.press_ticks.shape[0],
                "Video": 8,
            }
            if subject in (1, 3):  # one file of each label language
                rec = read_biopac(tiny_archive.ppg_file(subject), cache_dir=tmp_path)
                assert rec.interval_ms == 0.5 and rec.units == ["mV", "mV"]
                assert rec.labels[0] == ("脈波, X, PPGED-R" if sim.japanese_labels else "PPG, X, PPGED-R")
                np.testing.assert_array_equal(rec.samples, np.stack([sim.ch1, sim.ch2], axis=1).astype(np.float32))


def test_cli_flags_and_errors(tmp_path, monkeypatch, capsys):
    from experiments import synth as cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    usage = capsys.readouterr().out
    assert exc.value.code == 0 and all(flag in usage for flag in ("--out", "--subjects", "--seed"))
    with pytest.raises(SystemExit) as exc:
        cli.main(["--out", str(tmp_path / "x"), "--subjects", "35"])
    assert exc.value.code == 2
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not a synthetic archive"):
        cli.main(["--out", str(tmp_path / "busy")])

    calls = []

    def fake_generate(out_dir, cfg, *, progress=True):
        calls.append((out_dir, cfg, progress))
        for sub in ("log", "ppg", "stim"):
            (out_dir / sub).mkdir(parents=True)

    monkeypatch.setattr("restasmr_jax.synth.archive.generate_archive", fake_generate)
    cli.main(["--out", str(tmp_path / "new"), "--subjects", "3", "--seed", "9", "--no-progress"])
    assert calls[0][1] == SynthConfig(seed=9, n_subjects=3) and calls[0][2] is False
    assert "3 participants" in capsys.readouterr().out
    cli.main(["--out", str(tmp_path / "new"), "--subjects", "3", "--seed", "9"])  # complete: reused
    assert len(calls) == 1
    with pytest.raises(SystemExit, match="other settings"):
        cli.main(["--out", str(tmp_path / "new"), "--subjects", "3", "--seed", "10"])


def test_synth_ppg_peaks_at_the_beats_with_a_dicrotic_notch():
    import scipy.signal

    fs = 2000.0
    beats = np.cumsum(np.r_[0.7, 0.62, 0.91, 1.1, 0.55, 0.8, 0.75])  # 55-109 bpm
    wave = synth_ppg(beats, fs, int((beats[-1] + 1.0) * fs), amplitudes=1.5, dicrotic=0.45)
    systolic, _ = scipy.signal.find_peaks(wave, prominence=0.5)
    np.testing.assert_allclose(systolic / fs, beats, atol=1.0 / fs)
    np.testing.assert_allclose(wave[systolic], 1.5, rtol=1e-3)
    peaks, _ = scipy.signal.find_peaks(wave)
    valleys, _ = scipy.signal.find_peaks(-wave)
    for beat in systolic:  # after each systolic peak: a notch (not down to the foot), then the diastolic wave
        notch = valleys[valleys > beat][0]
        diastolic = peaks[peaks > beat][0]
        assert 0.1 * fs < notch - beat < diastolic - beat < 0.4 * fs
        assert 0.1 < wave[notch] < wave[diastolic] < 0.6 * wave[beat]
    np.testing.assert_array_equal(synth_ppg(np.array([]), fs, 10), np.zeros(10))
