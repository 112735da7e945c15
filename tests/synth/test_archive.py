"""Where the stand-in archive is kept and when it is regenerated (synth.archive)."""

from restasmr_jax.synth import archive as synth_archive


def test_generator_fingerprint_follows_source_and_config(tmp_path, monkeypatch):
    from restasmr_jax.config import SynthConfig

    source = tmp_path / "generator.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(synth_archive, "GENERATOR_SOURCES", (source,))
    first = synth_archive.generator_fingerprint(SynthConfig())
    assert synth_archive.generator_fingerprint(SynthConfig()) == first
    assert synth_archive.generator_fingerprint(SynthConfig(seed=1)) != first
    source.write_text("A = 2\n")
    assert synth_archive.generator_fingerprint(SynthConfig()) != first


def test_changed_generator_writes_a_fresh_archive_and_keeps_the_old(tmp_path, monkeypatch, capsys):
    from restasmr_jax.config import SynthConfig

    def fake_generate(out, cfg, progress=True):
        for sub in ("log", "ppg", "stim"):
            (out / sub).mkdir(parents=True)
        (out / "log" / "version.txt").write_text(str(source.read_text()))

    source = tmp_path / "generator.py"
    source.write_text("old\n")
    monkeypatch.setattr(synth_archive, "GENERATOR_SOURCES", (source,))
    monkeypatch.setattr(synth_archive, "generate_archive", fake_generate)
    cfg = SynthConfig(seed=3, n_subjects=2)
    old_root = synth_archive.synthetic_root(tmp_path, cfg)
    assert synth_archive.ensure_synthetic(old_root, cfg, progress=False).root == old_root
    assert capsys.readouterr().err == ""

    source.write_text("new\n")
    new_root = synth_archive.synthetic_root(tmp_path, cfg)
    assert new_root != old_root and new_root.parent == old_root.parent
    found = synth_archive.ensure_synthetic(new_root, cfg, progress=False)
    assert found.root == new_root and found.synth["generator_fingerprint"] == synth_archive.generator_fingerprint(cfg)
    assert (new_root / "log" / "version.txt").read_text() == "new\n"
    assert (old_root / "log" / "version.txt").read_text() == "old\n"  # never deleted
    assert str(old_root) in capsys.readouterr().err
    assert synth_archive.ensure_synthetic(new_root, cfg, progress=False).root == new_root  # reused, no regeneration
