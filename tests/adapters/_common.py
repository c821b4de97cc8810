"""Credentials and deliveries shared by the framework-specific adapter tests."""

from __future__ import annotations

import os
from typing import Any

import pytest

from descope_audit_hook import BearerToken
from descope_audit_hook.testing import Delivery, make_delivery, sample_events

SECRET = "framework-tests-hmac-secret"
TOKEN = "framework-tests-bearer-token"
BEARER = BearerToken(TOKEN)


def signed(count: int = 2, **kwargs: Any) -> Delivery:
    """A delivery signed with SECRET and authenticated with TOKEN (or ``auth=``)."""
    return make_delivery(sample_events(count), hmac_secret=SECRET, **{"auth": BEARER, **kwargs})


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No DESCOPE_AUDIT_* variable from the machine leaks into a configuration test."""
    for name in list(os.environ):
        if name.startswith("DESCOPE_AUDIT_"):
            monkeypatch.delenv(name)
    return monkeypatch
