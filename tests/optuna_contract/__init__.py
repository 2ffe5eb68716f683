"""Optuna's own storage test suite, run against this project's storage class (see plugin.py)."""
