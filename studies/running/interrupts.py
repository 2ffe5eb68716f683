"""Ctrl-C and SIGTERM as one ``KeyboardInterrupt``, remembered.

Optuna stores the running trial as FAIL when ``KeyboardInterrupt`` reaches it. But the
exception can be lost: raised inside a weakref callback that TensorFlow's tracing set
off, Python reports it as "Exception ignored" and goes on; raised inside TensorFlow's
C++ it can come out as another error (seen: ``ValueError: None values not supported``).
:attr:`Interrupts.requested` lets the caller recognise that error as the interrupt it
is, and :func:`signal_received` lets a training loop that never saw the exception stop
at its next batch.

A KeyboardInterrupt raised at an arbitrary point can also leave a storage transaction
or a lock half done. So while trials run (:func:`deferred`, entered by ``run_study``),
a signal only sets the flag, and the code stops at its own safe points: a batch end
(training stops, the trial raises ``KeyboardInterrupt`` and Optuna stores it FAIL), the
start of a trial, a claim from the budget gate, and waits on worker processes
(:func:`raise_if_interrupted`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

_logger = logging.getLogger(__name__)


class Interrupts:
    """Install with :meth:`install`; ``requested`` is True once a signal came."""

    def __init__(self) -> None:
        self.requested = False
        self.deferring = 0  # > 0: inside deferred(), a signal only sets ``requested``

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
        if not self.deferring:
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


def installed() -> Interrupts | None:
    """The :class:`Interrupts` installed in this process, or None (a notebook, a test).

    Safe to call from any thread: it only reads the installed handler, which is
    process-wide by nature.
    """
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return owner if isinstance(owner, Interrupts) else None


def signal_received() -> bool:
    """Whether the :class:`Interrupts` installed in this process has received a signal."""
    owner = installed()
    return owner is not None and owner.requested


def raise_if_interrupted() -> None:
    """A safe point: raise ``KeyboardInterrupt`` if a signal came."""
    if signal_received():
        raise KeyboardInterrupt("interrupted")


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within the block, a signal is only remembered; the code stops at its safe points."""
    owner = installed()
    if owner is None:
        yield
        return
    owner.deferring += 1
    try:
        yield
    finally:
        owner.deferring -= 1
