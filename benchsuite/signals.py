"""Ctrl-C and SIGTERM: what the API raises, and what the command line installs and exits with.

The API (`benchsuite.session`, `benchsuite.calibrate`, the claims) never installs a signal
handler: it sees a KeyboardInterrupt, ends what it was writing as ``interrupted`` with
`reason` as the end record's reason, and re-raises. The command line installs one handler,
`sigterm_as_interrupt`, which turns SIGTERM (what a batch scheduler sends at its time limit)
into `SigTerm`, a KeyboardInterrupt, so that a terminated run ends like an interrupted one;
it exits with `exit_code`. Under torchrun, `benchsuite.distributed.Context` puts its own
SIGTERM handler in front for as long as a rank is in the job (the launcher stops every rank
that way when one fails) and restores this one after. Torch-free.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

# 128 + the signal number: what a shell reports for a process a signal ended (bash, POSIX sh).
EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
SIGINT_REASON = "interrupted by the user (SIGINT)"
SIGTERM_REASON = "terminated (SIGTERM)"


class SigTerm(KeyboardInterrupt):
    """SIGTERM arrived while the command line's handler was installed: stop like Ctrl-C."""

    reason = SIGTERM_REASON


def reason(exc: BaseException) -> str:
    """The end record's reason for an interruption: SIGTERM or Ctrl-C."""
    return SIGTERM_REASON if _by_sigterm(exc) else SIGINT_REASON


def exit_code(exc: BaseException) -> int:
    """130 after Ctrl-C, 143 after SIGTERM (``exc`` or what it was raised from)."""
    return EXIT_SIGTERM if _by_sigterm(exc) else EXIT_SIGINT


def describe(exc: BaseException) -> str:
    """'Ctrl-C' or 'SIGTERM', for messages."""
    return "SIGTERM" if _by_sigterm(exc) else "Ctrl-C"


def _by_sigterm(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:  # the exception, the one it carries, the one it was raised from
        if isinstance(exc, SigTerm):
            return True
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises `SigTerm` in the main thread. Only the first one: later
    ones are ignored so that the end record gets written. The previous handler comes back on
    exit. Outside the main thread (where Python allows no handler) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SigTerm()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
