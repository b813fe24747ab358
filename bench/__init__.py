"""Benchmarks: each prints its measure beside a baseline taken in the same run."""
