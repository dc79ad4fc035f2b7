"""A clock that only steps move: for timing loops on the CPU without waiting."""

from __future__ import annotations


class Clock:
    """Each step advances time by ``step_s``; reading the clock is free."""

    def __init__(self, step_s):
        self.t, self.step_s, self.steps = 0.0, step_s, 0

    def __call__(self):
        return self.t

    def step(self):
        self.t += self.step_s
        self.steps += 1
