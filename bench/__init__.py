"""Benchmarks: each module prints side-by-side timings and their ratio (`python -m bench.<name>`)."""
