"""Benchmarks of facekeep: ``python -m bench`` (see README, Performance)."""
