"""Cross-validation, batches, the vmapped training program, checkpoints, models, XGBoost (SPEC §6-§8)."""
