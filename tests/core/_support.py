"""Constants and small helpers shared by the core tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import AuditBatch, PayloadError, Verifier

FIXTURES = Path(__file__).parent.parent / "fixtures"

#: The secret the shared fixtures are signed with (docs/wire-format.md).
FIXTURE_SECRET = "descope-test-hmac-secret"

#: file name -> the x-descope-webhook-s256 value from the wire-format page.
FIXTURE_SIGNATURES = {
    "login_succeed.json": "PeG4lFjTZza0qBGFJqzI0n8upOuvzCCSIuweTJk3/VU=",
    "login_failed.json": "B6V4/0fUnP3Dl28fGu7FC3Rc29KdZwM2gK7l4Do4LIQ=",
    "user_modified_batch.json": "hBDpX8vMpweqky28dSTFWRQHM9B6iEu0QInkVdEpyjs=",
}

SECRET = "unit-test-hmac-secret"
TOKEN = "unit-test-bearer-token"
SIG = "x-descope-webhook-s256"
_OPEN = Verifier(allow_unauthenticated=True)


def signature_of(message: bytes, secret: str = SECRET) -> str:
    """The ``x-descope-webhook-s256`` value of ``message``, independent of the library (docs/wire-format.md)."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_form_of(body: bytes, signature: str, **options: Any) -> str | None:
    """The form ``Verifier(SECRET, **options)`` says the signature matched (or its error)."""
    return Verifier(SECRET, **options).verify(body, {SIG: signature}).signed_form


def verify_open(payload: Any) -> AuditBatch:
    """The batch of ``payload`` (bytes, or a value written as JSON) under a verifier with no credentials."""
    return _OPEN.verify(payload if isinstance(payload, bytes) else body_of(payload), {})


def refused(payload: Any) -> PayloadError:
    """The 400 :class:`PayloadError` :func:`verify_open` raises for ``payload``."""
    with pytest.raises(PayloadError) as info:
        verify_open(payload)
    assert info.value.status_code == 400
    return info.value


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def stringify_vectors() -> list[dict[str, str]]:
    """Vectors made by Node.js: ``JSON.stringify(JSON.parse(input))`` (see make_stringify_vectors.js)."""
    data: dict[str, Any] = json.loads((FIXTURES / "stringify_vectors.json").read_text("utf-8"))
    vectors: list[dict[str, str]] = data["vectors"]
    return vectors


def event(**fields: Any) -> dict[str, Any]:
    """A minimal valid event with ``fields`` added or replaced."""
    base: dict[str, Any] = {"action": "LoginSucceed", "occurred": 1780949905843}
    base.update(fields)
    return base


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def examples(budget: int) -> int:
    """The example budget for a property test, larger under ``HYPOTHESIS_PROFILE=thorough``."""
    return budget * 20 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else budget


class ReadOnlyHeaders(Mapping[str, str]):
    """A case-insensitive Mapping like Django's HttpHeaders."""

    def __init__(self, data: dict[str, str]) -> None:
        self._data = {k.lower(): v for k, v in data.items()}

    def __getitem__(self, key: str) -> str:
        return self._data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class MultiItems:
    """Not a Mapping, but has items() yielding every value (Werkzeug's EnvironHeaders shape)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)
