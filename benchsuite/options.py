"""Click parameter types of the command line: the one number parser and the output paths.

`Number` refuses what a float option must never take (``nan``, ``inf``, a value out of its
range) with a usage error (exit 2) naming the option, the value and the range allowed;
every float option of run, claims, calibrate and compare uses it. `Threads` bounds
``--threads`` by this machine's logical CPUs (`benchsuite.settings.max_threads`). `OutPath` expands ``~`` (a shell leaves
``--out=~/x`` as it is). Torch-free; imported by the command line only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from benchsuite import files
from benchsuite.settings import THREADS_PER_CPU_MAX, max_threads


def _g(value: float) -> str:
    return f"{value:g}"


def allowed_range(low: float | None, high: float | None, *, low_open: bool = False, high_open: bool = False,
                  integer: bool = False) -> str:
    """'a finite number, x>0', 'an integer, 1<=x<=8', ... (what a range allows, written as
    click writes its own ranges)."""
    kind = "an integer" if integer else "a finite number"
    lo = f"{_g(low)}{'<' if low_open else '<='}" if low is not None else ""
    hi = f"{'<' if high_open else '<='}{_g(high)}" if high is not None else ""
    if low is not None and high is None:
        return f"{kind}, x{'>' if low_open else '>='}{_g(low)}"
    return f"{kind}, {lo}x{hi}" if lo or hi else kind


class Number(click.ParamType):
    """A finite float within [``low``, ``high``] (an end is excluded with ``low_open`` /
    ``high_open``; None: unbounded). nan, inf and out-of-range values are refused."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    @property
    def allowed(self) -> str:
        return allowed_range(self.low, self.high, low_open=self.low_open, high_open=self.high_open)

    def in_range(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number; allowed: {self.allowed}", param, ctx)
        if not self.in_range(number):
            self.fail(f"{value!r} is not allowed; allowed: {self.allowed}", param, ctx)
        return number

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NUMBER"


class Threads(click.ParamType):
    """``--threads``: an integer from 1 to `benchsuite.settings.max_threads` (checked when given)."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                number = None
        high = max_threads()
        if number is None or not 1 <= number <= high:
            self.fail(f"{value!r} is not allowed; allowed: {allowed_range(1, high, integer=True)} "
                      f"({THREADS_PER_CPU_MAX} x the {high // THREADS_PER_CPU_MAX} logical CPUs of this machine)",
                      param, ctx)
        return number


class Threshold(click.ParamType):
    """``compare --threshold``: ``5%``, ``5`` or ``0.05`` as a fraction (`benchsuite.compare.parse_threshold`)."""

    name = "threshold"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from benchsuite import compare

        if isinstance(value, float):
            return value
        try:
            return compare.parse_threshold(value)
        except compare.CompareError as exc:
            self.fail(str(exc), param, ctx)


class OutPath(click.Path):
    """A path option with ``~`` expanded."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(str(files.expand(value)), param, ctx)
