"""Hypothesis for the whole suite: its profiles and each property test's example budget.

Every profile turns off the per-example deadline, which flakes on a loaded 2-core
machine; each property test sets its own budget with :func:`examples`. ``dev`` (the
default) explores new random examples on every run and replays past failures from
``.hypothesis/``. ``ci`` (the default when ``CI=true``) is derandomized: the same examples
on every run, so a submission's result does not depend on the draw; new ground is
covered by ``dev`` runs and by ``HYPOTHESIS_PROFILE=thorough``, which multiplies the
budgets for a long local run. tests/conftest.py loads the profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["examples", "load_profile"]

_RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _RELAXED)
settings.register_profile("ci", _RELAXED, derandomize=True)
settings.register_profile("thorough", _RELAXED)


def load_profile() -> None:
    """``HYPOTHESIS_PROFILE``, else ``ci`` under ``CI=true``, else ``dev``."""
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))


def examples(budget: int) -> int:
    """The example budget for a property test, larger under ``HYPOTHESIS_PROFILE=thorough``."""
    return budget * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else budget
