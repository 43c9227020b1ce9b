"""Benchmarks that print numbers: `python -m bench.ack`."""
