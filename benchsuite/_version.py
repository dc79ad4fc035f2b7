"""benchsuite's version: the installed distribution's (pyproject.toml ``version``), read once."""

from __future__ import annotations

from importlib import metadata

# A source tree that was never installed (no dist-info) has no version to read.
UNKNOWN = "0+unknown"

try:
    __version__ = metadata.version("benchsuite")
except metadata.PackageNotFoundError:
    __version__ = UNKNOWN
