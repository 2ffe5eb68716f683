"""Reading a search space from a TOML, JSON or YAML file (``--space FILE``).

The file holds a ``dimensions`` table and, optionally, ``extends = "default"`` to
start from the default space (its dimensions replaced or extended by the file's)
instead of replacing it::

    extends = "default"

    [dimensions.dropout]
    type = "float"
    low = 0.0
    high = 0.5

Only safe parsers are used (``tomllib``, ``json``, ``yaml.safe_load``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from models.errors import ConfigError, first_line
from search.space import DEFAULT_SPACE, SearchSpace

MAX_SPACE_FILE_BYTES = 1 << 20
_TOP_LEVEL_KEYS = frozenset({"extends", "dimensions"})
_BASES = {"default": DEFAULT_SPACE}


def _parse_toml(text: str) -> Any:
    return tomllib.loads(text)


_PARSERS: Mapping[str, Callable[[str], Any]] = {
    ".toml": _parse_toml,
    ".json": json.loads,
    ".yaml": yaml.safe_load,
    ".yml": yaml.safe_load,
}
_PARSE_ERRORS = (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError, RecursionError)


def load_space_file(path: str | Path) -> SearchSpace:
    """Read and check the space in ``path``.

    Raises:
        ConfigError: unknown suffix, unreadable or unparsable file, or a broken rule.
    """
    path = Path(path)
    parser = _PARSERS.get(path.suffix.lower())
    if parser is None:
        raise ConfigError(
            f"space file {str(path)!r} has suffix {path.suffix!r}; accepted: {', '.join(_PARSERS)}"
        )
    text = _read_text(path)
    try:
        spec = parser(text)
    except _PARSE_ERRORS as exc:
        raise ConfigError(f"space file {str(path)!r} cannot be parsed: {first_line(exc)}") from None
    try:
        return space_from_spec(spec)
    except ConfigError as exc:
        raise ConfigError(f"space file {str(path)!r}: {exc}") from None


def space_from_spec(spec: Any) -> SearchSpace:
    """Build a space from a parsed space file (see the module docstring)."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"the top level must be a table, but got {type(spec).__name__}")
    extra = sorted(set(map(str, spec)) - _TOP_LEVEL_KEYS)
    if extra:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(extra)}; accepted: {', '.join(sorted(_TOP_LEVEL_KEYS))}"
        )
    extends = spec.get("extends")
    if extends is not None and not (isinstance(extends, str) and extends in _BASES):
        raise ConfigError(f"'extends' must be one of {', '.join(map(repr, _BASES))}, but got {extends!r}")
    return SearchSpace.from_dict(spec, base=_BASES.get(extends) if extends else None)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_SPACE_FILE_BYTES:
            raise ConfigError(f"space file {str(path)!r} is {size} bytes; the limit is {MAX_SPACE_FILE_BYTES}")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read space file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"space file {str(path)!r} is not UTF-8 text") from None
