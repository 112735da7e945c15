"""Tidy tables from the raw archive: timeline, dense labels, 10-Hz PPG (SPEC §1-§3)."""
