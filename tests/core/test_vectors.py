"""Known-answer vectors: the recorded deliveries signed with the wire-format page's secret."""

from __future__ import annotations

import json

import pytest

from descope_audit_hook import SIGNATURE_HEADER, Severity, SignatureError, Verifier, sign, verify
from tests.support.deliveries import FIXTURE_SIGNATURES, fixture_bytes
from tests.support.secrets import FIXTURE_SECRET

NAMES = sorted(FIXTURE_SIGNATURES)


def test_signature_header_name() -> None:
    assert SIGNATURE_HEADER == "x-descope-webhook-s256"


@pytest.mark.parametrize("name", NAMES)
def test_sign_reproduces_the_published_signature(name: str) -> None:
    assert sign(fixture_bytes(name), FIXTURE_SECRET) == FIXTURE_SIGNATURES[name]
    assert sign(fixture_bytes(name).decode("utf-8"), FIXTURE_SECRET.encode()) == FIXTURE_SIGNATURES[name]


@pytest.mark.parametrize("name", NAMES)
def test_verify_accepts_the_recorded_delivery_as_raw(name: str) -> None:
    body = fixture_bytes(name)
    headers = {"Content-Type": "application/json", "X-Descope-Webhook-S256": FIXTURE_SIGNATURES[name]}
    batch = Verifier(FIXTURE_SECRET).verify(body, headers)
    assert batch.signed_form == "raw"
    assert batch.body == body
    assert len(batch) == len(json.loads(body))


@pytest.mark.parametrize("name", NAMES)
def test_other_secret_rejects_the_recorded_delivery(name: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(fixture_bytes(name), {SIGNATURE_HEADER: FIXTURE_SIGNATURES[name]}, hmac_secret=FIXTURE_SECRET + "x")
    assert info.value.code == "invalid_signature"


def test_login_succeed_fields() -> None:
    batch = verify(
        fixture_bytes("login_succeed.json"),
        {SIGNATURE_HEADER: FIXTURE_SIGNATURES["login_succeed.json"]},
        hmac_secret=FIXTURE_SECRET,
    )
    (event,) = batch
    assert event.action == "LoginSucceed"
    assert event.severity is Severity.INFO
    assert event.occurred.isoformat() == "2026-06-08T20:18:25.843000+00:00"
    assert event.occurred_ms == 1780949905843
    assert event.actor_id == event.user_id == "U2J5ES9S8TkvCgOvcrkpzUgVTEBM"
    assert event.project_id == "P2aAc4T2V93bddihGEx2Ryhc8e5Z"
    assert (event.device, event.method, event.geo, event.remote_address) == ("Desktop", "otp", "US", "203.0.113.24")
    assert event.login_ids == ("alice@example.com",)
    assert event.tenants == ("acme-corp",)
    assert dict(event.data) == {}
    assert event.raw["occurred_formatted"] == "2026-06-08T20:18:25.843Z"


def test_login_failed_fields() -> None:
    (event,) = verify(
        fixture_bytes("login_failed.json"),
        [(SIGNATURE_HEADER, FIXTURE_SIGNATURES["login_failed.json"])],
        hmac_secret=FIXTURE_SECRET,
    )
    assert event.action == "LoginFailed"
    assert event.severity is Severity.WARNING
    assert event.data["error_message"] == "Invalid login credentials"


def test_user_modified_batch_fields() -> None:
    batch = verify(
        fixture_bytes("user_modified_batch.json"),
        {SIGNATURE_HEADER: FIXTURE_SIGNATURES["user_modified_batch.json"]},
        hmac_secret=FIXTURE_SECRET,
    )
    assert [e.action for e in batch] == ["UserModified"] * 3
    first, second, third = batch
    # Empty strings become None.
    assert (first.device, first.method, first.geo, first.remote_address) == (None, None, None, None)
    assert first.data["Change"]["display_name"] == "Alice Smith"
    assert second.login_ids == ("+15555550123", "bob@example.com")
    # tenants: null is an empty tuple; absent device etc. are None.
    assert third.tenants == ()
    assert third.device is None
    assert len({e.fingerprint for e in batch}) == 3
