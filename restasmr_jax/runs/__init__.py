"""Run folders: options, the pipeline stages, reports, re-prediction and the command-line jobs (SPEC §6-§11)."""
