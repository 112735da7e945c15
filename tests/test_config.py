"""The paper's constants (config)."""

from restasmr_jax.config import ProtocolConfig, StatsConfig


def test_protocol_constants():
    cfg = ProtocolConfig()
    assert cfg.n_frames_for(0) == 507 and cfg.n_frames_for(5) == 550 and cfg.padded_frames == 550
    assert StatsConfig().video_min_frames(550) == 82
