"""Every command-line test runs without the machine's ``DESCOPE_AUDIT_*`` variables.

The subprocesses get a clean environment from ``tests.support.cli.run_cli``; the
``clean_env`` fixture (tests/conftest.py) covers the commands run in-process through ``main()``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _hermetic(clean_env: pytest.MonkeyPatch) -> None:
    pass
