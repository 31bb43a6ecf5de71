"""Execution backends: where sessions (and pipeline steps) run. See ``contract.py``."""
