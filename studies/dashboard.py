"""Serving optuna-dashboard on the study store (an optional dependency)."""

from __future__ import annotations

import logging

from models.errors import ConfigError, check_whole_number
from studies.store.storage import mask_url, open_storage, resolve_url

_logger = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_PORT = 65535


def serve(*, storage: str | None = None, host: str = LOCAL_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve optuna-dashboard for ``storage`` on ``host:port`` until interrupted.

    Raises:
        ConfigError: optuna-dashboard is not installed, a bad port, or no such storage.
    """
    check_whole_number("--port", port, low=1, high=MAX_PORT)
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError(
            "the dashboard needs optuna-dashboard: pip install -e '.[dashboard]' (the README's main command does)"
        ) from None
    store = open_storage(storage, must_exist=True)
    if host != LOCAL_HOST:
        _logger.warning("Serving on %s: anyone who can reach this address can read and edit the studies", host)
    _logger.info("optuna-dashboard for %s at http://%s:%d/ (Ctrl-C stops it)",
                 mask_url(resolve_url(storage)), host, port)
    optuna_dashboard.run_server(store, host=host, port=port)
