"""Sequence models for frame-level tingle prediction (SPEC §7)."""
