"""benchsuite: measure what an accelerator really does on deep-learning work.

From Python::

    import benchsuite

    done = benchsuite.run(workloads="mlp", devices="cpu", batch_sizes=[8], min_time=0.05, out="reports")
    df = benchsuite.load(done.dir)      # one row per case (pandas)

Importing ``benchsuite`` imports neither torch nor NVML: `run` and `load` import what they
need when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import pandas as pd

    from benchsuite.session import Run

__all__ = ["__version__", "run", "load"]


def __getattr__(name: str) -> Any:
    """``benchsuite.__version__``, read on first use (importlib.metadata takes tens of ms, and
    the package's own import must stay short: see `benchsuite.__main__`)."""
    if name == "__version__":
        from benchsuite._version import __version__

        return __version__
    raise AttributeError(f"module 'benchsuite' has no attribute {name!r}")


def run(*args: Any, **options: Any) -> "Run":
    """Measure a sweep and return the run (its directory, status and case records).

    ``run(workloads, devices, precisions, batch_sizes, modes, params, *, min_time=..., out=...)``
    takes the options of ``benchsuite run``; see `benchsuite.session.run`.
    """
    from benchsuite import session

    return session.run(*args, **options)


def load(paths: "str | Path | list[str | Path]") -> "pd.DataFrame":
    """Results of one or more runs (run directories or results.jsonl files) as a DataFrame,
    one row per case; see `benchsuite.results.load`."""
    from benchsuite import results

    return results.load(paths)
