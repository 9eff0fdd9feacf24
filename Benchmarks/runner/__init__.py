"""Benchmarks/run's parts: setup, the systems it starts, the load it drives, the report it writes."""
