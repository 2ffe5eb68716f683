"""Ctrl-C and SIGTERM as one ``KeyboardInterrupt``, remembered.

Optuna stores the running trial as FAIL when ``KeyboardInterrupt`` reaches it. But an
interrupt that lands while TensorFlow traces a graph can be swallowed there and come out
as another error (seen: ``ValueError: None values not supported``); :attr:`requested`
lets the caller recognise that error as the interrupt it is.
"""

from __future__ import annotations

import signal
from typing import Any


class Interrupts:
    """Install with :meth:`install`; ``requested`` is True once a signal came."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        """Handle SIGTERM, and SIGINT unless it is ignored (``nohup``, background jobs)."""
        signal.signal(signal.SIGTERM, self._handle)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt(f"signal {signum}")
