"""The process exit codes of the CLI and of its worker processes (one meaning each)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # the run failed: too many failed trials, a storage error
EXIT_USAGE = 2  # bad input; nothing was written
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; the running trial is stored FAIL
