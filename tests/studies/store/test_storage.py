"""Opening a storage whose database driver is not installed."""

from __future__ import annotations

import sys

import pytest

from models.errors import ConfigError
from studies.store.storage import open_storage


def _open_without(monkeypatch, module, url):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, installed or not
    with pytest.raises(ConfigError) as caught:
        open_storage(url, must_exist=False)
    return str(caught.value)


def test_a_missing_postgres_driver_is_named_with_the_extra_that_installs_it(monkeypatch):
    message = _open_without(monkeypatch, "psycopg", "postgresql://user:secret@127.0.0.1:1/db")
    assert "'psycopg'" in message and 'pip install -e ".[postgres]"' in message
    assert "secret" not in message and "user:***@127.0.0.1" in message


def test_any_other_missing_driver_is_named(monkeypatch):
    message = _open_without(monkeypatch, "pymysql", "mysql+pymysql://user:secret@127.0.0.1:1/db")
    assert "'pymysql'" in message and ".[" not in message
    assert "secret" not in message
