"""AuditEvent, AuditBatch, Severity, Action: the typed results."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
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


def test_a_verified_batch_builds_its_events_on_first_use() -> None:
    # verify() checks every event but defers building them (docs/performance.md). Whatever
    # touches the batch first (len, pickle, ==, repr, replace, assignment) must behave as if
    # the events had always been there.
    body, headers = make_delivery([sample_event("login_failed"), sample_event("user_modified")], hmac_secret="k")
    verifier = Verifier("k")

    def fresh() -> AuditBatch:
        batch = verifier.verify(body, headers)
        with pytest.raises(AttributeError):
            object.__getattribute__(batch, "events")  # not built yet
        return batch

    built = verifier.verify(body, headers)
    assert [e.action for e in built.events] == ["LoginFailed", "UserModified"]
    assert len(fresh()) == 2
    assert fresh() == built
    assert hash(fresh()) == hash(built)
    assert repr(fresh()) == repr(built)
    copy = pickle.loads(pickle.dumps(fresh()))  # noqa: S301 - our own bytes
    assert copy == built
    assert dataclasses.replace(fresh(), duplicates=1).events == built.events
    batch = fresh()
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.events = ()  # type: ignore[misc]
    assert batch.events == built.events
    with pytest.raises(AttributeError, match="no attribute 'evnets'"):
        batch.evnets  # type: ignore[attr-defined] # noqa: B018


def test_threads_building_the_same_batch_get_the_same_events() -> None:
    payload = [sample_event(kind) for kind in ("login_failed", "user_modified")] * 50
    body, headers = make_delivery(payload, hmac_secret="k")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so that they meet inside the build
    try:
        for _ in range(20):
            batch = Verifier("k").verify(body, headers)
            start = threading.Barrier(4)

            def read(_: int, batch: AuditBatch = batch, start: threading.Barrier = start) -> tuple[AuditEvent, ...]:
                start.wait()
                return batch.events

            with ThreadPoolExecutor(4) as pool:
                seen = list(pool.map(read, range(4)))
            assert all(events is seen[0] for events in seen)  # built once: the same objects for all
            assert batch.events is seen[0]
    finally:
        sys.setswitchinterval(interval)


def test_a_batch_without_events_says_so() -> None:
    empty = object.__new__(AuditBatch)  # neither built nor pending: e.g. mid-unpickling
    with pytest.raises(AttributeError, match="no attribute 'events'"):
        empty.events  # noqa: B018


def test_deepcopy_works_and_asdict_is_documented_not_to() -> None:
    batch = OPEN.verify(json.dumps([sample_event("user_modified")]).encode(), {})
    copied = copy.deepcopy(batch)
    assert copied == batch
    assert dict(copied[0].data) == dict(batch[0].data)
    with pytest.raises(TypeError):  # docs/api.md: use to_dict() or dict(event.raw)
        dataclasses.asdict(batch[0])
