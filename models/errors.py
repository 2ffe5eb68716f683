"""Errors raised for input the user can fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad input from the user: a value, a file or a combination of options.

    The message states the rule, the bad value and the fix. The CLI turns it into
    exit code 2, and nothing has been written to storage when it is raised.
    """


class DataError(ConfigError):
    """A data source is missing, unreadable or does not hold valid MNIST."""
