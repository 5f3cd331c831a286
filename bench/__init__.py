"""Benchmarks: see bench/README.md and `make bench`."""
