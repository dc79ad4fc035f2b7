"""Ctrl-C and SIGTERM: what the API raises, and what the command line installs and exits with.

The API (`benchsuite.session`, `benchsuite.calibrate`, the claims) never installs a signal
handler: it sees a KeyboardInterrupt, ends what it was writing as ``interrupted`` with
`reason` as the end record's reason, and re-raises. The command line installs the handlers,
`stop_on_signals`: SIGTERM (what a batch scheduler sends at its time limit) becomes `SigTerm`,
a KeyboardInterrupt, so that a terminated run ends like an interrupted one; a SIGINT that
repeats within `REPEAT_GRACE_S` is the same Ctrl-C delivered twice and does not cut the end
record short; it exits with `exit_code`. Under torchrun, `benchsuite.distributed.Context` puts its own
SIGTERM handler in front for as long as a rank is in the job (the launcher stops every rank
that way when one fails) and restores this one after. Torch-free.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Iterator

# 128 + the signal number: what a shell reports for a process a signal ended (bash, POSIX sh).
EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
SIGINT_REASON = "interrupted by the user (SIGINT)"
SIGTERM_REASON = "terminated (SIGTERM)"
#: A second SIGINT this soon after the first is taken as the same Ctrl-C: torchrun's agent
#: forwards the terminal's SIGINT to ranks that already had it from the terminal, and the
#: second must not interrupt the end record. A Ctrl-C pressed again later still stops.
REPEAT_GRACE_S = 2.0


class SigTerm(KeyboardInterrupt):
    """SIGTERM arrived while the command line's handler was installed: stop like Ctrl-C."""


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
def stop_on_signals(clock=time.monotonic) -> Iterator[None]:
    """While inside (main thread only; elsewhere Python allows no handler, and this does
    nothing): SIGTERM raises `SigTerm` once, later ones are ignored so that the end record
    gets written; SIGINT raises KeyboardInterrupt, but not again within `REPEAT_GRACE_S`.
    The previous handlers come back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    last_sigint: list[float] = []

    def on_sigterm(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SigTerm()

    def on_sigint(signum, frame) -> None:
        now = clock()
        if last_sigint and now - last_sigint[-1] < REPEAT_GRACE_S:
            return
        last_sigint.append(now)
        raise KeyboardInterrupt

    previous = {}
    for signum, handler in ((signal.SIGTERM, on_sigterm), (signal.SIGINT, on_sigint)):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored on purpose (nohup, a background job)
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
