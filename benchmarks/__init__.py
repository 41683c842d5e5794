"""Benchmarks of freight against raw clients and peer libraries: ``python -m benchmarks run``."""
