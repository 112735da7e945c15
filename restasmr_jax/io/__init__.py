"""Readers for the raw archive's file formats (SPEC §1)."""
