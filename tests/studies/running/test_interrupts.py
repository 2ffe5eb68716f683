"""Interrupts: a signal becomes one KeyboardInterrupt and is remembered process-wide."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import weakref

import pytest

from studies.running.interrupts import Interrupts, deferred, raise_if_interrupted, signal_received
from tests.helpers import sigint_as_in_a_terminal


@pytest.fixture
def restore_handlers():
    """Ctrl-C as in a terminal however the suite was started, and the handlers as they were afterwards."""
    saved = signal.getsignal(signal.SIGTERM)
    hook = sys.unraisablehook
    with sigint_as_in_a_terminal():
        yield
    signal.signal(signal.SIGTERM, saved)
    sys.unraisablehook = hook


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_raises_once_and_is_remembered(restore_handlers, signum):
    interrupts = Interrupts()
    interrupts.install()
    assert not signal_received()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signum)
    assert interrupts.requested
    seen = []
    worker = threading.Thread(target=lambda: seen.append(signal_received()))
    worker.start()
    worker.join()
    assert seen == [True], "Keras' callback thread must see the request too"


def test_nothing_is_received_without_an_installed_handler(restore_handlers):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert not signal_received()


class _Target:
    pass


def _interrupt_lost_in_a_weakref_callback(*, wrapped: bool) -> None:
    """What TensorFlow's tracing does to a signal: the KeyboardInterrupt is raised where Python can't propagate it."""
    def callback(_ref):
        if not wrapped:
            raise KeyboardInterrupt("signal 2")
        try:
            raise KeyboardInterrupt("signal 2")
        except KeyboardInterrupt as exc:  # as C code reports it: "returned a result with an exception set"
            raise SystemError("<built-in function __import__> returned a result with an exception set") from exc

    target = _Target()
    ref = weakref.ref(target, callback)
    del target
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "as-system-error"])
@pytest.mark.parametrize("requested", [True, False])
def test_a_lost_interrupt_is_reported_only_when_no_signal_came(restore_handlers, requested, wrapped):
    reported = []
    sys.unraisablehook = lambda unraisable: reported.append(unraisable.exc_type)
    interrupts = Interrupts()
    interrupts.install()
    interrupts.requested = requested
    _interrupt_lost_in_a_weakref_callback(wrapped=wrapped)
    assert reported == ([] if requested else [SystemError if wrapped else KeyboardInterrupt])


def test_while_deferred_a_signal_waits_for_a_safe_point(restore_handlers):
    interrupts = Interrupts()
    interrupts.install()
    with deferred():
        os.kill(os.getpid(), signal.SIGTERM)  # no exception here, in the middle of anything
        assert interrupts.requested
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    interrupts.requested = False
    with pytest.raises(KeyboardInterrupt):  # outside the block, at once again
        os.kill(os.getpid(), signal.SIGTERM)


def test_without_an_installed_handler_deferring_changes_nothing(restore_handlers):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with deferred():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        with pytest.raises(KeyboardInterrupt):  # Python's own Ctrl-C, at once: nothing defers it
            os.kill(os.getpid(), signal.SIGINT)
        assert not signal_received()
        raise_if_interrupted()  # nothing was remembered, so the safe point lets the code go on


def test_an_ignored_ctrl_c_stays_ignored_and_sigterm_is_still_handled(restore_handlers):
    # nohup and background jobs start a process with SIGINT ignored: the user meant it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupts = Interrupts()
    interrupts.install()
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGINT)
    assert not interrupts.requested
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
    assert interrupts.requested
