"""Harnesses shared by the tests and the benchmarks of bench/ (which import them from here)."""
