"""Benchmarks and latency budgets."""
