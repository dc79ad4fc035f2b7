"""benchsuite.signals: SIGTERM as SigTerm once, a repeated SIGINT taken as one, exit codes."""

import signal

import pytest

from benchsuite import signals


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sigterm_raises_sigterm_once_then_is_ignored_until_the_end():
    with pytest.raises(signals.SigTerm) as stop:
        with signals.stop_on_signals():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)  # pragma: no cover - never reached
    assert signals.exit_code(stop.value) == 143 and signals.reason(stop.value) == "terminated (SIGTERM)"
    with signals.stop_on_signals():
        with pytest.raises(signals.SigTerm):
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # the second is ignored: the end record gets written
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_sigint_repeated_within_the_grace_is_the_same_ctrl_c():
    clock = Clock()
    with signals.stop_on_signals(clock):
        with pytest.raises(KeyboardInterrupt) as first:
            signal.raise_signal(signal.SIGINT)
        clock.now += signals.REPEAT_GRACE_S / 2
        signal.raise_signal(signal.SIGINT)  # torchrun's agent forwarding the same Ctrl-C: no exception
        clock.now += signals.REPEAT_GRACE_S
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # pressed again later: stops again
    assert signals.exit_code(first.value) == 130 and signals.reason(first.value) == signals.SIGINT_REASON
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_sigint_stays_ignored():
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals.stop_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_exit_code_follows_the_cause_it_carries():
    class Wrapped(KeyboardInterrupt):
        def __init__(self, cause):
            super().__init__()
            self.cause = cause

    assert signals.exit_code(Wrapped(signals.SigTerm())) == 143 and signals.describe(Wrapped(signals.SigTerm())) == "SIGTERM"
    assert signals.exit_code(Wrapped(KeyboardInterrupt())) == 130 and signals.describe(KeyboardInterrupt()) == "Ctrl-C"
