"""Every command-line test runs without the machine's ``DESCOPE_AUDIT_*`` variables.

The subprocesses get a clean environment from ``_support.run_cli``; this covers the
commands run in-process through ``main()``.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DESCOPE_AUDIT_"):
            monkeypatch.delenv(name)
