"""Deliveries as Descope's connector sends them, payloads, the recorded fixtures, verified batches.

Signed with :data:`~tests.support.secrets.HMAC_SECRET` and authenticated with
:data:`~tests.support.secrets.BEARER_TOKEN` unless a test says otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import pytest

from descope_audit_hook import AuditBatch, BearerToken, PayloadError, Verifier
from descope_audit_hook.testing import Delivery, make_delivery, sample_events

from .paths import FIXTURES
from .secrets import BEARER_TOKEN, HMAC_SECRET

__all__ = [
    "BEARER",
    "FIXTURE_SIGNATURES",
    "SIG",
    "batch_of",
    "body_of",
    "event",
    "fixture_bytes",
    "overlapping_deliveries",
    "refused",
    "signature_of",
    "signed",
    "signed_form_of",
    "stringify_vectors",
    "verify_open",
]

#: The signature header.
SIG = "x-descope-webhook-s256"
#: The connector's Bearer authentication with :data:`BEARER_TOKEN`.
BEARER = BearerToken(BEARER_TOKEN)

#: file name -> the x-descope-webhook-s256 value from the wire-format page (FIXTURE_SECRET).
FIXTURE_SIGNATURES = {
    "login_succeed.json": "PeG4lFjTZza0qBGFJqzI0n8upOuvzCCSIuweTJk3/VU=",
    "login_failed.json": "B6V4/0fUnP3Dl28fGu7FC3Rc29KdZwM2gK7l4Do4LIQ=",
    "user_modified_batch.json": "hBDpX8vMpweqky28dSTFWRQHM9B6iEu0QInkVdEpyjs=",
}

_OPEN = Verifier(allow_unauthenticated=True)


def signed(count: int = 2, **kwargs: Any) -> Delivery:
    """A delivery of ``count`` sample events signed with HMAC_SECRET, authenticated with BEARER (or ``auth=``)."""
    return make_delivery(sample_events(count), hmac_secret=HMAC_SECRET, **{"auth": BEARER, **kwargs})


def batch_of(events: Sequence[dict[str, object]]) -> AuditBatch:
    """A verified batch of ``events`` (signed in the compact form)."""
    body, headers = make_delivery(list(events), hmac_secret=HMAC_SECRET, signed_form="compact")
    return Verifier(HMAC_SECRET).verify(body, headers)


def overlapping_deliveries(events: int, size: int, stride: int, *, seed: int = 1) -> tuple[list[Delivery], set[str]]:
    """Batches of ``size`` consecutive events, starting every ``stride``: most events arrive in several.

    Returns the deliveries and the fingerprints of all distinct events.
    """
    payload = sample_events(events, seed=seed)
    deliveries = [
        make_delivery(payload[start : start + size], hmac_secret=HMAC_SECRET) for start in range(0, events, stride)
    ]
    verifier = Verifier(HMAC_SECRET)
    fingerprints = {e.fingerprint for d in deliveries for e in verifier.verify(d.body, d.headers)}
    return deliveries, fingerprints


def signature_of(message: bytes, secret: str = HMAC_SECRET) -> str:
    """The ``x-descope-webhook-s256`` value of ``message``, independent of the library (docs/wire-format.md)."""
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signed_form_of(body: bytes, signature: str, **options: Any) -> str | None:
    """The form ``Verifier(HMAC_SECRET, **options)`` says the signature matched (or its error)."""
    return Verifier(HMAC_SECRET, **options).verify(body, {SIG: signature}).signed_form


def event(**fields: Any) -> dict[str, Any]:
    """A minimal valid event with ``fields`` added or replaced."""
    base: dict[str, Any] = {"action": "LoginSucceed", "occurred": 1780949905843}
    base.update(fields)
    return base


def body_of(payload: Any) -> bytes:
    """``payload`` written as compact JSON."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


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
    """A recorded delivery's body, as signed (FIXTURE_SECRET)."""
    return (FIXTURES / name).read_bytes()


def stringify_vectors() -> list[dict[str, str]]:
    """Vectors made by Node.js: ``JSON.stringify(JSON.parse(input))`` (see make_stringify_vectors.js)."""
    data: dict[str, Any] = json.loads((FIXTURES / "stringify_vectors.json").read_text("utf-8"))
    vectors: list[dict[str, str]] = data["vectors"]
    return vectors
