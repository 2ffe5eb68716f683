"""Errors raised for input the user can fix."""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """Bad input from the user: a value, a file or a combination of options.

    The message states the rule, the bad value and the fix. The CLI turns it into
    exit code 2, and nothing has been written to storage when it is raised.
    """


class DataError(ConfigError):
    """A data source is missing, unreadable or does not hold valid MNIST."""


def check_whole_number(flag: str, value: Any, *, low: int, high: int) -> int:
    """Return ``value`` if it is an int (not a bool) in ``[low, high]``; else raise :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{flag} must be a whole number in [{low}, {high}], but got {value!r}")
    return value


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none), for one-line errors."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
