"""Benchmarks of the monitor against its baselines, all measured in one run (``python -m bench``)."""
