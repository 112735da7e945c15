"""The model tensor: TrialTensor, its assembly, cache and long-format export (SPEC §5)."""
