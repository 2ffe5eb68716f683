"""Ctrl-C and SIGTERM as one ``KeyboardInterrupt``, remembered.

Optuna stores the running trial as FAIL when ``KeyboardInterrupt`` reaches it. But the
exception can be lost: raised inside a weakref callback that TensorFlow's tracing set
off, Python reports it as "Exception ignored" and goes on; raised inside TensorFlow's
C++ it can come out as another error (seen: ``ValueError: None values not supported``).
:attr:`Interrupts.requested` lets the caller recognise that error as the interrupt it
is, and :func:`signal_received` lets a training loop that never saw the exception stop
at its next batch.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

_logger = logging.getLogger(__name__)


class Interrupts:
    """Install with :meth:`install`; ``requested`` is True once a signal came."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        """Handle SIGTERM, and SIGINT unless it is ignored (``nohup``, background jobs).

        Also quiets Python's "Exception ignored in ..." report for a KeyboardInterrupt this
        handler raised where Python cannot propagate it (a weakref or GC callback run by
        TensorFlow): the request is remembered, and training stops at its next batch end.
        """
        signal.signal(signal.SIGTERM, self._handle)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self._handle)
        previous_hook = sys.unraisablehook

        def hook(unraisable: Any) -> None:
            if self.requested and _caused_by_interrupt(unraisable.exc_value):
                _logger.debug("the interrupt was raised inside %r; stopping at the next batch", unraisable.object)
                return
            previous_hook(unraisable)

        sys.unraisablehook = hook

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt(f"signal {signum}")


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a KeyboardInterrupt or was raised while handling one (``SystemError`` from C code)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def signal_received() -> bool:
    """Whether the :class:`Interrupts` installed in this process has received a signal.

    False when none is installed (a notebook, a test). Safe to call from any thread: it
    only reads the installed handler, which is process-wide by nature.
    """
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return isinstance(owner, Interrupts) and owner.requested
