"""One clean environment: the machine's ``DESCOPE_AUDIT_*`` variables never reach a test.

``clean_env(extra)`` is the environment of a subprocess (a server, the command line, a
docs snippet); the ``clean_env`` fixture (tests/conftest.py) makes ``os.environ`` the
same for an in-process test, through :func:`clean_os_environ`, and hands back its
``monkeypatch`` to set more.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pytest

__all__ = ["PREFIX", "clean_env", "clean_os_environ"]

#: The prefix of the library's settings in the environment.
PREFIX = "DESCOPE_AUDIT_"
#: What a subprocess keeps of this environment when it does not inherit it.
_ESSENTIAL = ("PATH", "HOME", "LANG")


def clean_env(
    extra: Mapping[str, str] | None = None, *, drop: Sequence[str] = (), inherit: bool = True
) -> dict[str, str]:
    """This process's environment without any ``DESCOPE_AUDIT_*`` variable, plus ``extra``.

    ``drop``: more prefixes to leave out. ``inherit=False``: only ``PATH``, ``HOME`` and
    ``LANG`` of this environment. Python's output is unbuffered (a subprocess's log is
    read while it runs).
    """
    base = os.environ if inherit else {k: v for k, v in os.environ.items() if k in _ESSENTIAL}
    env = {k: v for k, v in base.items() if not k.startswith((PREFIX, *drop))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def clean_os_environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove from ``os.environ``, until the test ends, what :func:`clean_env` leaves out."""
    kept = clean_env()
    for name in list(os.environ):
        if name not in kept:
            monkeypatch.delenv(name)
    return monkeypatch
