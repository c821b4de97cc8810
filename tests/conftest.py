"""Shared pytest configuration for the whole suite.

Hypothesis: the ``ci`` profile (the default here) turns off the per-example deadline,
which flakes on a loaded 2-core CI machine; each property test sets its own example
budget (``tests/core/_support.examples``); ``HYPOTHESIS_PROFILE=thorough`` multiplies
the budgets for a long local run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of recorded, signed sample deliveries."""
    return FIXTURES
