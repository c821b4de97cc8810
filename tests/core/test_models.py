"""AuditEvent, AuditBatch, Severity, Action: the typed results."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from descope_audit_hook import Action, AuditBatch, AuditEvent, PayloadError, Severity, Verifier
from descope_audit_hook.testing import make_delivery, sample_event

OPEN = Verifier(allow_unauthenticated=True)


def one(payload: Any, **dumps: Any) -> AuditEvent:
    (event,) = OPEN.verify(json.dumps(payload, **dumps).encode(), {})
    return event


def test_fingerprint_equal_for_a_redelivery() -> None:
    original = sample_event("user_modified")
    first = one([original])
    # The same event re-serialized: pretty, keys reordered, occurred as the search API's string,
    # loginIds spelled externalIds, empty strings dropped, non-ASCII escaped.
    again = {k: original[k] for k in reversed(list(original)) if original[k] != ""}
    again["occurred"] = str(original["occurred"])
    again["externalIds"] = again.pop("loginIds")
    again["data"] = {"Change": dict(reversed(list(original["data"]["Change"].items())))}
    second = one(again, indent=3, ensure_ascii=True)
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64
    int(first.fingerprint, 16)
    # and across batches and calls
    assert one([original], separators=(",", ":")).fingerprint == first.fingerprint


def test_fingerprint_ignores_unknown_and_derived_fields() -> None:
    base = sample_event("login_failed")
    assert one([base]).fingerprint == one([{**base, "occurred_formatted": "x", "newField": 1}]).fingerprint


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "LoginSucceed"),
        ("occurred", 1780949905843 + 106_534 + 1),
        ("type", "error"),
        ("actorId", "someone-else"),
        ("userId", "someone-else"),
        ("projectId", "P-other"),
        ("tenants", ["acme-corp", "x"]),
        ("loginIds", ["bob@example.com"]),
        ("device", "Desktop"),
        ("method", "otp"),
        ("geo", "FR"),
        ("remoteAddress", "198.51.100.8"),
        ("data", {"error_message": "Other"}),
    ],
)
def test_fingerprint_differs_when_a_field_differs(field: str, value: Any) -> None:
    base = sample_event("login_failed")
    assert one([base]).fingerprint != one([{**base, field: value}]).fingerprint


def test_tenant_order_matters_for_the_fingerprint() -> None:
    base = sample_event("user_modified")
    assert one([base]).fingerprint != one([{**base, "tenants": list(reversed(base["tenants"]))}]).fingerprint


def test_hand_built_event() -> None:
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    event = AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",))
    assert event.occurred_ms == 1767225600000
    assert event.data == {}
    assert event.to_dict()["tenants"] == ["t"]
    assert event == AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",))
    assert hash(event) == hash(AuditEvent("LoginSucceed", when, Severity.INFO, tenants=("t",)))
    with pytest.raises(TypeError):
        AuditEvent("", when)
    with pytest.raises(TypeError):
        AuditEvent("A", datetime(2026, 1, 1))  # naive
    with pytest.raises(TypeError):
        AuditEvent("A", when, tenants=["t"])  # type: ignore[arg-type]


def test_occurred_ms_is_exact_for_millisecond_values() -> None:
    for ms in (0, 1, 999, 1780949905843, -1, -1001, 253402300799999):
        assert one([{"action": "A", "occurred": ms}]).occurred_ms == ms


def test_to_dict_round_trips() -> None:
    event = one([sample_event("login_failed")])
    as_dict = event.to_dict()
    assert as_dict["occurred"] == sample_event("login_failed")["occurred"]
    assert as_dict["type"] == "warn"
    again = one([as_dict])
    assert again == event
    assert again.fingerprint == event.fingerprint


def test_repr_keeps_personal_data_out() -> None:
    event = one([sample_event("login_failed")])
    text = repr(event)
    assert "alice@example.com" not in text
    assert "198.51.100.7" not in text
    assert "Invalid login credentials" not in text
    assert "LoginFailed" in text


def test_batch_is_a_read_only_sequence() -> None:
    body = json.dumps([sample_event("login_succeed"), sample_event("login_failed")]).encode()
    batch = OPEN.verify(body, {})
    assert isinstance(batch, AuditBatch)
    assert len(batch) == 2
    assert batch[0].action == "LoginSucceed"
    assert batch[-1].action == "LoginFailed"
    assert [e.action for e in batch[0:1]] == ["LoginSucceed"]
    assert batch[1] in batch
    assert batch.index(batch[1]) == 1
    assert batch.signed_form is None
    assert batch.body == body
    assert body.decode() not in repr(batch)
    with pytest.raises(AttributeError):
        batch.events = ()  # type: ignore[misc]
    with pytest.raises(IndexError):
        batch[2]


def test_action_enum() -> None:
    assert Action.LOGIN_FAILED.value == "LoginFailed"
    assert isinstance(Action.LOGIN_FAILED, str)
    assert str(Action.USER_MODIFIED) == "UserModified"
    assert one([sample_event("login_failed")]).action == Action.LOGIN_FAILED
    documented = {
        "UserCreated", "UsersCreated", "UserDeleted", "UserModified", "UsersModified", "UsersDeleted",
        "AccessKeyCreated", "AccessKeyDeleted", "AccessKeyModified", "AccessKeysDeleted", "LoginSucceed",
        "LoginStarted", "UserRefresh", "PermissionCreated", "PermissionModified", "LoginFailed",
        "LoginExceedMaxAttempts", "LoginStartedFailed", "ProjectDeleted", "PermissionDeleted",
    }  # fmt: skip
    assert documented <= {a.value for a in Action}


def test_occurred_is_utc_even_from_offsets() -> None:
    event = one([{"action": "A", "occurred": "2026-06-08T23:59:59.500+05:30"}])
    assert event.occurred.utcoffset() == timedelta(0)
    assert event.occurred.isoformat() == "2026-06-08T18:29:59.500000+00:00"


def _deepest_data_depth() -> int:
    low, high = 10, 5000
    while high - low > 1:
        mid = (low + high) // 2
        body = b'[{"action":"A","occurred":1,"data":{"x":' + b"[" * mid + b"]" * mid + b"}}]"
        try:
            OPEN.verify(body, {})
            low = mid
        except PayloadError:
            high = mid
    return low


def test_fingerprint_of_deeply_nested_data_from_a_deeper_stack() -> None:
    # verify() accepts data nested as deep as the parser allows; an adapter or exactly_once
    # then reads the fingerprint a few frames deeper. That must not become a RecursionError.
    depth = _deepest_data_depth()
    body = b'[{"action":"A","occurred":1,"data":{"x":' + b"[" * depth + b"]" * depth + b"}}]"
    (event,) = OPEN.verify(body, {})
    shallow = event.fingerprint

    def nested(levels: int) -> str:
        return event.fingerprint if levels == 0 else nested(levels - 1)

    for levels in (1, 10, 50):
        assert nested(levels) == shallow


def test_events_and_batches_pickle() -> None:
    # For multiprocessing and task queues: the read-only views must not block pickling.
    body, headers = make_delivery([sample_event("login_failed"), sample_event("user_modified")], hmac_secret="k")
    batch = Verifier("k").verify(body, headers)
    copy = pickle.loads(pickle.dumps(batch))  # noqa: S301 - our own bytes
    assert copy == batch
    assert copy.signed_form == "raw"
    assert [e.fingerprint for e in copy] == [e.fingerprint for e in batch]
    assert dict(copy[0].raw) == dict(batch[0].raw)
    with pytest.raises(TypeError):
        copy[1].data["Change"] = {}


def test_deepcopy_works_and_asdict_is_documented_not_to() -> None:
    batch = OPEN.verify(json.dumps([sample_event("user_modified")]).encode(), {})
    copied = copy.deepcopy(batch)
    assert copied == batch
    assert dict(copied[0].data) == dict(batch[0].data)
    with pytest.raises(TypeError):  # docs/api.md: use to_dict() or dict(event.raw)
        dataclasses.asdict(batch[0])
