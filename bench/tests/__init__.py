"""Tests of the benchmark's own code (no timing): ``python -m pytest bench/tests``; ``make test`` runs them too."""
