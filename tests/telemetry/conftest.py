"""Every telemetry test starts and ends with NVML's cached state forgotten."""

from __future__ import annotations

import pytest

from benchsuite.telemetry import nvml


@pytest.fixture(autouse=True)
def _fresh_nvml():
    nvml._reset_for_tests()
    yield
    nvml._reset_for_tests()
