"""Benchmarks: speed and memory at the reference size. Not tests; they never fail the suite."""
