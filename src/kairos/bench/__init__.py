"""Benchmarks: `kairos bench NAME --json PATH`, each against a baseline measured in the same run."""
