"""Per-stimulus audio-visual features: ResNet-18 frames and librosa audio (SPEC §4)."""
