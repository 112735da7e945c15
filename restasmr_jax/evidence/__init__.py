"""Scoring plain arrays: predictions, the published artifact, metrics, statistics, tables, figures (SPEC §9, §11)."""
