"""descope_audit_hook.testing: what users' own tests build deliveries with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from descope_audit_hook import ApiKey, Auth, BasicAuth, BearerToken, SignatureError, SignedForm, Verifier
from descope_audit_hook._signature import FORMS
from descope_audit_hook.testing import (
    SAMPLE_KINDS,
    Delivery,
    make_delivery,
    sample_event,
    sample_events,
    signed_string,
)
from tests.support.deliveries import SIG
from tests.support.secrets import HMAC_SECRET

AUTHS: list[Auth | None] = [
    None,
    BearerToken("tok-a", "tok-b"),
    ApiKey("X-Api-Key", "key-a", "key-b"),
    BasicAuth("descope", "pw-a", ("descope", "pw-b")),
]
TRICKY: dict[str, Any] = sample_event(
    "login_failed", data={"note": "<script>&\u2028é</script>", "score": 1.0, "tiny": 5e-7, "big": 2**60 + 1}
)


@pytest.mark.parametrize("auth", AUTHS, ids=["none", "bearer", "apikey", "basic"])
@pytest.mark.parametrize("form", FORMS)
def test_make_delivery_for_every_auth_and_form(auth: Auth | None, form: SignedForm) -> None:
    events = [*sample_events(5), TRICKY]
    body, headers = make_delivery(
        events, hmac_secret=HMAC_SECRET, auth=auth, required_headers={"x-env": "prod"}, signed_form=form
    )
    verifier = Verifier(HMAC_SECRET, auth=auth, required_headers={"x-env": "prod"})
    batch = verifier.verify(body, headers)
    assert batch.signed_form == form
    assert [e.action for e in batch] == [e["action"] for e in events]
    assert batch[-1].data["note"] == TRICKY["data"]["note"]
    # The delivery's signature covers exactly that form, not the others (a raw body without
    # trailing whitespace is also its own trimmed form).
    others = [f for f in FORMS if f != form and (form, f) != ("raw", "trimmed")]
    with pytest.raises(SignatureError):
        Verifier(HMAC_SECRET, auth=auth, required_headers={"x-env": "prod"}, signed_forms=others).verify(body, headers)


@pytest.mark.parametrize("auth", AUTHS[1:], ids=["bearer", "apikey", "basic"])
def test_make_delivery_without_secret(auth: Auth) -> None:
    delivery = make_delivery([sample_event()], auth=auth)
    assert SIG not in delivery.headers
    assert len(Verifier(auth=auth).verify(*delivery)) == 1


def test_delivery_shape() -> None:
    delivery = make_delivery(sample_event("user_created"), hmac_secret=HMAC_SECRET)
    assert isinstance(delivery, Delivery)
    body, headers = delivery
    assert body == delivery.body
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["action"] == "UserCreated"  # a single object stays an object
    assert len(Verifier(HMAC_SECRET).verify(body, headers)) == 1


def test_ready_bytes_are_signed_as_they_are() -> None:
    body = b'[{"action":"A","occurred":1}]\n\n'
    delivery = make_delivery(body, hmac_secret=HMAC_SECRET, signed_form="compact")
    assert delivery.body == body
    assert Verifier(HMAC_SECRET).verify(*delivery).signed_form == "raw"


def test_signed_string_forms() -> None:
    payload = [TRICKY]
    raw_body, raw_signed = signed_string(payload, "raw")
    assert raw_body == raw_signed
    trimmed_body, trimmed_signed = signed_string(payload, "trimmed")
    assert trimmed_body == trimmed_signed + b"\n"
    compact_body, compact_signed = signed_string(payload, "compact")
    assert b"\n" in compact_body
    assert b'"score":1,' in compact_signed
    assert b'"tiny":5e-7' in compact_signed
    assert b'"big":1152921504606846977' in compact_signed  # integers exactly, as Go writes them
    assert b"<script>" in compact_signed
    _, escaped = signed_string(payload, "compact-escaped")
    assert b"\\u003cscript\\u003e\\u0026\\u2028" in escaped
    with pytest.raises(ValueError, match="unknown signed form"):
        signed_string(payload, "pretty")  # type: ignore[arg-type]


def test_sample_event() -> None:
    assert set(SAMPLE_KINDS) >= {"login_succeed", "login_failed", "user_modified", "user_created"}
    for kind in SAMPLE_KINDS:
        (event,) = Verifier(allow_unauthenticated=True).verify(json.dumps([sample_event(kind)]).encode(), {})
        assert event.action
    assert sample_event("login_failed", geo="FR")["geo"] == "FR"
    first = sample_event()
    first["data"]["mutated"] = True
    assert "mutated" not in sample_event()["data"]  # deep copies
    with pytest.raises(ValueError, match="unknown sample"):
        sample_event("nope")


def test_sample_events() -> None:
    events = sample_events(50, seed=7)
    assert len(events) == 50
    assert events == sample_events(50, seed=7)
    assert events != sample_events(50, seed=8)
    batch = Verifier(allow_unauthenticated=True).verify(json.dumps(events).encode(), {})
    assert len({e.fingerprint for e in batch}) == 50
    assert sample_events(0) == []


def test_a_compact_delivery_of_many_floats_verifies() -> None:
    # The pretty-printed body spells floats as JavaScript does: none needs rewriting, so
    # no rewrite budget applies however many there are.
    payload = [sample_event("login_failed", data={"scores": [float(i) for i in range(200)] + [1e-7, 3.0]})]
    forms: tuple[SignedForm, ...] = ("compact", "compact-escaped")
    for form in forms:
        body, headers = make_delivery(payload, hmac_secret="k", signed_form=form)
        batch = Verifier("k").verify(body, headers)
        assert batch.signed_form in ("compact", "compact-escaped")
        assert batch[0].data["scores"][-1] == 3
